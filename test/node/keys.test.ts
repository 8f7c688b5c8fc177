import test from 'ava'
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { initSwarm, readManagerKey, readSwarmFile } from '../../src/node/index.ts'
import { decodePublicKey } from '../../src/core/index.ts'

async function scratch (t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pollen-keys-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

test('init creates a 0600 manager key and swarm.json whose public key matches', async t => {
  const dir = join(await scratch(t), 'swarm')
  const { swarm, keyPath, swarmPath } = await initSwarm(dir, 'fleet')
  t.is((await stat(keyPath)).mode & 0o777, 0o600)
  t.is((await stat(swarmPath)).mode & 0o777, 0o600)
  const key = await readManagerKey(keyPath)
  t.true(decodePublicKey(swarm.managerPublicKey).equals(key.publicKey))
  t.deepEqual(await readSwarmFile(swarmPath), swarm)
  t.regex(swarm.psk, /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}$/)
})

test('init never overwrites, and two swarms get different keys', async t => {
  const root = await scratch(t)
  const first = await initSwarm(join(root, 'a'), 'fleet')
  const before = await readFile(first.keyPath)
  const err = await t.throwsAsync(initSwarm(join(root, 'a'), 'fleet'))
  t.is(err?.name, 'FileExistsError')
  t.deepEqual(await readFile(first.keyPath), before)
  const second = await initSwarm(join(root, 'b'), 'fleet')
  t.not(second.swarm.psk, first.swarm.psk)
  t.not(second.swarm.managerPublicKey, first.swarm.managerPublicKey)
  t.is((await t.throwsAsync(initSwarm(join(root, 'c'), 'bad name')))?.name, 'InvalidOptionError')
})

test('key and swarm files readable by others are refused', async t => {
  const { keyPath, swarmPath } = await initSwarm(join(await scratch(t), 's'), 'fleet')
  await chmod(keyPath, 0o644)
  t.is((await t.throwsAsync(readManagerKey(keyPath)))?.name, 'KeyFileError')
  await chmod(swarmPath, 0o640)
  t.is((await t.throwsAsync(readSwarmFile(swarmPath)))?.name, 'SwarmFileError')
  t.is((await t.throwsAsync(readManagerKey(join(keyPath, '..', 'missing.key'))))?.name, 'KeyFileError')
})
