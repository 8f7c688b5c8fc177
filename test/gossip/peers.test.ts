import test from 'ava'
import { createPeerExchange } from '../../src/gossip/index.ts'
import { startNode } from './helpers.ts'

test('the peer exchange hands out members, drops what does not parse, and is served only where asked to', async t => {
  const [server, client] = await Promise.all([startNode(t), startNode(t)])
  const member = await startNode(t)
  const served = createPeerExchange(server.libp2p, {
    peersMaxEntries: 3,
    provide: (asker, max) => {
      t.true(asker.equals(client.peerId), 'the server knows who asks')
      return [
        { id: member.peerId.toString(), addresses: member.addresses().map(String) },
        { id: 'not-a-peer-id', addresses: [] },
        { id: member.peerId.toString(), addresses: ['not a multiaddr', ...member.addresses().map(String)] },
        { id: member.peerId.toString(), addresses: [] }
      ].slice(0, max)
    }
  })
  await served.start()
  await served.start()
  t.teardown(async () => { await served.stop() })
  await client.libp2p.dial(server.addresses())
  const asking = createPeerExchange(client.libp2p)
  const members = await asking.ask(server.peerId)
  t.is(members.length, 2, 'the bad id is dropped; the answer holds at most peersMaxEntries')
  for (const m of members) {
    t.true(m.id.equals(member.peerId))
    t.deepEqual(m.multiaddrs.map(String), member.addresses().map(String), 'addresses that do not parse are dropped')
  }
  await asking.start()
  await t.throwsAsync(createPeerExchange(server.libp2p).ask(client.peerId), undefined, 'a node without members to provide does not serve the protocol')
  await served.stop()
  await t.throwsAsync(asking.ask(server.peerId))
})
