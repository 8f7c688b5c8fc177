/**
 * The gossip component against a stand-in for gossipsub that runs topic
 * validators the way gossipsub does: validator first, then a 'message' event
 * (same message object) only when accepted and subscribed.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { TopicValidatorResult, type GossipSub, type Message, type TopicValidatorFn } from '@libp2p/gossipsub'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import test from 'ava'
import { createGossip, decodeManagerMessage, decodeStatus, encodeManagerMessage, encodeStatus, swarmTopics, type GossipOptions, type ManagerMessageEvent, type Refusal, type StatusEvent, type SwarmGossip } from '../../src/gossip/index.ts'
import { HOUR, NOW, SWARM, advert, json, logs, managerKey, otherKey, sign, stop, tampered, task, utf8 } from './fixtures.ts'

const topics = swarmTopics(SWARM)

class FakePubSub extends EventTarget {
  readonly topicValidators = new Map<string, TopicValidatorFn>()
  readonly subscriptions = new Set<string>()
  readonly published: Array<{ topic: string, data: Uint8Array }> = []
  /** Topics a connected peer subscribes to. */
  readonly peerTopics = new Set<string>()
  getSubscribers (topic: string): PeerId[] { return this.peerTopics.has(topic) ? [peer] : [] }
  subscribe (topic: string): void { this.subscriptions.add(topic) }
  unsubscribe (topic: string): void { this.subscriptions.delete(topic) }
  async publish (topic: string, data: Uint8Array): Promise<{ recipients: PeerId[] }> {
    this.published.push({ topic, data })
    return { recipients: [] }
  }

  /** Receive a message from `from` as gossipsub would. */
  async deliver (from: PeerId, topic: string, data: Uint8Array, type: 'signed' | 'unsigned' = 'signed'): Promise<TopicValidatorResult | undefined> {
    const msg = (type === 'signed'
      ? { type, from, topic, data, sequenceNumber: 1n, signature: new Uint8Array(64), key: managerKey.publicKey }
      : { type, topic, data }) as Message
    const result = await this.topicValidators.get(topic)?.(from, msg)
    if ((result ?? TopicValidatorResult.Accept) === TopicValidatorResult.Accept && this.subscriptions.has(topic)) {
      this.dispatchEvent(new CustomEvent('message', { detail: msg }))
    }
    return result
  }
}

const peer: PeerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))

interface Harness {
  pubsub: FakePubSub
  gossip: SwarmGossip
  managerMessages: ManagerMessageEvent[]
  statuses: StatusEvent[]
  refusals: Refusal[]
}

async function started (options: Partial<GossipOptions> = {}): Promise<Harness> {
  const pubsub = new FakePubSub()
  const gossip = createGossip(pubsub as unknown as GossipSub, { swarm: SWARM, managerPublicKey: managerKey.publicKey, clock: () => NOW, ...options })
  const h: Harness = { pubsub, gossip, managerMessages: [], statuses: [], refusals: [] }
  gossip.addEventListener('manager-message', evt => { h.managerMessages.push(evt.detail) })
  gossip.addEventListener('status', evt => { h.statuses.push(evt.detail) })
  gossip.addEventListener('refused', evt => { h.refusals.push(evt.detail) })
  await gossip.start()
  return h
}

const { Accept, Ignore, Reject } = TopicValidatorResult

test('start installs validators and subscribes, stop undoes it; both are safe twice', async t => {
  const { pubsub, gossip } = await started()
  await gossip.start()
  t.deepEqual([...pubsub.subscriptions].sort(), [topics.status, topics.tasks])
  t.deepEqual([...pubsub.topicValidators.keys()].sort(), [topics.relayWanted, topics.reports, topics.status, topics.tasks])
  await Promise.all([gossip.stop(), gossip.stop()])
  t.is(pubsub.subscriptions.size, 0)
  t.is(pubsub.topicValidators.size, 0)
  await gossip.start()
  t.is(pubsub.subscriptions.size, 2)
})

test('only a node told to (the manager) subscribes to the reports topic', async t => {
  const { pubsub } = await started({ subscribeReports: true })
  t.deepEqual([...pubsub.subscriptions].sort(), [topics.reports, topics.status, topics.tasks])
})

test('subscriptions follow the options and the role; validators guard every topic regardless', async t => {
  const { pubsub, gossip } = await started({ subscribeStatus: false })
  t.deepEqual([...pubsub.subscriptions], [topics.tasks])
  t.is(pubsub.topicValidators.size, 4)
  gossip.setRole({ relayStatus: true, wantRelay: true })
  t.deepEqual([...pubsub.subscriptions].sort(), [topics.relayWanted, topics.status, topics.tasks])
  gossip.setRole({ relayStatus: false, wantRelay: true })
  t.deepEqual([...pubsub.subscriptions].sort(), [topics.relayWanted, topics.tasks])
  gossip.setRole({ relayStatus: false, wantRelay: false })
  t.deepEqual([...pubsub.subscriptions], [topics.tasks])
  const other: TopicValidatorFn = () => Accept
  pubsub.topicValidators.set(topics.status, other)
  await gossip.stop()
  t.is(pubsub.topicValidators.get(topics.status), other, 'a validator installed by someone else is left alone')
})

test('any message on the relay-wanted topic is rejected: it carries subscriptions only', async t => {
  const h = await started()
  h.gossip.setRole({ relayStatus: true, wantRelay: true })
  t.is(await h.pubsub.deliver(peer, topics.relayWanted, encodeManagerMessage(await sign(task({ seq: 1 })))), TopicValidatorResult.Reject)
  t.is(h.managerMessages.length, 0)
})

test('a valid manager message is accepted, emitted with its author and raises lastSeq', async t => {
  const h = await started()
  const signed = await sign(task({ seq: 7 }))
  t.is(await h.pubsub.deliver(peer, topics.tasks, encodeManagerMessage(signed)), Accept)
  t.is(h.managerMessages.length, 1)
  t.deepEqual(h.managerMessages[0]?.signed, decodeManagerMessage(encodeManagerMessage(signed)))
  t.true(h.managerMessages[0]?.from.equals(peer))
  t.deepEqual(h.gossip.lastSeq(), { task: 7 })
  t.is(h.gossip.stats().tasks.accepted, 1)
})

test('replays are ignored (not punished); newer messages of other kinds still pass', async t => {
  const h = await started({ lastSeq: { task: 5 } })
  t.is(await h.pubsub.deliver(peer, topics.tasks, encodeManagerMessage(await sign(task({ seq: 5 })))), Ignore)
  t.is(await h.pubsub.deliver(peer, topics.tasks, encodeManagerMessage(await sign(task({ seq: 6 })))), Accept)
  t.is(await h.pubsub.deliver(peer, topics.tasks, encodeManagerMessage(await sign(task({ seq: 6 })))), Ignore)
  t.is(await h.pubsub.deliver(peer, topics.tasks, encodeManagerMessage(await sign(stop({ seq: 2 })))), Accept)
  t.deepEqual(h.gossip.lastSeq(), { task: 6, stop: 2 })
  t.deepEqual(h.managerMessages.map(m => m.signed.body.seq), [6, 2])
  t.like(h.gossip.stats().tasks, { accepted: 2, rejected: 0, ignored: 2, refused: { replay: 2 } })
  t.deepEqual(h.refusals.map(r => r.reason), ['replay', 'replay'])
  t.is(h.refusals[0]?.error.name, 'ReplayedMessageError')
})

test('an older message not seen before is still accepted and relayed (tasks for different targets arrive out of order)', async t => {
  const h = await started()
  t.is(await h.pubsub.deliver(peer, topics.tasks, encodeManagerMessage(await sign(task({ seq: 8 })))), Accept)
  t.is(await h.pubsub.deliver(peer, topics.tasks, encodeManagerMessage(await sign(task({ seq: 7 })))), Accept)
  t.is(await h.pubsub.deliver(peer, topics.tasks, encodeManagerMessage(await sign(task({ seq: 7 })))), Ignore)
  t.deepEqual(h.managerMessages.map(m => m.signed.body.seq), [8, 7])
  t.deepEqual(h.gossip.lastSeq(), { task: 8 })
})

test('two copies validated at once: one is accepted, the other ignored', async t => {
  const h = await started()
  const bytes = encodeManagerMessage(await sign(task({ seq: 3 })))
  const results = await Promise.all([h.pubsub.deliver(peer, topics.tasks, bytes), h.pubsub.deliver(peer, topics.tasks, bytes)])
  t.deepEqual(results.sort(), [Accept, Ignore].sort())
  t.is(h.managerMessages.length, 1)
})

test('bad manager messages are rejected (scored against the sender), counted by reason and never emitted', async t => {
  const h = await started()
  const cases: Array<[string, Uint8Array, ('signed' | 'unsigned')?]> = [
    ['bad-signature', encodeManagerMessage(tampered(await sign(task({ seq: 10 }))))],
    ['bad-signature', encodeManagerMessage(await sign(task({ seq: 11 }), otherKey))],
    ['wrong-swarm', encodeManagerMessage(await sign(task({ seq: 12, swarm: 'elsewhere' })))],
    ['expired', encodeManagerMessage(await sign(task({ seq: 13, createdAt: NOW - 3 * HOUR, expiresAt: NOW - 2 * HOUR })))],
    ['future', encodeManagerMessage(await sign(task({ seq: 14, createdAt: NOW + HOUR, expiresAt: NOW + 2 * HOUR })))],
    ['malformed', utf8('{"body":')],
    ['malformed', json({ body: task(), sig: 'A'.repeat(86), extra: true })],
    ['malformed', encodeManagerMessage(await sign(task({ seq: 15 }))), 'unsigned'],
    ['too-large', new Uint8Array(64)]
  ]
  const small = await started({ maxManagerMessageBytes: 63 })
  for (const [reason, bytes, type] of cases) {
    const harness = reason === 'too-large' ? small : h
    t.is(await harness.pubsub.deliver(peer, topics.tasks, bytes, type), Reject, reason)
  }
  t.deepEqual(h.managerMessages, [])
  t.deepEqual(h.gossip.lastSeq(), {}, 'rejected messages do not move lastSeq')
  t.deepEqual(h.gossip.stats().tasks, { accepted: 0, rejected: 8, ignored: 0, refused: { 'too-large': 0, malformed: 3, revoked: 0, 'wrong-swarm': 1, 'bad-signature': 2, replay: 0, expired: 1, future: 1 } })
  t.is(small.gossip.stats().tasks.refused['too-large'], 1)
  t.true(h.refusals.every(r => r.topic === 'tasks' && r.peer.equals(peer)))
})

test('status messages are accepted when they decode strictly, else rejected', async t => {
  const h = await started({ maxStatusMessageBytes: 4096 })
  t.is(await h.pubsub.deliver(peer, topics.status, encodeStatus(advert())), Accept)
  t.is(await h.pubsub.deliver(peer, topics.status, encodeStatus(logs())), Accept)
  t.is(await h.pubsub.deliver(peer, topics.status, json({ ...advert(), extra: 1 })), Reject)
  t.is(await h.pubsub.deliver(peer, topics.status, utf8('not json')), Reject)
  t.is(await h.pubsub.deliver(peer, topics.status, json(logs({ logs: Array(50).fill({ Output: 'x'.repeat(100), Error: false, Time: 1 }) }))), Reject)
  t.is(await h.pubsub.deliver(peer, topics.status, encodeStatus(advert()), 'unsigned'), Reject)
  t.deepEqual(h.statuses.map(s => s.body), [decodeStatus(encodeStatus(advert())), decodeStatus(encodeStatus(logs()))])
  t.true(h.statuses.every(s => s.from.equals(peer)))
  t.deepEqual(h.gossip.stats().status.refused, { 'too-large': 1, malformed: 3, revoked: 0, 'wrong-swarm': 0, 'bad-signature': 0, replay: 0, expired: 0, future: 0 })
  t.like(h.gossip.stats().status, { accepted: 2, rejected: 4, ignored: 0 })
})

test('status messages authored by a revoked member are rejected, whoever relays them', async t => {
  const revoked = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  const h = await started({ isRevoked: p => p.equals(revoked) })
  t.is(await h.pubsub.deliver(revoked, topics.status, encodeStatus(advert())), Reject)
  t.is(await h.pubsub.deliver(peer, topics.status, encodeStatus(advert())), Accept)
  t.is(h.statuses.length, 1)
  t.like(h.refusals[0], { topic: 'status', reason: 'revoked' })
  t.is(h.refusals[0]?.error.name, 'RevokedPeerError')
  t.is(h.gossip.stats().status.refused.revoked, 1)
})

test('nothing is emitted for a topic this node did not subscribe to, nor after stop', async t => {
  const h = await started({ subscribeStatus: false })
  t.is(await h.pubsub.deliver(peer, topics.status, encodeStatus(advert())), Accept)
  t.deepEqual(h.statuses, [])
  await h.gossip.stop()
  h.pubsub.subscribe(topics.tasks)
  await h.pubsub.deliver(peer, topics.tasks, encodeManagerMessage(await sign(task())))
  t.deepEqual(h.managerMessages, [])
})

test('publishing checks messages as receivers would, then publishes their canonical bytes', async t => {
  const h = await started()
  h.pubsub.peerTopics.add(topics.reports)
  const signed = await sign(task({ seq: 20 }))
  await h.gossip.publishManagerMessage(signed)
  await h.gossip.publishStatus(advert())
  t.deepEqual(h.pubsub.published.map(p => p.topic), [topics.tasks, topics.reports], 'with the manager connected, reports go to it alone')
  t.deepEqual(h.pubsub.published[0]?.data, encodeManagerMessage(signed))
  t.deepEqual(h.pubsub.published[1]?.data, encodeStatus(advert()))
  await t.throwsAsync(h.gossip.publishManagerMessage(tampered(signed)), { name: 'InvalidSignatureError' })
  await t.throwsAsync(h.gossip.publishManagerMessage(await sign(task(), otherKey)), { name: 'InvalidSignatureError' })
  await t.throwsAsync(h.gossip.publishManagerMessage(await sign(task({ createdAt: NOW - 3 * HOUR, expiresAt: NOW - 2 * HOUR }))), { name: 'MessageExpiredError' })
  await t.throwsAsync(h.gossip.publishManagerMessage(await sign(task({ swarm: 'elsewhere' }))), { name: 'InvalidMessageError' })
  await t.throwsAsync(h.gossip.publishStatus(advert({ id: '' })), { name: 'InvalidMessageError' })
  t.is(h.pubsub.published.length, 2, 'nothing bad went out')
  await h.gossip.stop()
  await t.throwsAsync(h.gossip.publishStatus(advert()), { name: 'NotStartedError' })
  await t.throwsAsync(h.gossip.publishManagerMessage(signed), { name: 'NotStartedError' })
})

test('an invalid swarm name is refused', t => {
  t.throws(() => createGossip(new FakePubSub() as unknown as GossipSub, { swarm: 'no/slash', managerPublicKey: managerKey.publicKey }), { name: 'InvalidOptionError' })
})
