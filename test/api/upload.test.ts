import { randomBytes } from 'node:crypto'
import { access, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { create as createTar } from 'tar'
import { AssembleFailedError } from '../../src/core/index.ts'
import { createApi, type ManagerService } from '../../src/api/index.ts'
import { createFakeService } from './fake-service.ts'
import { auth, multipart, SAMPLE_TASK, SAMPLE_YAML, startApi, type Part } from './helpers.ts'

async function tempDir (t: ExecutionContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** A real .tar.gz of a small release directory. */
async function makePackage (t: ExecutionContext): Promise<Buffer> {
  const dir = await tempDir(t, 'pollen-api-pkg-')
  await mkdir(join(dir, 'package'))
  await writeFile(join(dir, 'package', 'controller.py'), 'print("hello")\n')
  await writeFile(join(dir, 'package', 'firmware.bin'), randomBytes(300 * 1024))
  const file = join(dir, 'package.tar.gz')
  await createTar({ gzip: true, file, cwd: dir }, ['package'])
  return await readFile(file)
}

async function exists (path: string): Promise<boolean> {
  return await access(path).then(() => true, () => false)
}

/** An API whose uploads go to a directory of the test, to check it is left empty. */
async function uploadApi (t: ExecutionContext, options: { packageLimit?: number, bodyLimit?: number } = {}) {
  const uploadDir = await tempDir(t, 'pollen-api-uploads-')
  const harness = await startApi(t, { ...options, uploadDir })
  const post = async (parts: Part[]) => {
    const body = multipart(parts)
    return await harness.app.inject({ method: 'POST', url: '/tasks', payload: body.payload, headers: { ...body.headers, ...auth() } })
  }
  return { ...harness, uploadDir, post }
}

test('a multipart upload of a real .tar.gz reaches the service byte for byte and is deleted afterwards', async t => {
  const { fake, uploadDir, post } = await uploadApi(t)
  const tarball = await makePackage(t)
  const res = await post([{ name: 'task', value: SAMPLE_YAML }, { name: 'package', value: tarball, filename: 'package.tar.gz', contentType: 'application/gzip' }])
  t.is(res.statusCode, 201)
  t.is(res.headers.location, `/tasks/${res.json().id}`)
  t.like(res.json(), { package: { bytes: tarball.length } })
  const call = fake.creates[0]!
  t.deepEqual(call.input.spec, SAMPLE_TASK)
  t.true(call.packageBytes!.equals(tarball))
  t.true(call.input.packagePath!.startsWith(uploadDir))
  t.false(await exists(call.input.packagePath!))
  t.deepEqual(await readdir(uploadDir), [])
})

test('the package part may come before the task part, and the task may be a file part', async t => {
  const { fake, post } = await uploadApi(t)
  const tarball = await makePackage(t)
  const res = await post([{ name: 'package', value: tarball, filename: 'p.tar.gz' }, { name: 'task', value: SAMPLE_YAML, filename: 'task.yaml', contentType: 'application/yaml' }])
  t.is(res.statusCode, 201)
  t.deepEqual(fake.creates[0]!.input.spec, SAMPLE_TASK)
  t.true(fake.creates[0]!.packageBytes!.equals(tarball))
})

test('a multipart upload with only a task (JSON field) creates a task with nothing to transfer', async t => {
  const { fake, post } = await uploadApi(t)
  const res = await post([{ name: 'task', value: JSON.stringify(SAMPLE_TASK), contentType: 'application/json' }])
  t.is(res.statusCode, 201)
  t.is(res.json().package, null)
  t.is(fake.creates[0]!.input.packagePath, undefined)
})

test('malformed multipart uploads are 400s with a clear message', async t => {
  const { fake, uploadDir, post } = await uploadApi(t)
  const tarball = Buffer.from('not really a tarball')
  const pkg = { name: 'package', value: tarball, filename: 'p.tar' }
  const task = { name: 'task', value: SAMPLE_YAML }
  const cases: Array<[Part[], RegExp, string]> = [
    [[], /no "task" part/, 'task'],
    [[pkg], /no "task" part/, 'task'],
    [[task, task], /two "task" parts/, 'task'],
    [[task, pkg, pkg], /two "package" parts/, 'package'],
    [[task, { name: 'readme', value: 'hi' }], /unknown part "readme"/, 'readme'],
    [[pkg, { name: 'extra', value: tarball, filename: 'x.tar' }, task], /unknown part "extra"/, 'extra'],
    [[task, { name: 'package', value: 'text, not a file' }], /must be a file/, 'package']
  ]
  for (const [parts, message, field] of cases) {
    const res = await post(parts)
    t.is(res.statusCode, 400, String(message))
    t.regex(res.json().message, message)
    t.is(res.json().field, field)
  }
  t.is(fake.creates.length, 0)
  t.deepEqual(await readdir(uploadDir), [])
})

test('an invalid task part is a 400 naming the field, and the streamed package is deleted', async t => {
  const { fake, uploadDir, post } = await uploadApi(t)
  const tarball = await makePackage(t)
  const res = await post([{ name: 'package', value: tarball, filename: 'p.tar.gz' }, { name: 'task', value: 'stages:\n  install: [""]\ntarget: {tags: [a]}\n' }])
  t.is(res.statusCode, 400)
  t.like(res.json(), { code: 'ERR_INVALID_TASK', field: 'stages.install[0]' })
  const bad = await post([{ name: 'task', value: 'stages: [unclosed' }])
  t.is(bad.statusCode, 400)
  t.is(bad.json().code, 'ERR_INVALID_TASK')
  t.is(fake.creates.length, 0)
  t.deepEqual(await readdir(uploadDir), [])
})

test('a package over packageLimit is a 413 and leaves nothing behind', async t => {
  const { fake, uploadDir, post } = await uploadApi(t, { packageLimit: 64 * 1024 })
  const res = await post([{ name: 'task', value: SAMPLE_YAML }, { name: 'package', value: randomBytes(200 * 1024), filename: 'big.tar' }])
  t.is(res.statusCode, 413)
  t.is(res.json().code, 'ERR_MESSAGE_TOO_LARGE')
  t.is(fake.creates.length, 0)
  t.deepEqual(await readdir(uploadDir), [])
  const exact = await post([{ name: 'task', value: SAMPLE_YAML }, { name: 'package', value: randomBytes(64 * 1024), filename: 'exact.tar' }])
  t.is(exact.statusCode, 201)
})

test('a task part over bodyLimit is a 413, as a field or as a file', async t => {
  const { post } = await uploadApi(t, { bodyLimit: 1024 })
  const long = `${SAMPLE_YAML}description: ${'x'.repeat(2000)}\n`
  t.is((await post([{ name: 'task', value: long }])).statusCode, 413)
  t.is((await post([{ name: 'task', value: long, filename: 'task.yaml' }])).statusCode, 413)
})

test('the package is deleted when createTask fails too', async t => {
  const { fake, uploadDir, post } = await uploadApi(t)
  fake.failNext('createTask', new AssembleFailedError('assemble failed', 'gcc: error'))
  const res = await post([{ name: 'task', value: SAMPLE_YAML }, { name: 'package', value: await makePackage(t), filename: 'p.tar.gz' }])
  t.is(res.statusCode, 422)
  t.is(res.json().output, 'gcc: error')
  t.deepEqual(await readdir(uploadDir), [])
})

test('createApi refuses an uploadDir that does not exist', async t => {
  const missing = join(tmpdir(), `pollen-no-such-dir-${randomBytes(6).toString('hex')}`)
  const error = await t.throwsAsync(startApi(t, { uploadDir: missing }))
  t.is(error?.name, 'InvalidOptionError')
})

/** A service that unpacks as the upload arrives: here it only collects the bytes, and counts disposals. */
async function streamingApi (t: ExecutionContext, options: { packageLimit?: number } = {}) {
  const uploadDir = await tempDir(t, 'pollen-api-uploads-')
  const fake = createFakeService()
  const received: Array<{ bytes: Buffer, disposed: number }> = []
  const service: ManagerService = Object.assign(Object.create(fake) as ManagerService, {
    async receivePackage (source: AsyncIterable<Uint8Array>) {
      const pieces: Uint8Array[] = []
      for await (const piece of source) pieces.push(piece)
      const entry = { bytes: Buffer.concat(pieces), disposed: 0 }
      received.push(entry)
      return { dir: '/nowhere', dispose: async () => { entry.disposed++ } }
    }
  })
  const app = await createApi({ processMetrics: false, ...options, uploadDir, service })
  t.teardown(async () => { await app.close() })
  const post = async (parts: Part[]) => {
    const body = multipart(parts)
    return await app.inject({ method: 'POST', url: '/tasks', payload: body.payload, headers: { ...body.headers, ...auth() } })
  }
  return { fake, received, uploadDir, post }
}

test('a service that unpacks as the upload arrives gets the package as a stream, no file, and it is disposed of', async t => {
  const { fake, received, uploadDir, post } = await streamingApi(t)
  const tarball = await makePackage(t)
  const res = await post([{ name: 'package', value: tarball, filename: 'package.tar.gz' }, { name: 'task', value: SAMPLE_YAML }])
  t.is(res.statusCode, 201)
  t.is(received.length, 1)
  t.true(received[0]!.bytes.equals(tarball))
  t.is(received[0]!.disposed, 1)
  t.is(fake.creates[0]!.input.received?.dir, '/nowhere')
  t.is(fake.creates[0]!.input.packagePath, undefined)
  t.deepEqual(await readdir(uploadDir), [])
})

test('through the streaming path too, a package over packageLimit is a 413 and no task is created', async t => {
  const { fake, received, post } = await streamingApi(t, { packageLimit: 64 * 1024 })
  const res = await post([{ name: 'task', value: SAMPLE_YAML }, { name: 'package', value: randomBytes(200 * 1024), filename: 'big.tar' }])
  t.is(res.statusCode, 413)
  t.is(res.json().code, 'ERR_MESSAGE_TOO_LARGE')
  t.is(fake.creates.length, 0)
  t.is(received.length, 0)
})
