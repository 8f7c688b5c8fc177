/**
 * `/pollen/peers/1.0.0`: peer exchange. The manager hears every member's
 * advert, so it knows who is in the swarm and where; an agent that knows only
 * the manager (a bootstrap address, no mDNS neighbours) asks it for a sample
 * of members and dials them. Agents do not relay each other's adverts (that
 * costs every agent N² messages), so this is how they find each other beyond
 * the LAN. Only the manager serves it, which also tells agents which of their
 * peers is the manager (libp2p's identify lists the protocols a peer serves).
 */
import * as lp from 'it-length-prefixed'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { Libp2p, PeerId, PeerInfo } from '@libp2p/interface'
import { GOSSIP_DEFAULTS } from '../constants.ts'
import { withDefaults } from '../core/options.ts'
import { askPeer, protocolHandler } from './protocol.ts'

/** A member as the exchange carries it. */
export interface MemberAddresses {
  readonly id: string
  readonly addresses: readonly string[]
}

/** Options of {@link createPeerExchange}; defaults in `GOSSIP_DEFAULTS`. */
export interface PeerExchangeOptions extends Partial<Pick<typeof GOSSIP_DEFAULTS, 'peersProtocol' | 'peersMaxEntries' | 'syncTimeoutMs'>> {
  /** Serve the protocol (the manager) with these members, chosen for `asker`; without it, only ask. */
  readonly provide?: (asker: PeerId, max: number) => readonly MemberAddresses[]
}

/** The peer exchange on one node. */
export interface PeerExchange {
  /** Register the handler (when serving); a no-op when started. */
  start (): Promise<void>
  /** Unregister it; a no-op when stopped. */
  stop (): Promise<void>
  /**
   * Ask `peer` for members. Entries that do not parse are dropped.
   * @throws when the peer does not serve the protocol, or on timeout/abort.
   */
  ask (peer: PeerId, signal?: AbortSignal): Promise<PeerInfo[]>
}

/** Most addresses kept per member, and most bytes per address. */
const MAX_ADDRESSES = 8
const MAX_ADDRESS_CHARS = 256

/** Build the peer exchange for a libp2p node. */
export function createPeerExchange (libp2p: Libp2p, options: PeerExchangeOptions = {}): PeerExchange {
  const opts = withDefaults({
    peersProtocol: GOSSIP_DEFAULTS.peersProtocol,
    peersMaxEntries: GOSSIP_DEFAULTS.peersMaxEntries,
    syncTimeoutMs: GOSSIP_DEFAULTS.syncTimeoutMs
  }, options)
  const maxBytes = opts.peersMaxEntries * (128 + MAX_ADDRESSES * (MAX_ADDRESS_CHARS + 8))
  const serving = protocolHandler(libp2p, opts.peersProtocol, async (stream, connection) => {
    try {
      const members = (options.provide?.(connection.remotePeer, opts.peersMaxEntries) ?? []).slice(0, opts.peersMaxEntries)
      const body = members.map(m => ({ id: m.id, addresses: m.addresses.filter(a => a.length <= MAX_ADDRESS_CHARS).slice(0, MAX_ADDRESSES) }))
      stream.send(lp.encode.single(new TextEncoder().encode(JSON.stringify(body))).subarray())
      await stream.close()
    } catch (err) {
      stream.abort(err as Error)
    }
  })

  return {
    async start () {
      if (options.provide != null) await serving.start()
    },
    async stop () {
      await serving.stop()
    },
    async ask (peer, signal) {
      return await askPeer(libp2p, peer, opts.peersProtocol, opts.syncTimeoutMs, signal, async stream => {
        await stream.close()
        for await (const frame of lp.decode(stream, { maxDataLength: maxBytes })) {
          return parseMembers(new TextDecoder().decode(frame.subarray()), opts.peersMaxEntries)
        }
        return []
      })
    }
  }
}

/** The members of an answer that parse (peer id, multiaddrs); the rest are dropped. */
function parseMembers (text: string, max: number): PeerInfo[] {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    return []
  }
  if (!Array.isArray(body)) return []
  return body.slice(0, max).flatMap((entry: unknown) => {
    const { id, addresses } = (entry ?? {}) as Partial<MemberAddresses>
    if (typeof id !== 'string' || !Array.isArray(addresses)) return []
    try {
      const multiaddrs = addresses.filter(a => typeof a === 'string').slice(0, MAX_ADDRESSES).flatMap(a => { try { return [multiaddr(a)] } catch { return [] } })
      return [{ id: peerIdFromString(id), multiaddrs }]
    } catch {
      return []
    }
  })
}
