/**
 * The gossip layer on real libp2p nodes, in a line A — B — C so that every
 * message A sends C has to be validated and relayed by B.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { verifySigned } from '../../src/core/signing.ts'
import type { Signed, TaskBody } from '../../src/core/task.ts'
import { createGossip, encodeManagerMessage, type ManagerMessageEvent, type Refusal, type StatusEvent, type SwarmGossip } from '../../src/gossip/index.ts'
import { waitForPeers, type SwarmNode } from '../../src/node/index.ts'
import { HOUR, SWARM, advert, managerKey, otherKey, sign, tampered, task } from './fixtures.ts'
import { on, retryUntil, startNode, until, type Source } from './helpers.ts'

const WAIT_MS = 60_000

function startGossip (t: ExecutionContext, node: SwarmNode): SwarmGossip {
  const gossip = createGossip(node.libp2p.services.pubsub, { swarm: SWARM, managerPublicKey: managerKey.publicKey })
  t.teardown(async () => { await gossip.stop() })
  return gossip
}

/** A task signed now, valid for an hour. */
async function freshTask (seq: number, key = managerKey): Promise<Signed<TaskBody>> {
  const now = Date.now()
  return await sign(task({ seq, createdAt: now, expiresAt: now + HOUR }), key)
}

/** Start three nodes connected in a line, with gossip started, once each sees its neighbours' subscriptions. */
type Three<T> = [T, T, T]

async function line (t: ExecutionContext): Promise<{ nodes: Three<SwarmNode>, gossips: Three<SwarmGossip> }> {
  const nodes: Three<SwarmNode> = await Promise.all([startNode(t), startNode(t), startNode(t)])
  const [a, b, c] = nodes
  await a.libp2p.dial(b.addresses())
  await b.libp2p.dial(c.addresses())
  await Promise.all([waitForPeers(a, 1, { timeoutMs: WAIT_MS }), waitForPeers(b, 2, { timeoutMs: WAIT_MS }), waitForPeers(c, 1, { timeoutMs: WAIT_MS })])
  const gossips: Three<SwarmGossip> = [startGossip(t, a), startGossip(t, b), startGossip(t, c)]
  await Promise.all(gossips.map(async g => { await g.start() }))
  const pubsubs = nodes.map(node => node.libp2p.services.pubsub)
  const topics = [gossips[0].topics.tasks, gossips[0].topics.status]
  // Seeing a neighbour's subscription proves its outbound pubsub stream to us is open.
  const sees = (i: number, j: number): boolean => topics.every(topic => pubsubs[i]!.getSubscribers(topic).some(id => id.equals(nodes[j]!.peerId)))
  const links = [[0, 1], [1, 0], [1, 2], [2, 1]] as const
  await until([on(pubsubs, 'subscription-change')], () => links.every(([i, j]) => sees(i, j)), WAIT_MS, 'neighbours to see each other\'s subscriptions')
  return { nodes, gossips }
}

function collect<T> (gossip: SwarmGossip, type: 'manager-message' | 'status' | 'refused'): T[] {
  const seen: T[] = []
  gossip.addEventListener(type, evt => { seen.push((evt as CustomEvent<T>).detail) })
  return seen
}

test('signed tasks cross a relay and verify; forgeries and replays stop at the relay; status reaches the manager from its author', async t => {
  const { nodes: [a, , c], gossips: [ga, gb, gc] } = await line(t)
  const atC = collect<ManagerMessageEvent>(gc, 'manager-message')
  const atB = collect<ManagerMessageEvent>(gb, 'manager-message')
  const refusedAtB = collect<Refusal>(gb, 'refused')
  let seq = 0

  // 1. A valid task, re-signed with a fresh seq until C has one (the mesh takes a heartbeat or two).
  const firstAtC = until([on([gc], 'manager-message')], () => atC.length > 0, WAIT_MS, 'C to receive a task')
  const attempts = await retryUntil(async () => await ga.publishManagerMessage(await freshTask(++seq)), firstAtC)
  t.log(`first task reached C after ${attempts} publish(es)`)
  const first = atC[0]!
  await t.notThrowsAsync(verifySigned(managerKey.publicKey, first.signed))
  t.true(first.from.equals(a.peerId), 'from is the author, not the relay')
  t.deepEqual(gc.lastSeq(), { task: Math.max(...atC.map(m => m.signed.body.seq)) })

  // 2. A tampered copy, a task signed by another key and a replay, published raw by A.
  const pubsub = a.libp2p.services.pubsub
  const forged = [tampered(await freshTask(++seq)), await freshTask(++seq, otherKey)]
  for (const signed of [...forged, first.signed]) await pubsub.publish(ga.topics.tasks, encodeManagerMessage(signed))
  const counted = (): boolean => gb.stats().tasks.refused['bad-signature'] >= 2 && gb.stats().tasks.refused.replay >= 1
  await until([on([gb], 'refused')], counted, WAIT_MS, 'B to refuse the forgeries and the replay')
  t.true(refusedAtB.filter(r => r.reason === 'bad-signature').every(r => r.peer.equals(a.peerId)))

  // 3. A later valid task still gets through, so the refused ones had their chance and were not relayed.
  const lastForged = seq
  const laterAtC = until([on([gc], 'manager-message')], () => atC.some(m => m.signed.body.seq > lastForged), WAIT_MS, 'C to receive a later task')
  await retryUntil(async () => await ga.publishManagerMessage(await freshTask(++seq)), laterAtC)
  for (const { signed } of [...atC, ...atB]) await t.notThrowsAsync(verifySigned(managerKey.publicKey, signed))
  const forgedSeqs = forged.map(f => f.body.seq)
  t.false([...atC, ...atB].some(m => forgedSeqs.includes(m.signed.body.seq)), 'no forgery was ever emitted')
  t.is(new Set(atC.map(m => m.signed.body.seq)).size, atC.length, 'no replay was emitted')

  // 4. A status advert from C, with no manager connected, reaches A through B, attributed to C.
  const statuses = collect<StatusEvent>(ga, 'status')
  const atA = until([on([ga], 'status')], () => statuses.length > 0, WAIT_MS, 'A to receive C\'s advert')
  await retryUntil(async () => await gc.publishStatus(advert({ at: Date.now() })), atA)
  t.true(statuses[0]!.from.equals(c.peerId))
  t.is(statuses[0]!.body.kind, 'advert')
})

test('reports go to the reports topic\'s reader alone, past a neighbour relaying the status topic; without a reader they go to relays, progress left out', async t => {
  const [reader, author, relay] = await Promise.all([startNode(t), startNode(t), startNode(t)])
  await author.libp2p.dial(reader.addresses())
  await author.libp2p.dial(relay.addresses())
  const gReader = createGossip(reader.libp2p.services.pubsub, { swarm: SWARM, managerPublicKey: managerKey.publicKey, subscribeReports: true })
  const gAuthor = createGossip(author.libp2p.services.pubsub, { swarm: SWARM, managerPublicKey: managerKey.publicKey, subscribeStatus: false })
  const gRelay = createGossip(relay.libp2p.services.pubsub, { swarm: SWARM, managerPublicKey: managerKey.publicKey, subscribeStatus: true })
  for (const g of [gReader, gAuthor, gRelay]) t.teardown(async () => { await g.stop() })
  await Promise.all([gReader, gAuthor, gRelay].map(async g => { await g.start() }))
  const pubsub = author.libp2p.services.pubsub
  const sees = (topic: string, node: SwarmNode): boolean => pubsub.getSubscribers(topic).some(id => id.equals(node.peerId))
  await until([on([pubsub], 'subscription-change')], () => sees(gAuthor.topics.reports, reader) && sees(gAuthor.topics.status, relay), WAIT_MS, 'the author to see both subscriptions')

  const atReader = collect<StatusEvent>(gReader, 'status')
  const atRelay = collect<StatusEvent>(gRelay, 'status')
  const result = await gAuthor.publishStatus(advert({ at: Date.now() }))
  t.deepEqual(result.recipients.map(id => id.toString()), [reader.peerId.toString()])
  await until([on([gReader], 'status')], () => atReader.length > 0, WAIT_MS, 'the reader to receive the advert')
  t.true(atReader[0]!.from.equals(author.peerId))

  // Without the reader: reports go to the status topic, and progress is left out.
  await reader.libp2p.hangUp(author.peerId)
  // Gossipsub forgets the peer's subscriptions just after libp2p's disconnect event: poll.
  const ticks: Source = notify => { const timer = setInterval(notify, 100); return () => { clearInterval(timer) } }
  await until([ticks], () => !sees(gAuthor.topics.reports, reader), WAIT_MS, 'the author to forget the reader\'s subscriptions')
  const progress = { kind: 'ack', v: 1, targetId: 'dev-1', taskId: 't-1', stage: 'transfer', status: 'STARTED', at: Date.now(), progress: { bytes: 1, total: 2 } } as const
  t.deepEqual((await gAuthor.publishStatus(progress)).recipients, [])
  await gAuthor.publishStatus(advert({ at: Date.now() + 1 }))
  await until([on([gRelay], 'status')], () => atRelay.length > 0, WAIT_MS, 'the relay to receive the relayed advert')
  t.is(atRelay.length, 1, 'the relay saw only the advert sent for relaying')
  t.is(atRelay[0]!.body.kind, 'advert')
})

test('publishing with no subscribed peer does not throw', async t => {
  const node = await startNode(t)
  const gossip = startGossip(t, node)
  await gossip.start()
  t.deepEqual((await gossip.publishManagerMessage(await freshTask(1))).recipients, [])
  t.deepEqual((await gossip.publishStatus(advert())).recipients, [])
})
