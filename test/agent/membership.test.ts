import test from 'ava'
import type { Agent } from '../../src/agent/index.ts'
import type { Manager } from '../../src/manager/index.ts'
import { swarmTopics } from '../../src/gossip/index.ts'
import { joinsTopic } from '../../src/agent/index.ts'
import { makeSwarm, retryUntil, startAgent, startManager, waitForTargets } from '../helpers/manager.ts'

const FAST = { relaySettleMs: 300, relayGraceMs: 1_000, peersAskIntervalMs: 500 }

const subscriptions = (agent: Agent): string[] => agent.node.libp2p.services.pubsub.getTopics().sort()
const connected = (a: Agent, b: { node: { peerId: Agent['node']['peerId'] } }): boolean => a.node.libp2p.getConnections(b.node.peerId).length > 0

/** A swarm with a manager; `start` adds agents, and everything is stopped after `body`. */
async function inSwarm (name: string, body: (swarm: {
  topics: ReturnType<typeof swarmTopics>
  manager: Manager
  start: (id: string, bootstrap: { node: Agent['node'] }, options?: object) => Promise<Agent>
}) => Promise<void>): Promise<void> {
  const s = await makeSwarm(name)
  const manager = await startManager(s)
  const agents: Agent[] = []
  const start = async (id: string, bootstrap: { node: Agent['node'] }, options: object = FAST): Promise<Agent> => {
    const agent = await startAgent(s, id, [], bootstrap.node, options)
    agents.push(agent)
    return agent
  }
  try {
    await body({ topics: swarmTopics(s.swarm.name), manager, start })
  } finally {
    await Promise.all(agents.map(async a => { await a.stop() }))
    await manager.stop()
    await s.cleanup()
  }
}

test.serial('a linked agent does not relay reports; one without a link to the manager gets a relay from a linked neighbour; the manager names members to dial', async t => {
  t.timeout(240_000)
  await inSwarm('membership', async ({ topics, manager, start }) => {
    const linked = await start('linked', manager)
    await waitForTargets(manager, targets => targets.some(x => x.ID === 'linked'))
    // Settled and alone with the manager: no relay needed, none asked for.
    await retryUntil(() => {}, () => linked.node.libp2p.services.pubsub.getTopics().length > 0 ? true : undefined, 30_000)
    await new Promise(resolve => setTimeout(resolve, 1_000))
    t.deepEqual(subscriptions(linked), [topics.tasks])

    // Bootstrapped from the linked agent, never told of the manager: its reports need a relay.
    const remote = await start('remote', linked)
    await waitForTargets(manager, targets => targets.some(x => x.ID === 'remote'))
    t.false(connected(remote, manager), 'the remote agent reached the registry without a link to the manager')
    t.deepEqual(subscriptions(remote), [topics.relayWanted, topics.status, topics.tasks].sort())
    await retryUntil(() => {}, () => subscriptions(linked).includes(topics.status) ? true : undefined, 30_000)

    // A newcomer that knows only the manager learns the others from it and dials them.
    const newcomer = await start('newcomer', manager)
    await retryUntil(() => {}, () => connected(newcomer, linked) && connected(newcomer, remote) ? true : undefined, 60_000)
    t.pass()
  })
})

test.serial('an agent without a link to the manager asks for a relay only after the grace period', async t => {
  t.timeout(120_000)
  await inSwarm('membership-grace', async ({ topics, manager, start }) => {
    const linked = await start('linked', manager)
    const remote = await start('remote', linked, { ...FAST, relayGraceMs: 120_000 })
    await retryUntil(() => {}, () => connected(remote, linked) ? true : undefined, 30_000)
    // Well past the settle time (300 ms), far inside the grace period.
    await new Promise(resolve => setTimeout(resolve, 3_000))
    t.false(connected(remote, manager))
    t.deepEqual(subscriptions(remote), [topics.tasks])
    t.false(subscriptions(linked).includes(topics.status))
  })
})

test.serial('relayStatus true relays from the start; false never relays, even without a link', async t => {
  t.timeout(120_000)
  await inSwarm('membership-fixed', async ({ topics, manager, start }) => {
    const always = await start('always', manager, { ...FAST, relayStatus: true })
    const never = await start('never', always, { ...FAST, relayStatus: false })
    await waitForTargets(manager, targets => targets.some(x => x.ID === 'never'))
    await new Promise(resolve => setTimeout(resolve, 1_000))
    t.deepEqual(subscriptions(always), [topics.status, topics.tasks].sort())
    t.deepEqual(subscriptions(never), [topics.tasks])
  })
})

test('only a peer joining the tasks topic counts as a new member (relay roles coming and going do not)', t => {
  const topics = swarmTopics('roles')
  t.true(joinsTopic({ subscriptions: [{ topic: topics.tasks, subscribe: true }] }, topics.tasks))
  t.true(joinsTopic({ subscriptions: [{ topic: topics.status, subscribe: true }, { topic: topics.tasks, subscribe: true }] }, topics.tasks))
  t.false(joinsTopic({ subscriptions: [{ topic: topics.tasks, subscribe: false }] }, topics.tasks))
  t.false(joinsTopic({ subscriptions: [{ topic: topics.status, subscribe: true }, { topic: topics.relayWanted, subscribe: true }] }, topics.tasks))
  t.false(joinsTopic({ subscriptions: [] }, topics.tasks))
})
