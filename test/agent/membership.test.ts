import test from 'ava'
import type { Agent } from '../../src/agent/index.ts'
import { swarmTopics } from '../../src/gossip/index.ts'
import { makeSwarm, retryUntil, startAgent, startManager, waitForTargets } from '../helpers/manager.ts'

const FAST = { relaySettleMs: 300, relayGraceMs: 1_000, peersAskIntervalMs: 500 }

const subscriptions = (agent: Agent): string[] => agent.node.libp2p.services.pubsub.getTopics().sort()
const connected = (a: Agent, b: { node: { peerId: Agent['node']['peerId'] } }): boolean => a.node.libp2p.getConnections(b.node.peerId).length > 0

test.serial('a linked agent does not relay reports; one without a link to the manager gets a relay from a linked neighbour; the manager names members to dial', async t => {
  t.timeout(240_000)
  const s = await makeSwarm('membership')
  const topics = swarmTopics(s.swarm.name)
  const manager = await startManager(s)
  const agents: Agent[] = []
  try {
    const linked = await startAgent(s, 'linked', [], manager.node, FAST)
    agents.push(linked)
    await waitForTargets(manager, targets => targets.some(x => x.ID === 'linked'))
    // Settled and alone with the manager: no relay needed, none asked for.
    await retryUntil(() => {}, () => linked.node.libp2p.services.pubsub.getTopics().length > 0 ? true : undefined, 30_000)
    await new Promise(resolve => setTimeout(resolve, 1_000))
    t.deepEqual(subscriptions(linked), [topics.tasks])

    // Bootstrapped from the linked agent, never told of the manager: its reports need a relay.
    const remote = await startAgent(s, 'remote', [], linked.node, FAST)
    agents.push(remote)
    await waitForTargets(manager, targets => targets.some(x => x.ID === 'remote'))
    t.false(connected(remote, manager), 'the remote agent reached the registry without a link to the manager')
    t.deepEqual(subscriptions(remote), [topics.relayWanted, topics.status, topics.tasks].sort())
    await retryUntil(() => {}, () => subscriptions(linked).includes(topics.status) ? true : undefined, 30_000)

    // A newcomer that knows only the manager learns the others from it and dials them.
    const newcomer = await startAgent(s, 'newcomer', [], manager.node, FAST)
    agents.push(newcomer)
    await retryUntil(() => {}, () => connected(newcomer, linked) && connected(newcomer, remote) ? true : undefined, 60_000)
    t.pass()
  } finally {
    await Promise.all(agents.map(async a => { await a.stop() }))
    await manager.stop()
    await s.cleanup()
  }
})

test.serial('an agent without a link to the manager asks for a relay only after the grace period', async t => {
  t.timeout(120_000)
  const s = await makeSwarm('membership-grace')
  const topics = swarmTopics(s.swarm.name)
  const manager = await startManager(s)
  const agents: Agent[] = []
  try {
    const linked = await startAgent(s, 'linked', [], manager.node, FAST)
    agents.push(linked)
    const remote = await startAgent(s, 'remote', [], linked.node, { ...FAST, relayGraceMs: 120_000 })
    agents.push(remote)
    await retryUntil(() => {}, () => connected(remote, linked) ? true : undefined, 30_000)
    // Well past the settle time (300 ms), far inside the grace period.
    await new Promise(resolve => setTimeout(resolve, 3_000))
    t.false(connected(remote, manager))
    t.deepEqual(subscriptions(remote), [topics.tasks])
    t.false(subscriptions(linked).includes(topics.status))
  } finally {
    await Promise.all(agents.map(async a => { await a.stop() }))
    await manager.stop()
    await s.cleanup()
  }
})

test.serial('relayStatus true relays from the start; false never relays, even without a link', async t => {
  t.timeout(120_000)
  const s = await makeSwarm('membership-fixed')
  const topics = swarmTopics(s.swarm.name)
  const manager = await startManager(s)
  const agents: Agent[] = []
  try {
    const always = await startAgent(s, 'always', [], manager.node, { ...FAST, relayStatus: true })
    agents.push(always)
    const never = await startAgent(s, 'never', [], always.node, { ...FAST, relayStatus: false })
    agents.push(never)
    await waitForTargets(manager, targets => targets.some(x => x.ID === 'never'))
    await new Promise(resolve => setTimeout(resolve, 1_000))
    t.deepEqual(subscriptions(always), [topics.status, topics.tasks].sort())
    t.deepEqual(subscriptions(never), [topics.tasks])
  } finally {
    await Promise.all(agents.map(async a => { await a.stop() }))
    await manager.stop()
    await s.cleanup()
  }
})
