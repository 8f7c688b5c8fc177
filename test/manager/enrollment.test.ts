import test, { type ExecutionContext } from 'ava'
import type { SwarmNode } from '../../src/node/index.ts'
import { enrollmentProof, enrollmentTokenHash, verifyEnrollmentProof } from '../../src/core/index.ts'
import { createEnrollmentToken, type Manager } from '../../src/manager/index.ts'
import type { Agent } from '../../src/agent/index.ts'
import { makeSwarm, retryUntil, startAgent, startManager, waitForTargets, type TestSwarm } from '../helpers/manager.ts'

test('an enrollment proof is bound to its token, peer and target', t => {
  const token = 'pollen_enroll_secret'
  const proof = enrollmentProof(token, 'peerA', 'dev-1')
  const hash = enrollmentTokenHash(token)
  t.true(verifyEnrollmentProof(hash, proof, 'peerA', 'dev-1'))
  t.false(verifyEnrollmentProof(hash, proof, 'peerB', 'dev-1'), 'another peer cannot reuse an overheard proof')
  t.false(verifyEnrollmentProof(hash, proof, 'peerA', 'dev-2'), 'nor can it be used for another target')
  t.false(verifyEnrollmentProof(enrollmentTokenHash('other'), proof, 'peerA', 'dev-1'))
  t.false(verifyEnrollmentProof(hash, proof.slice(1), 'peerA', 'dev-1'))
})

/**
 * `from` dials `to`, which refuses: the dial fails, or (libp2p negotiates
 * the muxer optimistically) the dialler's connection is closed at once, and
 * `to` never lists `from` as a peer.
 */
async function refusedInbound (t: ExecutionContext, from: Agent, to: SwarmNode): Promise<void> {
  const connection = await from.node.libp2p.dial(to.addresses()[0]!).catch(() => undefined)
  if (connection != null) await retryUntil(() => {}, () => connection.status !== 'open' ? true : undefined, 30_000, 50)
  t.false(to.libp2p.getPeers().some(p => p.equals(from.node.peerId)))
}

async function refused (manager: Manager, reason: string): Promise<number> {
  return (await manager.metrics()).refusedReports[reason] ?? 0
}

async function untilRefused (manager: Manager, reason: string, atLeast = 1): Promise<void> {
  let count = 0
  await retryUntil(async () => { count = await refused(manager, reason) }, () => count >= atLeast ? true : undefined, 60_000)
}

test.serial('with --enrollment token, only a device proving an unused, unexpired token enters the registry', async t => {
  t.timeout(180_000)
  const s: TestSwarm = await makeSwarm('enroll')
  const agents: Agent[] = []
  const manager = await startManager(s, 'manager', { enrollment: 'token' })
  try {
    const dataDir = `${s.root}/manager`
    const { token } = await createEnrollmentToken(dataDir, { ttlMs: 3_600_000, name: 'dev-ok' })
    const { token: stale } = await createEnrollmentToken(dataDir, { ttlMs: 60_000, now: Date.now() - 3_600_000 })

    agents.push(await startAgent(s, 'dev-none', [], manager.node))
    await untilRefused(manager, 'not-enrolled')
    agents.push(await startAgent(s, 'dev-stale', [], manager.node, { enrollmentToken: stale }))
    agents.push(await startAgent(s, 'dev-ok', [], manager.node, { enrollmentToken: token }))
    const [enrolled] = await waitForTargets(manager, targets => targets.some(x => x.ID === 'dev-ok'))
    t.is(enrolled!.PeerID, agents[2]!.node.peerId.toString(), 'pinned to the peer that presented the token')

    // The same token, presented again by another device: used up.
    agents.push(await startAgent(s, 'dev-copy', [], manager.node, { enrollmentToken: token }))
    await untilRefused(manager, 'enrollment-used')
    // Give the refused ones a few more adverts, then check none slipped in.
    const before = await refused(manager, 'not-enrolled')
    await untilRefused(manager, 'not-enrolled', before + 3)
    const ids = (await manager.listTargets({ page: 1, perPage: 100 })).items.map(x => x.ID)
    t.deepEqual(ids, ['dev-ok'])

    // A restart of the enrolled device needs no token: its id is pinned to its peer.
    await agents[2]!.stop()
    agents[2] = await startAgent(s, 'dev-ok', [], manager.node)
    const lastSeen = enrolled!.LastSeen!
    await waitForTargets(manager, targets => targets.some(x => x.ID === 'dev-ok' && x.LastSeen! > lastSeen))
  } finally {
    await Promise.all(agents.map(async a => { await a.stop() }))
    await manager.stop()
    await s.cleanup()
  }
})

test.serial('DELETE of a target revokes its peer: members shut it out, the manager refuses it, late joiners learn it, and it survives a restart', async t => {
  t.timeout(240_000)
  const s: TestSwarm = await makeSwarm('revoke')
  let manager = await startManager(s)
  const agents: Agent[] = []
  try {
    for (const name of ['dev-a', 'dev-b', 'dev-c']) agents.push(await startAgent(s, name, [], manager.node))
    const [a, b, c] = agents as [Agent, Agent, Agent]
    await waitForTargets(manager, targets => targets.length === 3)
    // Members mesh through adverts: wait until b is connected to a.
    await retryUntil(() => {}, () => b.node.libp2p.getPeers().some(p => p.equals(a.node.peerId)) ? true : undefined)

    await manager.deleteTarget('dev-a')
    const aPeer = a.node.peerId
    for (const node of [manager.node, b.node, c.node]) {
      await retryUntil(() => {}, () => node.isDenied(aPeer) && !node.libp2p.getPeers().some(p => p.equals(aPeer)) ? true : undefined)
    }
    // a cannot come back: members refuse to dial it, and drop its dials once its identity is known.
    await t.throwsAsync(b.node.libp2p.dial(a.node.addresses()[0]!))
    await refusedInbound(t, a, b.node)
    await refusedInbound(t, a, manager.node)
    const ids = (await manager.listTargets({ page: 1, perPage: 100 })).items.map(x => x.ID)
    t.deepEqual(ids.sort(), ['dev-b', 'dev-c'])

    // A late joiner learns the revocation over sync from a member.
    agents.push(await startAgent(s, 'dev-late', [], b.node))
    const late = agents[3]!
    await retryUntil(() => {}, () => late.node.isDenied(aPeer) ? true : undefined, 90_000)

    // The manager keeps it across a restart.
    await manager.stop()
    manager = await startManager(s)
    t.true(manager.node.isDenied(aPeer))
    await refusedInbound(t, a, manager.node)
  } finally {
    await Promise.all(agents.map(async x => { await x.stop() }))
    await manager.stop()
    await s.cleanup()
  }
})
