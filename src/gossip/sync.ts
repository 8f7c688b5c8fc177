/**
 * `/pollen/sync/1.0.0`: how a late joiner (a device that was asleep or
 * offline when a task was announced) catches up. It opens a stream to a peer,
 * and the peer answers with the signed manager messages it holds (recent
 * tasks and stop orders), each length-prefixed, then closes. Any member can
 * answer, not only the manager, because the messages carry the manager's
 * signature: the asker checks each one exactly as the gossip validator does.
 */
import * as lp from 'it-length-prefixed'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import { GOSSIP_DEFAULTS } from '../constants.ts'
import { withDefaults } from '../core/options.ts'
import type { Signed } from '../core/task.ts'
import { decodeManagerMessage, encodeManagerMessage } from './codec.ts'
import { askPeer, protocolHandler } from './protocol.ts'

/** The request frame: a version byte, so later versions can ask for more. */
const REQUEST = Uint8Array.of(1)

/** The first frame of `frames`, or a timeout. */
async function first (frames: AsyncIterable<unknown>, timeoutMs: number): Promise<void> {
  const timeout = AbortSignal.timeout(timeoutMs)
  for await (const _ of frames) return
  if (timeout.aborted) throw new Error('no sync request in time')
}

/** Options of {@link createSync}; defaults in `GOSSIP_DEFAULTS`. */
export interface SyncOptions extends Partial<Pick<typeof GOSSIP_DEFAULTS, 'syncProtocol' | 'syncMaxMessages' | 'syncTimeoutMs' | 'maxManagerMessageBytes'>> {
  /** The messages this node hands to a peer that asks (newest last); at most `syncMaxMessages` are sent. */
  readonly provide: () => readonly Signed[]
}

/** The sync protocol on one node. */
export interface SyncService {
  /** Register the protocol handler; a no-op when started. */
  start (): Promise<void>
  /** Unregister it; a no-op when stopped. */
  stop (): Promise<void>
  /**
   * Ask `peer` for the messages it holds. Undecodable ones are dropped;
   * signatures are NOT checked here (use `checkManagerMessage`).
   * @throws when the peer does not speak the protocol, or on timeout/abort.
   */
  ask (peer: PeerId, signal?: AbortSignal): Promise<Signed[]>
}

/** Build the sync protocol for a libp2p node. */
export function createSync (libp2p: Libp2p, options: SyncOptions): SyncService {
  const opts = withDefaults({
    syncProtocol: GOSSIP_DEFAULTS.syncProtocol,
    syncMaxMessages: GOSSIP_DEFAULTS.syncMaxMessages,
    syncTimeoutMs: GOSSIP_DEFAULTS.syncTimeoutMs,
    maxManagerMessageBytes: GOSSIP_DEFAULTS.maxManagerMessageBytes
  }, options)

  const answer = async (stream: Stream): Promise<void> => {
    try {
      // Wait for the asker's request, so the answer never arrives before it reads.
      await first(lp.decode(stream, { maxDataLength: 64 }), opts.syncTimeoutMs)
      for (const signed of options.provide().slice(-opts.syncMaxMessages)) {
        const bytes = lp.encode.single(encodeManagerMessage(signed, { maxBytes: opts.maxManagerMessageBytes })).subarray()
        if (!stream.send(bytes)) await stream.onDrain({ signal: AbortSignal.timeout(opts.syncTimeoutMs) })
      }
      await stream.close()
    } catch (err) {
      stream.abort(err as Error)
    }
  }

  return {
    ...protocolHandler(libp2p, opts.syncProtocol, answer),
    async ask (peer, signal) {
      return await askPeer(libp2p, peer, opts.syncProtocol, opts.syncTimeoutMs, signal, async stream => {
        const messages: Signed[] = []
        const frames = lp.decode(stream, { maxDataLength: opts.maxManagerMessageBytes })
        stream.send(lp.encode.single(REQUEST).subarray())
        await stream.close()
        for await (const frame of frames) {
          try {
            messages.push(decodeManagerMessage(frame.subarray(), { maxBytes: opts.maxManagerMessageBytes }))
          } catch {}
          if (messages.length >= opts.syncMaxMessages) break
        }
        return messages
      })
    }
  }
}
