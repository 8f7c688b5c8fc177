/**
 * Topic score parameters: valid for gossipsub, and with them a rejected
 * message lowers its sender's score. The swarm node does not take gossipsub
 * options, so this test builds two bare libp2p nodes with them.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { createPeerScoreParams, validatePeerScoreParams } from '@libp2p/gossipsub/score'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { createLibp2p, type Libp2p } from 'libp2p'
import { createGossip, encodeManagerMessage, gossipScoreParams, swarmTopics } from '../../src/gossip/index.ts'
import { HOUR, SWARM, managerKey, otherKey, sign, task } from './fixtures.ts'
import { on, until } from './helpers.ts'

const WAIT_MS = 60_000

test('the score parameters cover every topic messages go on and pass gossipsub\'s own checks', t => {
  const { scoreParams } = gossipScoreParams(SWARM)
  const topics = swarmTopics(SWARM)
  t.deepEqual(Object.keys(scoreParams.topics).sort(), [topics.reports, topics.status, topics.tasks])
  t.notThrows(() => { validatePeerScoreParams(createPeerScoreParams({ IPColocationFactorWeight: 0, ...scoreParams })) })
  t.throws(() => gossipScoreParams('bad name'), { name: 'InvalidOptionError' })
})

async function scoredNode (t: ExecutionContext): Promise<Libp2p<{ pubsub: GossipSub }>> {
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      pubsub: gossipsub({ emitSelf: false, allowPublishToZeroTopicPeers: true, scoreParams: { IPColocationFactorWeight: 0, ...gossipScoreParams(SWARM).scoreParams } })
    }
  })
  t.teardown(async () => { await node.stop() })
  return node
}

test('with the score parameters, a forged task sinks its sender\'s score', async t => {
  const [a, b] = await Promise.all([scoredNode(t), scoredNode(t)])
  const [ga, gb] = [a, b].map(node => createGossip(node.services.pubsub, { swarm: SWARM, managerPublicKey: managerKey.publicKey }))
  await Promise.all([ga!.start(), gb!.start()])
  t.teardown(async () => { await Promise.all([ga!.stop(), gb!.stop()]) })
  await a.dial(b.getMultiaddrs())
  const topic = ga!.topics.tasks
  const pubsubs = [a.services.pubsub, b.services.pubsub]
  const subscribed = (): boolean => pubsubs[1]!.getSubscribers(topic).some(id => id.equals(a.peerId)) && pubsubs[0]!.getSubscribers(topic).some(id => id.equals(b.peerId))
  await until([on(pubsubs, 'subscription-change')], subscribed, WAIT_MS, 'A and B to see each other\'s subscriptions')

  const now = Date.now()
  await a.services.pubsub.publish(topic, encodeManagerMessage(await sign(task({ createdAt: now, expiresAt: now + HOUR }), otherKey)))
  await until([on([gb!], 'refused')], () => gb!.stats().tasks.rejected === 1, WAIT_MS, 'B to reject the forgery')
  // Scores are cached for up to a heartbeat.
  const score = (): number => (b.services.pubsub as unknown as { getScore: (id: string) => number }).getScore(a.peerId.toString())
  await until([on([b.services.pubsub], 'gossipsub:heartbeat')], () => score() < 0, WAIT_MS, 'A\'s score at B to go negative')
  t.true(score() < -5, `score ${score()}`)
})
