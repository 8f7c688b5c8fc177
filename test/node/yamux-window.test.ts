import test from 'ava'
import { createSwarmNode, WIRE_TRAFFIC, type SwarmNode } from '../../src/node/index.ts'

const PROTOCOL = '/pollen-test/sink/1.0.0'

async function startNode (): Promise<SwarmNode> {
  const node = await createSwarmNode({ listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
  await node.start()
  return node
}

test('a receiver sends no yamux window update per data frame: 200 small messages cost it no frames back', async t => {
  const sender = await startNode()
  const receiver = await startNode()
  t.teardown(async () => { await Promise.all([sender.stop(), receiver.stop()]) })
  const received = Promise.withResolvers<number>()
  await receiver.libp2p.handle(PROTOCOL, async stream => {
    let bytes = 0
    for await (const chunk of stream) {
      bytes += chunk.byteLength
      if (bytes >= 200 * 100) received.resolve(bytes)
    }
  })
  const stream = await sender.libp2p.dialProtocol(receiver.addresses()[0]!, PROTOCOL)
  // Let the handshake's own traffic settle before counting.
  await new Promise(resolve => setTimeout(resolve, 500))
  const before = receiver.traffic()[WIRE_TRAFFIC] ?? 0
  for (let i = 0; i < 200; i++) {
    if (!stream.send(new Uint8Array(100).fill(i))) await stream.onDrain()
    await new Promise(resolve => setImmediate(resolve))
  }
  await received.promise
  const sentBack = (receiver.traffic()[WIRE_TRAFFIC] ?? 0) - before
  // One update per frame would be 200 × 30 bytes (a 12-byte frame in a Noise message).
  t.true(sentBack < 1_000, `the receiver sent ${sentBack} bytes back for 200 messages`)
  await stream.close()
})
