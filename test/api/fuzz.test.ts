/**
 * REST fuzzing: a fixed-seed corpus of malformed requests (test/api/fuzz-cases.ts)
 * against the API over a real manager, each answered with a 4xx and a
 * message, never a 5xx, and the server still healthy afterwards; then one
 * test per defect the fuzzing found.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import type { FastifyInstance } from 'fastify'
import { createApi } from '../../src/api/index.ts'
import { InvalidTaskError, parseTaskDocument, YAML_LIMITS } from '../../src/core/index.ts'
import { createToken, type Manager } from '../../src/manager/index.ts'
import { makeSwarm, startManager } from '../helpers/manager.ts'
import { CATEGORIES, fuzzCases, type Category, type FuzzCase } from './fuzz-cases.ts'
import { deepNesting, encodeMultipart } from './fuzz-gen.ts'
import { auth, SAMPLE_YAML, startApi } from './helpers.ts'

const SEED = 0x90113e
const DEPLOY_TOKEN = 'fuzz-deploy-token'
const BODY_LIMIT = 1024 * 1024
const PACKAGE_LIMIT = 1024 * 1024
const CONCURRENCY = 4

interface RealApi {
  readonly app: FastifyInstance
  readonly manager: Manager
  readonly readToken: string
  readonly uploadDir: string
  readonly scratchDir: string
}

/** The API over a real manager on loopback, with a read token and an upload directory of its own. */
async function startRealApi (t: ExecutionContext): Promise<RealApi> {
  const swarm = await makeSwarm('fuzz-swarm')
  const uploadDir = await mkdtemp(join(tmpdir(), 'pollen-fuzz-uploads-'))
  const manager = await startManager(swarm, 'manager', { operatorToken: DEPLOY_TOKEN })
  const app = await createApi({ service: manager, processMetrics: false, uploadDir, bodyLimit: BODY_LIMIT, packageLimit: PACKAGE_LIMIT })
  t.teardown(async () => {
    await app.close()
    await manager.stop()
    await swarm.cleanup()
    await rm(uploadDir, { recursive: true, force: true })
  })
  const { token: readToken } = await createToken(join(swarm.root, 'manager'), 'read', 'fuzz')
  return { app, manager, readToken, uploadDir, scratchDir: join(swarm.root, 'manager', 'scratch') }
}

/** Why an answer is wrong for a malformed request, or undefined when it is right. */
function problemOf (status: number, text: string): string | undefined {
  if (status < 400 || status >= 500) return `status ${status}`
  let body: { statusCode?: unknown, message?: unknown }
  try {
    body = JSON.parse(text) as typeof body
  } catch {
    return 'body is not JSON'
  }
  if (typeof body.message !== 'string' || body.message.trim() === '') return 'no message'
  if (body.statusCode !== status) return `statusCode ${String(body.statusCode)} in the body`
  return undefined
}

function zeroCounts (): Record<Category, number> {
  return Object.fromEntries(CATEGORIES.map(c => [c, 0])) as Record<Category, number>
}

test('thousands of malformed requests all get a 4xx with a message, never a 5xx, and the server stays up', async t => {
  t.timeout(300_000, 'a few thousand requests on a loaded machine')
  const api = await startRealApi(t)
  const cases = fuzzCases({ seed: SEED, deployToken: DEPLOY_TOKEN, readToken: api.readToken, bodyLimit: BODY_LIMIT, packageLimit: PACKAGE_LIMIT, perCategory: 270 })
  const sent = zeroCounts()
  const statuses = new Map<number, number>()
  const failures: string[] = []
  let serverErrors = 0
  const slowest: Array<[number, FuzzCase]> = []
  let next = 0
  // A few requests in flight, so that one waiting on the disk (an upload, a build) does not hold up the rest.
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    for (let index = next++; index < cases.length; index = next++) {
      const c = cases[index]!
      const started = performance.now()
      const res = await api.app.inject(c.request)
      slowest.push([performance.now() - started, c])
      sent[c.category] += 1
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
      if (res.statusCode >= 500) serverErrors += 1
      const problem = problemOf(res.statusCode, res.body)
      if (problem !== undefined) failures.push(`#${index} ${c.category} (${c.label}): ${problem}: ${res.body.slice(0, 200)}`)
    }
  }))
  slowest.sort((a, b) => b[0] - a[0])
  t.log(`seed ${SEED}: ${cases.length} malformed requests sent; 5xx seen: ${serverErrors}`)
  t.log(`by category: ${CATEGORIES.map(c => `${c} ${sent[c]}`).join(', ')}`)
  t.log(`statuses: ${[...statuses].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`).join(', ')}`)
  t.log(`slowest: ${slowest.slice(0, 3).map(([ms, c]) => `${c.label} ${Math.round(ms)} ms`).join('; ')}`)
  t.true(cases.length >= 3_000)
  t.deepEqual(failures.slice(0, 20), [], `${failures.length} wrong answers`)
  t.is(serverErrors, 0)

  const health = await api.app.inject({ method: 'GET', url: '/health' })
  t.is(health.statusCode, 200)
  const tasks = await api.app.inject({ method: 'GET', url: '/tasks', headers: auth(api.readToken) })
  t.is(tasks.json().total, 0, 'no malformed request created a task')
  t.is((await api.manager.listTargets({ page: 1, perPage: 10 })).total, 0, 'no malformed request created a target')
  t.deepEqual(await readdir(api.uploadDir), [], 'every uploaded package was removed')
  t.deepEqual(await readdir(api.scratchDir), [], 'every build directory was removed')
})

test('the corpus is the same for the same seed', t => {
  const options = { deployToken: 'd', readToken: 'r', bodyLimit: BODY_LIMIT, packageLimit: PACKAGE_LIMIT, perCategory: 20 }
  const labels = (seed: number): string[] => fuzzCases({ ...options, seed }).map(c => `${c.category} ${c.label} ${c.request.url} ${String(c.request.payload ?? '').length}`)
  t.deepEqual(labels(SEED), labels(SEED))
  t.notDeepEqual(labels(SEED), labels(SEED + 1))
})

// ── defects the fuzzing found ────────────────────────────────────────

test('YAML nested deeper than the limit is a 400, every time (the yaml library overflowed the stack, then aborted the process)', async t => {
  const { app } = await startApi(t)
  for (const kind of ['yaml-flow', 'yaml-dash'] as const) {
    const text = deepNesting(kind, 1_000)
    for (let i = 0; i < 3; i++) {
      for (const url of ['/tasks', '/targets']) {
        const res = await app.inject({ method: 'POST', url, payload: text, headers: { ...auth(), 'content-type': 'application/yaml' } })
        t.is(res.statusCode, 400, `${kind} ${url}`)
        t.regex(res.json().message, new RegExp(`nested more than ${YAML_LIMITS.maxDepth} levels`))
      }
    }
  }
  const error = t.throws(() => parseTaskDocument(deepNesting('yaml-dash', YAML_LIMITS.maxDepth + 1)), { instanceOf: InvalidTaskError })
  t.regex(error.message, /nested more than/)
  const shallow = `stages:\n  install: ${deepNesting('yaml-flow', YAML_LIMITS.maxDepth - 2)}\ntarget: {tags: [a]}`
  t.throws(() => parseTaskDocument(shallow), { message: /stages\.install\[0\]: must be string/ }, 'nesting within the limit reaches validation')
})

test('a malformed multipart body is a 400 naming the problem, not a 500', async t => {
  const { app, fake } = await startApi(t)
  const post = async (type: string, payload: string | Buffer) =>
    await app.inject({ method: 'POST', url: '/tasks', payload, headers: { ...auth(), 'content-type': type } })
  const task = { name: 'task', value: SAMPLE_YAML }
  const cases: Array<[string, string, string | Buffer, RegExp]> = [
    ['no boundary', 'multipart/form-data', encodeMultipart('b', [task]), /boundary/],
    ['empty boundary', 'multipart/form-data; boundary=""', encodeMultipart('b', [task]), /boundary/],
    ['boundary over 70 characters', `multipart/form-data; boundary=${'b'.repeat(71)}`, encodeMultipart('b'.repeat(71), [task]), /boundary/],
    ['boundary over 256 characters', `multipart/form-data; boundary=${'b'.repeat(300)}`, encodeMultipart('b'.repeat(300), [task]), /boundary/],
    ['no final boundary', 'multipart/form-data; boundary=b', encodeMultipart('b', [task], ''), /malformed multipart body/],
    ['body cut inside the task part', 'multipart/form-data; boundary=b', `--b\r\nContent-Disposition: form-data; name="task"\r\n\r\nstages:`, /malformed multipart body/],
    ['body cut inside the package part', 'multipart/form-data; boundary=b', encodeMultipart('b', [task, { name: 'package', value: Buffer.alloc(5000), filename: 'p.tar' }], ''), /malformed multipart body/],
    ['body cut inside a task file part', 'multipart/form-data; boundary=b', encodeMultipart('b', [{ ...task, filename: 't.yaml' }], ''), /malformed multipart body/]
  ]
  for (const [label, type, payload, message] of cases) {
    const res = await post(type, payload)
    t.is(res.statusCode, 400, label)
    t.like(res.json(), { code: 'ERR_INVALID_REQUEST' }, label)
    t.regex(res.json().message, message, label)
  }
  t.is(fake.creates.length, 0)
})

test('an unknown part name is cut short in the error message', async t => {
  const { app } = await startApi(t)
  const name = 'n'.repeat(50_000)
  const res = await app.inject({ method: 'POST', url: '/tasks', payload: encodeMultipart('b', [{ name, value: 'x' }]), headers: { ...auth(), 'content-type': 'multipart/form-data; boundary=b' } })
  t.is(res.statusCode, 400)
  t.true(res.json().message.length < 300, res.json().message.slice(0, 300))
  t.true(res.json().field.length <= 101)
})

test('query numbers that coerce to Infinity are a 400, not a 500 from the response serializer', async t => {
  const { app } = await startApi(t)
  for (const url of ['/tasks?page=Infinity', '/tasks?perPage=1e400', '/targets?page=-Infinity', '/targets?perPage=Infinity&page=2']) {
    const res = await app.inject({ method: 'GET', url, headers: auth() })
    t.is(res.statusCode, 400, url)
    t.regex(res.json().message, /^querystring\.(page|perPage): must be a finite number$/, url)
  }
  const big = await app.inject({ method: 'GET', url: '/tasks?page=1e300', headers: auth() })
  t.is(big.statusCode, 200, 'a huge but finite page is just empty')
  t.deepEqual(big.json().items, [])
})

test('a 1 MiB YAML body is refused by its token count within seconds, not after seconds to minutes of parsing', async t => {
  t.timeout(120_000)
  const { app } = await startApi(t)
  const bodies = {
    'distinct keys (quadratic duplicate check)': Array.from({ length: 87_000 }, (_, i) => `k${i}: 0`).join('\n'),
    'flow nesting': deepNesting('yaml-flow', 500_000),
    'block sequence': `a:\n${'- x\n'.repeat(250_000)}`
  }
  for (const [label, text] of Object.entries(bodies)) {
    const started = performance.now()
    const res = await app.inject({ method: 'POST', url: '/targets', payload: text, headers: { ...auth(), 'content-type': 'application/yaml' } })
    t.is(res.statusCode, 400, label)
    t.regex(res.json().message, new RegExp(`more than ${YAML_LIMITS.maxTokens} tokens|nested more than`), label)
    // Generous for a loaded machine: before the limit these took from 15 s to minutes.
    t.true(performance.now() - started < 10_000, `${label}: ${Math.round(performance.now() - started)} ms`)
  }
})

test('duplicate keys are still refused at any depth, also inside flow pairs', t => {
  for (const text of ['stages: {}\nstages: {}\ntarget: {tags: [a]}', 'target: {tags: [a], tags: [b]}\nstages: {}', 'stages: {install: [[a: {x: 1, x: 2}]]}']) {
    t.throws(() => parseTaskDocument(text), { instanceOf: InvalidTaskError, message: /map keys must be unique/ }, text)
  }
})

test('the OpenAPI document states the request limits the API enforces', async t => {
  const { app } = await startApi(t, { bodyLimit: 2 * 1024 * 1024, packageLimit: 8 * 1024 * 1024 })
  const description: string = (await app.inject({ method: 'GET', url: '/docs/json', headers: auth() })).json().info.description
  t.regex(description, /JSON or YAML body, and the `task` part of a multipart upload, of at most 2\.0 MiB/)
  t.regex(description, /`package` part of at most 8\.0 MiB; at most 8 parts/)
  t.true(description.includes(`${YAML_LIMITS.maxTokens} tokens, ${YAML_LIMITS.maxDepth} levels of nesting`))
  const over = await app.inject({ method: 'PUT', url: '/targets/x', payload: JSON.stringify({ tags: ['a'.repeat(2 * 1024 * 1024)] }), headers: { ...auth(), 'content-type': 'application/json' } })
  t.is(over.statusCode, 413)
})
