/**
 * Child process of `bench fetch --raw`: a fetcher node in a process of its
 * own, so the two ends of the comparison do not share one event loop (as two
 * devices would not). The parent sends `{ dial, cid }`; the child counts a
 * raw stream and runs a Pollen fetch when told, reporting each over IPC.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { waitForPeers } from '../src/node/index.ts'
import { RAW_PROTOCOL, countUntilEnd } from './raw.ts'
import { startBenchPeer, tempRoot } from './common.ts'

/** Messages from the parent. */
export type RawPeerCall = { op: 'dial', addr: string } | { op: 'fetch', cid: string } | { op: 'stop' }
/** Messages to the parent. */
export type RawPeerEvent = { ready: string } | { dialled: true } | { rawBytes: number } | { fetched: true } | { error: string }

const reply = (event: RawPeerEvent): void => { process.send?.(event) }
const peer = await startBenchPeer(await tempRoot('pollen-bench-raw-'), 'fetcher', Infinity)
await peer.node.libp2p.handle(RAW_PROTOCOL, stream => {
  countUntilEnd(stream).then(rawBytes => { reply({ rawBytes }) }, err => { reply({ error: String(err) }) })
})

process.on('message', (call: RawPeerCall) => {
  handle(call).catch(err => { reply({ error: (err as Error).stack ?? String(err) }) })
})
reply({ ready: peer.node.addresses()[0]!.toString() })

async function handle (call: RawPeerCall): Promise<void> {
  switch (call.op) {
    case 'dial':
      await peer.node.libp2p.dial(multiaddr(call.addr))
      await waitForPeers(peer.node, 1, { timeoutMs: 30_000 })
      reply({ dialled: true })
      break
    case 'fetch':
      await peer.exchange.fetch(call.cid, { timeoutMs: 600_000 })
      reply({ fetched: true })
      break
    case 'stop':
      await peer.stop()
      process.exit(0)
  }
}
