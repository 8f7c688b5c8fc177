import test from 'ava'
import { applyAck, applyAdvert, applyLogs, newTarget } from '../../src/manager/index.ts'
import type { AckBody, AdvertBody, TargetRecord } from '../../src/core/index.ts'

const advert = (over: Partial<AdvertBody> = {}): AdvertBody => ({
  kind: 'advert', v: 1, id: 'drone-1', tags: ['drone', 'hanger'], addresses: ['/ip4/10.0.0.2/tcp/4001'],
  platform: { os: 'linux', arch: 'arm' }, freeDiskBytes: 1e9, version: '0.1.0', at: 1000, ...over
})
const ack = (over: Partial<AckBody> = {}): AckBody => ({
  kind: 'ack', v: 1, targetId: 'drone-1', taskId: 't1', stage: 'transfer', status: 'STARTED', at: 2000, ...over
})

function record (applied: ReturnType<typeof applyAdvert>): TargetRecord {
  if ('refused' in applied) throw new Error(`refused: ${applied.refused}`)
  return applied.record
}

test('an advert creates the target in the Appendix B shape and pins its peer id', t => {
  const r = record(applyAdvert(undefined, advert(), 'peerA', 5000))
  t.is(r.ID, 'drone-1')
  t.deepEqual(r.Tags, ['drone', 'hanger'])
  t.is(r.PeerID, 'peerA')
  t.deepEqual(r.Platform, { OS: 'linux', Arch: 'arm' })
  t.is(r.LastSeen, new Date(5000).toISOString())
  t.deepEqual(r.History, {})
  t.deepEqual(applyAdvert(r, advert(), 'peerB', 6000), { refused: 'peer-mismatch' })
})

test('acks move the current stage forward and a final status lands in History', t => {
  let r = record(applyAdvert(undefined, advert(), 'peerA', 1000))
  r = record(applyAck(r, ack(), 'peerA', 2000))
  t.is(r.Task?.ID, 't1')
  t.is(r.Task?.CurrentStage, 'TRANSFER')
  t.is(r.Task?.StageLogs.Transfer?.Status, 'STARTED')
  r = record(applyAck(r, ack({ status: 'SUCCESS', at: 3000 }), 'peerA', 3000))
  r = record(applyAck(r, ack({ stage: 'install', status: 'SUCCESS', at: 4000 }), 'peerA', 4000))
  r = record(applyAck(r, ack({ stage: 'run', status: 'SUCCESS', at: 5000 }), 'peerA', 5000))
  t.is(r.Task?.CurrentStage, 'RUN')
  t.false(r.Task?.Error)
  t.deepEqual(r.History, { t1: 'RUN-SUCCESS' })
})

test('a failure sets Error and History; an ack from another peer is refused', t => {
  let r = record(applyAdvert(undefined, advert(), 'peerA', 1000))
  r = record(applyAck(r, ack({ stage: 'install', status: 'FAILURE', error: 'exit status 1', at: 3000 }), 'peerA', 3000))
  t.true(r.Task?.Error)
  t.is(r.Task?.StageLogs.Install?.Error, 'exit status 1')
  t.deepEqual(r.History, { t1: 'INSTALL-FAILURE' })
  t.deepEqual(applyAck(r, ack({ at: 9000 }), 'peerB', 9000), { refused: 'peer-mismatch' })
})

test('a late ack neither overwrites a newer status nor moves the stage back', t => {
  let r = record(applyAdvert(undefined, advert(), 'peerA', 1000))
  r = record(applyAck(r, ack({ status: 'SUCCESS', at: 3000 }), 'peerA', 3000))
  r = record(applyAck(r, ack({ stage: 'install', status: 'STARTED', at: 4000 }), 'peerA', 4000))
  t.deepEqual(applyAck(r, ack({ status: 'STARTED', at: 2000 }), 'peerA', 5000), { refused: 'stale' })
  t.is(r.Task?.CurrentStage, 'INSTALL')
})

test('news of an older task does not replace the current one', t => {
  let r = record(applyAdvert(undefined, advert(), 'peerA', 1000))
  r = record(applyAck(r, ack({ taskId: 't2', at: 5000 }), 'peerA', 5000))
  t.deepEqual(applyAck(r, ack({ taskId: 't1', status: 'SUCCESS', at: 4000 }), 'peerA', 6000), { refused: 'stale' })
  t.is(r.Task?.ID, 't2')
})

test('after a failed task the device falls back to an older release: its reports do not hide the failure', t => {
  const seqOf = (id: string): number | undefined => ({ old: 1, new: 2 } as Record<string, number>)[id]
  let r = record(applyAdvert(undefined, advert(), 'peerA', 1000))
  r = record(applyAck(r, ack({ taskId: 'new', stage: 'run', status: 'FAILURE', error: 'exit status 7', at: 5000 }), 'peerA', 5000, seqOf))
  t.deepEqual(applyLogs(r, { kind: 'logs', v: 1, targetId: 'drone-1', taskId: 'old', stage: 'run', logs: [{ Output: 'x', Error: false, Time: 6 }], at: 6000 }, 'peerA', 6000, 10, seqOf), { refused: 'stale' })
  t.deepEqual(applyAck(r, ack({ taskId: 'old', stage: 'run', status: 'STARTED', at: 6000 }), 'peerA', 6000, seqOf), { refused: 'stale' })
  const stopped = record(applyAck(r, ack({ taskId: 'old', stage: 'run', status: 'STOPPED', at: 7000 }), 'peerA', 7000, seqOf))
  t.is(stopped.Task?.ID, 'new')
  t.is(stopped.Task?.StageLogs.Run?.Status, 'FAILURE')
  t.is(stopped.History.old, 'RUN-STOPPED')
})

test('an ack from a target never heard of creates it, pinned to the sender', t => {
  const r = record(applyAck(undefined, ack(), 'peerZ', 2000))
  t.is(r.ID, 'drone-1')
  t.is(r.PeerID, 'peerZ')
})

test('logs append to their stage, skip repeats and keep the newest lines', t => {
  let r: TargetRecord = { ...newTarget('drone-1', [], 0), PeerID: 'peerA' }
  const line = (n: number): { Command: string, Output: string, Error: boolean, LineNum: number, Time: number } => ({ Command: 'make', Output: `line ${n}`, Error: false, LineNum: n, Time: n })
  r = record(applyLogs(r, { kind: 'logs', v: 1, targetId: 'drone-1', taskId: 't1', stage: 'install', logs: [line(1), line(2), line(3)], at: 10 }, 'peerA', 10, 4))
  r = record(applyLogs(r, { kind: 'logs', v: 1, targetId: 'drone-1', taskId: 't1', stage: 'install', logs: [line(3), line(4), line(5)], at: 11 }, 'peerA', 11, 4))
  t.deepEqual(r.Task?.StageLogs.Install?.Logs.map(l => l.LineNum), [2, 3, 4, 5])
})
