/**
 * yamux window updates as go-yamux sends them: once half a stream's
 * receive window is used, not after every data frame.
 *
 * `@chainsafe/libp2p-yamux` (8.x) answers every data frame it receives
 * with a WINDOW_UPDATE: a 12-byte frame that Noise makes a 30-byte message
 * and TCP a packet of its own, 96 bytes on an Ethernet link. On a slow
 * uplink those packets cost more than their bytes suggest: the manager of
 * 50 agents answered each of their reports with one, and an agent each
 * 4 KiB piece of a chunk it received. With the 256 KiB window a sender
 * still has at least 128 KiB of credit, far more than a slow link's
 * bandwidth-delay product, and the window still grows as yamux grows it
 * (that happens inside the update, which now runs less often).
 *
 * This patches the library's stream class once (like the mDNS answer
 * coalescing in `mdns.ts`, it wraps an internal, pinned by the lock file and
 * by a test).
 */
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'

/** The fields of a yamux stream the rule reads (not in its public typings). */
interface WindowState {
  state: StreamState
  recvWindow: number
  recvWindowCapacity: number
}

let applied = false

/** Install the rule (idempotent). */
export function deferYamuxWindowUpdates (): void {
  if (applied) return
  applied = true
  const prototype = YamuxStream.prototype as unknown as { sendWindowUpdate: (this: WindowState) => void }
  const sendWindowUpdate = prototype.sendWindowUpdate
  prototype.sendWindowUpdate = function (this: WindowState) {
    // SYN and ACK flags still go out at once: only a bare update waits.
    const bare = this.state === StreamState.SYNSent || this.state === StreamState.Established || this.state === StreamState.Finished
    if (bare && this.recvWindowCapacity > this.recvWindow / 2) return
    sendWindowUpdate.call(this)
  }
}
