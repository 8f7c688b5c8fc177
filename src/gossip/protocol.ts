/** What the request/answer protocols of this folder (`/pollen/sync`, `/pollen/peers`) share. */
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'

/** A protocol handler that `start()` registers and `stop()` removes, both safe to call twice. */
export interface ProtocolHandler {
  start (): Promise<void>
  stop (): Promise<void>
}

/** Serve `protocol` on `libp2p` with `answer`, at most 4 inbound streams per connection. */
export function protocolHandler (libp2p: Libp2p, protocol: string, answer: (stream: Stream, connection: Connection) => Promise<void>): ProtocolHandler {
  let running = false
  return {
    async start () {
      if (running) return
      running = true
      await libp2p.handle(protocol, (stream, connection) => { void answer(stream, connection) }, { maxInboundStreams: 4 })
    },
    async stop () {
      if (!running) return
      running = false
      await libp2p.unhandle(protocol)
    }
  }
}

/**
 * Open a stream of `protocol` to `peer` and run `exchange` on it. The stream
 * is aborted when `signal` fires or `timeoutMs` passes, dial included.
 */
export async function askPeer<T> (libp2p: Libp2p, peer: PeerId, protocol: string, timeoutMs: number, signal: AbortSignal | undefined, exchange: (stream: Stream) => Promise<T>): Promise<T> {
  const deadline = AbortSignal.timeout(timeoutMs)
  const combined = signal == null ? deadline : AbortSignal.any([signal, deadline])
  const stream = await libp2p.dialProtocol(peer, protocol, { signal: combined })
  const onAbort = (): void => { stream.abort(new Error(`${protocol} timed out or was aborted`)) }
  combined.addEventListener('abort', onAbort, { once: true })
  try {
    return await exchange(stream)
  } finally {
    combined.removeEventListener('abort', onAbort)
  }
}
