import { randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { NODE_DEFAULTS } from '../../src/constants.ts'
import { createSwarmNode, loadOrCreatePrivateKey, waitForPeers, WIRE_TRAFFIC } from '../../src/node/index.ts'
import type { SwarmNode, SwarmNodeOptions } from '../../src/node/index.ts'

const LOOPBACK: SwarmNodeOptions = { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false }

/** Starts a node that is stopped when the test ends. */
async function startNode (t: ExecutionContext, options: SwarmNodeOptions = {}): Promise<SwarmNode> {
  const node = await createSwarmNode({ ...LOOPBACK, ...options })
  t.teardown(async () => { await node.stop() })
  return node
}

async function tempDir (t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pollen-node-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

function addressOf (node: SwarmNode): string {
  const addr = node.addresses()[0]
  if (addr == null) throw new Error('node has no address')
  return addr.toString()
}

/**
 * Resolves when `check()` holds, re-checking whenever `subscribe`'s callback
 * fires; rejects after `timeoutMs`.
 */
async function until (subscribe: (notify: () => void) => () => void, check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  if (check()) return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { unsubscribe(); reject(new Error(`timed out waiting for ${what}`)) }, timeoutMs)
    const unsubscribe = subscribe(() => {
      if (!check()) return
      clearTimeout(timer)
      unsubscribe()
      resolve()
    })
  })
}

/** Whether a multicast datagram sent by this host comes back to it (what mDNS between local nodes needs). */
async function multicastLoopsBack (): Promise<boolean> {
  const socket = createSocket({ type: 'udp4', reuseAddr: true })
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(0, resolve)
    })
    socket.addMembership('224.0.0.251')
    socket.setMulticastLoopback(true)
    const token = randomBytes(16)
    return await new Promise<boolean>(resolve => {
      setTimeout(() => { resolve(false) }, 3000).unref()
      socket.on('message', msg => { if (msg.equals(token)) resolve(true) })
      socket.send(token, socket.address().port, '224.0.0.251', err => { if (err != null) resolve(false) })
    })
  } catch {
    return false
  } finally {
    socket.close()
  }
}

const multicast = await multicastLoopsBack()
if (!multicast) console.warn('multicast does not loop back on this host: the mDNS test is skipped')

test('a key file is created with mode 0600 and the peer id survives a restart', async t => {
  const dataDir = join(await tempDir(t), 'data')
  const first = await startNode(t, { dataDir })
  const keyPath = join(dataDir, NODE_DEFAULTS.keyFile)
  t.is((await stat(keyPath)).mode & 0o777, 0o600)
  t.is((await stat(dataDir)).mode & 0o777, 0o700)
  await first.stop()

  const second = await startNode(t, { dataDir })
  t.true(second.peerId.equals(first.peerId))
  t.not(second.peerId.toString(), (await startNode(t)).peerId.toString(), 'a node without dataDir gets its own key')
})

test('a key file readable by others is refused', async t => {
  const dataDir = await tempDir(t)
  await loadOrCreatePrivateKey(dataDir)
  await chmod(join(dataDir, NODE_DEFAULTS.keyFile), 0o644)
  await t.throwsAsync(loadOrCreatePrivateKey(dataDir), { name: 'KeyFileError', message: /0644/ })
  await t.throwsAsync(createSwarmNode({ ...LOOPBACK, dataDir }), { name: 'KeyFileError' })
})

test('a key file that does not decode is refused', async t => {
  const dataDir = await tempDir(t)
  await writeFile(join(dataDir, 'garbage.key'), randomBytes(64), { mode: 0o600 })
  await t.throwsAsync(loadOrCreatePrivateKey(dataDir, 'garbage.key'), { name: 'KeyFileError' })
})

test('invalid options are refused with InvalidOptionError', async t => {
  const noPeerId = createSwarmNode({ ...LOOPBACK, bootstrap: ['/ip4/127.0.0.1/tcp/4001'] })
  await t.throwsAsync(noPeerId, { name: 'InvalidOptionError', message: /p2p/ })
  await t.throwsAsync(createSwarmNode({ ...LOOPBACK, connectionTarget: -1 }), { name: 'InvalidOptionError' })
  await t.throwsAsync(createSwarmNode({ ...LOOPBACK, listen: ['not an address'] }), { name: 'InvalidOptionError' })
  await t.throwsAsync(createSwarmNode({ ...LOOPBACK, pingIntervalMs: 0 }), { name: 'InvalidOptionError' })
  await t.throwsAsync(createSwarmNode({ ...LOOPBACK, pingTimeoutMs: 1.5 }), { name: 'InvalidOptionError' })
})

// Serial: the busy tests of this file would hold up the quick node's pings past their timeout (0.9 of the interval).
test.serial('the connection monitor pings at pingIntervalMs (the RTT appears), and by default not within seconds', async t => {
  const quick = await startNode(t, { pingIntervalMs: 1_000 })
  const slow = await startNode(t)
  await quick.libp2p.dial(slow.addresses())
  const rtt = (node: SwarmNode, peer: SwarmNode): number | undefined => node.libp2p.getConnections(peer.peerId)[0]?.rtt
  const deadline = Date.now() + 8_000
  while (rtt(quick, slow) === undefined && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 100))
  t.not(rtt(quick, slow), undefined, 'a 1 s ping interval measures the RTT within 8 s')
  t.true(NODE_DEFAULTS.pingIntervalMs > 8_000)
  t.is(rtt(slow, quick), undefined, 'the default interval has not pinged yet')
})

test('start and stop are safe to call twice, and a stopped node restarts', async t => {
  const node = await startNode(t)
  await Promise.all([node.start(), node.start()])
  t.is(node.libp2p.status, 'started')
  t.regex(addressOf(node), new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${node.peerId.toString()}$`))
  await Promise.all([node.stop(), node.stop()])
  await node.stop()
  t.is(node.libp2p.status, 'stopped')
  await node.start()
  t.is(node.libp2p.status, 'started')
})

test('extra services are merged in and reserved names refused', async t => {
  const node = await startNode(t, { services: { hello: () => ({ greeting: 'hi' }) } })
  t.deepEqual(node.libp2p.services.hello, { greeting: 'hi' })
  t.truthy(node.libp2p.services.pubsub)
  await t.throwsAsync(createSwarmNode({ ...LOOPBACK, services: { pubsub: () => ({}) } }), { name: 'InvalidOptionError' })
})

test('aborting the signal stops the node; an aborted signal fails creation', async t => {
  const controller = new AbortController()
  const node = await startNode(t, { signal: controller.signal })
  const stopped = until(notify => {
    node.libp2p.addEventListener('stop', notify)
    return () => { node.libp2p.removeEventListener('stop', notify) }
  }, () => node.libp2p.status === 'stopped', 30_000, 'the node to stop')
  controller.abort()
  await t.notThrowsAsync(stopped)
  await t.throwsAsync(createSwarmNode({ ...LOOPBACK, signal: controller.signal }), { name: 'AbortError' })
})

test('waitForPeers times out and can be aborted', async t => {
  const node = await startNode(t)
  await t.throwsAsync(waitForPeers(node, 1, { timeoutMs: 50 }), { name: 'TimeoutError' })
  const controller = new AbortController()
  const waiting = waitForPeers(node, 1, { signal: controller.signal })
  controller.abort()
  await t.throwsAsync(waiting, { name: 'AbortError' })
  await t.notThrowsAsync(waitForPeers(node, 0))
})

test('a burst of inbound connections from one IP is not refused', async t => {
  const seed = await startNode(t)
  const peers = await Promise.all(Array.from({ length: 16 }, async () => await startNode(t)))
  // Each peer dials once, at the same moment: a refusal shows as a rejected dial.
  const dials = await Promise.allSettled(peers.map(async peer => await peer.libp2p.dial(seed.addresses())))
  t.deepEqual(dials.filter(d => d.status === 'rejected'), [])
  // The seed registers a connection a little after the dialler does.
  await t.notThrowsAsync(waitForPeers(seed, peers.length, { timeoutMs: 30_000 }))
})

test('a bootstrap peer is re-dialled after a disconnect', async t => {
  const seed = await startNode(t)
  const leaf = await startNode(t, { bootstrap: [addressOf(seed)] })
  await waitForPeers(leaf, 1, { timeoutMs: 20_000 })
  await seed.libp2p.hangUp(leaf.peerId)
  t.is(seed.libp2p.getConnections(leaf.peerId).length, 0)
  await waitForPeers(seed, 1, { timeoutMs: 20_000 })
  t.true(leaf.libp2p.getConnections(seed.peerId).length > 0)
})

test('24 nodes on one IP all connect through a seed and all receive a published message', async t => {
  const topic = `pollen-test-${randomBytes(4).toString('hex')}`
  const started = Date.now()
  const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(1)} s`
  const seed = await startNode(t)
  const leaves = await Promise.all(Array.from({ length: 23 }, async () => await startNode(t, { bootstrap: [addressOf(seed)] })))
  await waitForPeers(seed, leaves.length, { timeoutMs: 60_000 })
  t.log(`all connected at ${elapsed()}`)

  const nodes = [seed, ...leaves]
  const received = nodes.map(() => new Set<string>())
  const notifiers = new Set<() => void>()
  nodes.forEach((node, i) => {
    node.libp2p.services.pubsub.addEventListener('message', evt => {
      if (evt.detail.topic !== topic) return
      received[i]?.add(new TextDecoder().decode(evt.detail.data))
      for (const notify of notifiers) notify()
    })
    node.libp2p.services.pubsub.subscribe(topic)
  })
  const onMessage = (notify: () => void): () => void => {
    notifiers.add(notify)
    return () => notifiers.delete(notify)
  }
  const pubsub = seed.libp2p.services.pubsub
  const onSubscriptionChange = (notify: () => void): () => void => {
    for (const node of nodes) node.libp2p.services.pubsub.addEventListener('subscription-change', notify)
    return () => { for (const node of nodes) node.libp2p.services.pubsub.removeEventListener('subscription-change', notify) }
  }
  // A leaf seeing the seed's subscription proves the seed's outbound pubsub
  // stream to it is open; without one, gossipsub drops what it sends there.
  const subscriptionsKnown = (): boolean => pubsub.getSubscribers(topic).length === leaves.length &&
    leaves.every(leaf => leaf.libp2p.services.pubsub.getSubscribers(topic).some(id => id.equals(seed.peerId)))
  await until(onSubscriptionChange, subscriptionsKnown, 60_000, 'seed and leaves to see each other\'s subscriptions (a graylisted peer\'s are dropped)')

  // The seed flood-publishes to every subscriber whose score is above the
  // publish threshold: an IP-colocation penalty would exclude all of them.
  await pubsub.publish(topic, new TextEncoder().encode('from-seed'))
  await until(onMessage, () => received.slice(1).every(r => r.has('from-seed')), 60_000, 'every leaf to get the seed\'s message')

  // A leaf's message travels through the seed's mesh and gossip, which may
  // miss a peer on one try: publish again until every other node has one.
  const publisher = leaves[0]!.libp2p.services.pubsub
  let sent = 0
  let publishError: unknown
  const publish = (): void => {
    publisher.publish(topic, new TextEncoder().encode(`from-leaf-${sent++}`)).catch(err => { publishError ??= err })
  }
  publish()
  const retry = setInterval(publish, 1000)
  t.teardown(() => { clearInterval(retry) })
  const gotLeafMessage = (r: Set<string>): boolean => [...r].some(m => m.startsWith('from-leaf-'))
  const othersGotIt = (): boolean => received.every((r, i) => i === 1 || gotLeafMessage(r))
  await until(onMessage, othersGotIt, 60_000, 'every node to get the leaf\'s message')
  clearInterval(retry)
  t.is(publishError, undefined)
  t.log(`seed's message everywhere, then the leaf's at ${elapsed()}, after ${sent} publish(es)`)
  t.false(gotLeafMessage(received[1]!), 'no echo to the publisher (emitSelf is off)')
})

;(multicast ? test : test.skip)('two nodes with mDNS discover and connect to each other', async t => {
  // A tag of its own keeps this test from meeting other nodes multicasting on the host.
  const mdnsServiceTag = `_pollen-test-${randomBytes(4).toString('hex')}._udp.local`
  const [a, b] = await Promise.all([startNode(t, { mdns: true, mdnsServiceTag }), startNode(t, { mdns: true, mdnsServiceTag })])
  await Promise.all([waitForPeers(a, 1, { timeoutMs: 30_000 }), waitForPeers(b, 1, { timeoutMs: 30_000 })])
  t.true(a.libp2p.getConnections(b.peerId).length > 0)
})


test('traffic() counts the bytes sent per protocol, and on the wire in all; onWireSent hears every wire byte', async t => {
  const a = await startNode(t)
  const b = await startNode(t)
  let heard = 0
  const unsubscribe = a.onWireSent(bytes => { heard += bytes })
  const identified = new Promise(resolve => { a.libp2p.addEventListener('peer:identify', resolve, { once: true }) })
  await a.libp2p.dial(b.addresses()[0]!)
  await identified
  const sent = a.traffic()
  t.true((sent['/ipfs/id/1.0.0'] ?? 0) > 0, 'identify answered the peer')
  const streams = Object.entries(sent).filter(([name]) => name !== WIRE_TRAFFIC).reduce((sum, [, bytes]) => sum + bytes, 0)
  t.true(sent[WIRE_TRAFFIC]! > streams, 'the wire carries the streams plus framing and handshakes')
  t.true((b.traffic()['/ipfs/id/1.0.0'] ?? 0) > 0, 'the other end is counted too')
  unsubscribe()
  t.is(heard, a.traffic()[WIRE_TRAFFIC] ?? 0, 'the listener heard what the wire counter counted')
})

test('onWireReceived hears every byte the other end wrote to the connection', async t => {
  const a = await startNode(t)
  const b = await startNode(t)
  let received = 0
  t.teardown(b.onWireReceived(bytes => { received += bytes }))
  const identified = new Promise(resolve => { a.libp2p.addEventListener('peer:identify', resolve, { once: true }) })
  await a.libp2p.dial(b.addresses()[0]!)
  await identified
  // a's only connection is to b: once quiet, b has read exactly what a wrote.
  await until(notify => b.onWireReceived(notify), () => received === a.traffic()[WIRE_TRAFFIC], 30_000, 'b to read all that a wrote')
  t.is(received, a.traffic()[WIRE_TRAFFIC] ?? 0)
})
