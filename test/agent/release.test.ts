import test from 'ava'
import { createHash } from 'node:crypto'
import { appendFile, chmod, lstat, mkdir, mkdtemp, readdir, readlink, rm, symlink, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hashTree, readCurrent, readReleaseManifest, switchCurrent, verifyTree, writeReleaseManifest } from '../../src/agent/release.ts'

async function scratch (t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pollen-release-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

async function makeRelease (root: string): Promise<void> {
  await mkdir(join(root, 'bin'), { recursive: true })
  await writeFile(join(root, 'bin/app'), '#!/bin/sh\necho app\n')
  await chmod(join(root, 'bin/app'), 0o755)
  await writeFile(join(root, 'config.json'), '{"a":1}\n')
  await symlink('bin/app', join(root, 'start'))
  await symlink('/nonexistent/elsewhere', join(root, 'dangling'))
}

test('hashTree lists files, directories and symlinks sorted by path, never following links', async t => {
  const dir = await scratch(t)
  await makeRelease(dir)
  const manifest = await hashTree(dir)
  t.deepEqual(manifest.map(e => [e.path, e.type]), [
    ['bin', 'dir'], ['bin/app', 'file'], ['config.json', 'file'], ['dangling', 'symlink'], ['start', 'symlink']
  ])
  const content = '#!/bin/sh\necho app\n'
  t.like(manifest[1], { mode: 0o755, size: content.length, sha256: createHash('sha256').update(content).digest('hex') })
  t.like(manifest[0], { mode: (await lstat(join(dir, 'bin'))).mode & 0o7777, size: 0 })
  t.like(manifest[4], { target: 'bin/app', size: 7 })
  t.like(manifest[3], { target: '/nonexistent/elsewhere' })
})

test('verifyTree accepts an intact tree and an added file, and detects a changed byte, a removed file, a chmod and a changed type', async t => {
  const dir = await scratch(t)
  await makeRelease(dir)
  const manifest = await hashTree(dir)
  t.deepEqual(await verifyTree(dir, manifest), { ok: true })

  await writeFile(join(dir, 'bin/app.log'), 'written by the running program\n')
  await mkdir(join(dir, 'cache'))
  t.deepEqual(await verifyTree(dir, manifest), { ok: true }, 'added entries are allowed')

  await writeFile(join(dir, 'config.json'), '{"a":2}\n')
  t.deepEqual(await verifyTree(dir, manifest), { ok: false, problems: ['config.json: content changed'] })
  await writeFile(join(dir, 'config.json'), '{"a":1}\n')

  await appendFile(join(dir, 'config.json'), 'x')
  t.deepEqual(await verifyTree(dir, manifest), { ok: false, problems: ['config.json: content changed'] })
  await writeFile(join(dir, 'config.json'), '{"a":1}\n')

  await chmod(join(dir, 'bin/app'), 0o644)
  t.deepEqual(await verifyTree(dir, manifest), { ok: false, problems: ['bin/app: mode 0644, expected 0755'] })
  await chmod(join(dir, 'bin/app'), 0o755)

  await unlink(join(dir, 'start'))
  await mkdir(join(dir, 'start'))
  t.deepEqual(await verifyTree(dir, manifest), { ok: false, problems: ['start: is a dir, expected a symlink'] })
  await rm(join(dir, 'start'), { recursive: true })
  await symlink('bin/other', join(dir, 'start'))
  t.deepEqual(await verifyTree(dir, manifest), { ok: false, problems: ['start: link target "bin/other", expected "bin/app"'] })

  await rm(join(dir, 'bin'), { recursive: true })
  t.deepEqual(await verifyTree(dir, manifest), {
    ok: false, problems: ['bin: missing', 'bin/app: missing', 'start: link target "bin/other", expected "bin/app"']
  })
})

test('a manifest round-trips through its file, written atomically; a malformed one is refused', async t => {
  const dir = await scratch(t)
  const tree = join(dir, 'tree')
  await mkdir(tree)
  await makeRelease(tree)
  const manifest = await hashTree(tree)
  const path = join(dir, 'release.json')
  await writeReleaseManifest(path, manifest)
  await writeReleaseManifest(path, manifest)
  t.deepEqual(await readReleaseManifest(path), manifest)
  t.deepEqual((await readdir(dir)).sort(), ['release.json', 'tree'], 'no temporary file is left')

  const refuse = async (content: string): Promise<void> => {
    await writeFile(path, content)
    const err = await t.throwsAsync(readReleaseManifest(path))
    t.is(err?.name, 'InvalidReleaseManifestError', content)
  }
  await refuse('{not json')
  await refuse('[]')
  await refuse('{"v":2,"entries":[]}')
  await refuse('{"v":1,"entries":[{"path":"../etc/passwd","type":"dir","mode":493,"size":0}]}')
  await refuse('{"v":1,"entries":[{"path":"/abs","type":"dir","mode":493,"size":0}]}')
  await refuse('{"v":1,"entries":[{"path":"a","type":"file","mode":420,"size":1}]}')
  await refuse('{"v":1,"entries":[{"path":"b","type":"dir","mode":493,"size":0},{"path":"a","type":"dir","mode":493,"size":0}]}')
  await refuse('{"v":1,"entries":[{"path":"a","type":"fifo","mode":420,"size":0}]}')

  const controller = new AbortController()
  controller.abort()
  t.is((await t.throwsAsync(hashTree(tree, { signal: controller.signal })))?.name, 'AbortError')
})

test('switchCurrent points current at a release with a relative link, replacing the previous one; readCurrent reads it', async t => {
  const data = await scratch(t)
  t.is(await readCurrent(data), undefined)
  await mkdir(join(data, 'releases/task-1'), { recursive: true })
  await mkdir(join(data, 'releases/task-2'), { recursive: true })
  await writeFile(join(data, 'releases/task-2/marker'), '2')

  await switchCurrent(data, 'task-1')
  t.is(await readCurrent(data), 'task-1')
  t.is(await readlink(join(data, 'current')), 'releases/task-1')

  await switchCurrent(data, 'task-2')
  t.is(await readCurrent(data), 'task-2')
  t.true((await lstat(join(data, 'current'))).isSymbolicLink())
  t.true((await lstat(join(data, 'current/marker'))).isFile())
  t.deepEqual((await readdir(data)).sort(), ['current', 'releases'], 'no temporary link is left')

  t.is((await t.throwsAsync(switchCurrent(data, 'task-3')))?.name, 'ReleaseNotFoundError')
  for (const bad of ['', '.', '..', 'a/b']) {
    t.is((await t.throwsAsync(switchCurrent(data, bad)))?.name, 'InvalidOptionError')
  }
  t.is(await readCurrent(data), 'task-2')

  await unlink(join(data, 'current'))
  await symlink('/somewhere/else', join(data, 'current'))
  t.is(await readCurrent(data), undefined)
})

test('readers never see current missing while it is switched back and forth', async t => {
  const data = await scratch(t)
  await mkdir(join(data, 'releases/a'), { recursive: true })
  await mkdir(join(data, 'releases/b'), { recursive: true })
  await switchCurrent(data, 'a')
  let switching = true
  const seen = new Set<string | undefined>()
  const reader = (async () => {
    while (switching) seen.add(await readCurrent(data))
  })()
  for (let i = 0; i < 50; i++) await switchCurrent(data, i % 2 === 0 ? 'b' : 'a')
  switching = false
  await reader
  t.false(seen.has(undefined))
  t.is(await readCurrent(data), 'a')
})
