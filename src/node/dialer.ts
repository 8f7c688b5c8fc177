/**
 * Outbound dialling policy of a swarm node: libp2p 3 does not dial the peers
 * its discovery modules find, nor keep bootstrap peers connected, so this does.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { CODE_P2P, multiaddr } from '@multiformats/multiaddr'
import type { Libp2p, Logger, PeerId, PeerInfo } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { InvalidOptionError } from '../core/errors.ts'

/** A bootstrap address and the peer id it names. */
export interface BootstrapPeer {
  readonly id: PeerId
  readonly addr: Multiaddr
}

/** Parses a bootstrap multiaddr; it must end in `/p2p/<peer id>`. */
export function parseBootstrapAddr (addr: string): BootstrapPeer {
  let ma: Multiaddr
  try {
    ma = multiaddr(addr)
  } catch (err) {
    throw new InvalidOptionError(`bootstrap address ${JSON.stringify(addr)} is not a multiaddr`, { cause: err })
  }
  const id = ma.getComponents().findLast(c => c.code === CODE_P2P)?.value
  if (id == null) throw new InvalidOptionError(`bootstrap address ${addr} has no /p2p/<peer id>`)
  try {
    return { id: peerIdFromString(id), addr: ma }
  } catch (err) {
    throw new InvalidOptionError(`bootstrap address ${addr} has an invalid peer id`, { cause: err })
  }
}

/** Settings of a {@link PeerDialer}. */
export interface PeerDialerInit {
  /** Discovered peers are dialled while the node has fewer connected peers than this. */
  connectionTarget: number
  bootstrap: readonly BootstrapPeer[]
  retryMinMs: number
  retryMaxMs: number
}

interface BootstrapState {
  readonly peer: BootstrapPeer
  failures: number
  timer?: NodeJS.Timeout
}

/**
 * Dials discovered peers up to the connection target and keeps bootstrap
 * peers connected, re-dialling them with jittered exponential backoff.
 */
export class PeerDialer {
  readonly #libp2p: Libp2p
  readonly #log: Logger
  readonly #target: number
  readonly #retryMinMs: number
  readonly #retryMaxMs: number
  readonly #bootstrap = new Map<string, BootstrapState>()
  readonly #dialing = new Set<string>()
  #started = false

  constructor (libp2p: Libp2p, init: PeerDialerInit) {
    this.#libp2p = libp2p
    this.#log = libp2p.logger.forComponent('pollen:node:dialer')
    this.#target = init.connectionTarget
    this.#retryMinMs = init.retryMinMs
    this.#retryMaxMs = init.retryMaxMs
    for (const peer of init.bootstrap) this.#bootstrap.set(peer.id.toString(), { peer, failures: 0 })
  }

  /** Starts dialling: bootstrap peers at once, discoveries as they come. Idempotent. */
  start (): void {
    if (this.#started) return
    this.#started = true
    this.#libp2p.addEventListener('peer:discovery', this.#onDiscovery)
    this.#libp2p.addEventListener('peer:disconnect', this.#onDisconnect)
    for (const state of this.#bootstrap.values()) void this.#dialBootstrap(state)
  }

  /** Stops dialling and cancels pending re-dials. Idempotent. */
  stop (): void {
    if (!this.#started) return
    this.#started = false
    this.#libp2p.removeEventListener('peer:discovery', this.#onDiscovery)
    this.#libp2p.removeEventListener('peer:disconnect', this.#onDisconnect)
    for (const state of this.#bootstrap.values()) {
      clearTimeout(state.timer)
      state.timer = undefined
      state.failures = 0
    }
  }

  /**
   * Dials a discovered peer unless it is this node, already connected or
   * being dialled, or the node already has (or is dialling) enough peers.
   * Called for every mDNS response, so a node that lost peers finds new ones.
   */
  onDiscovered (peer: PeerInfo): void {
    if (!this.#started || peer.id.equals(this.#libp2p.peerId)) return
    const key = peer.id.toString()
    if (this.#dialing.has(key) || this.#isConnected(peer.id)) return
    if (this.#libp2p.getPeers().length + this.#dialing.size >= this.#target) return
    this.#dialing.add(key)
    void this.#dialDiscovered(peer).finally(() => this.#dialing.delete(key))
  }

  readonly #onDiscovery = (evt: CustomEvent<PeerInfo>): void => { this.onDiscovered(evt.detail) }

  readonly #onDisconnect = (evt: CustomEvent<PeerId>): void => {
    const state = this.#bootstrap.get(evt.detail.toString())
    if (state != null) this.#scheduleBootstrap(state)
  }

  async #dialDiscovered (peer: PeerInfo): Promise<void> {
    try {
      // The discovery's own addresses may not be in the peer store yet (libp2p merges them asynchronously).
      if (peer.multiaddrs.length > 0) await this.#libp2p.peerStore.merge(peer.id, { multiaddrs: peer.multiaddrs })
      await this.#libp2p.dial(peer.id)
    } catch (err) {
      this.#log('dial of discovered peer %p failed - %e', peer.id, err)
    }
  }

  async #dialBootstrap (state: BootstrapState): Promise<void> {
    if (!this.#started) return
    if (this.#isConnected(state.peer.id)) {
      state.failures = 0
      return
    }
    try {
      await this.#libp2p.dial(state.peer.addr)
      state.failures = 0
    } catch (err) {
      this.#log('dial of bootstrap peer %a failed - %e', state.peer.addr, err)
      state.failures++
      this.#scheduleBootstrap(state)
    }
  }

  #scheduleBootstrap (state: BootstrapState): void {
    if (!this.#started || state.timer != null) return
    const ceiling = Math.min(this.#retryMaxMs, this.#retryMinMs * 2 ** Math.max(0, state.failures - 1))
    // Jitter spreads the re-dials of a whole swarm that lost the same seed.
    const delay = ceiling * (0.5 + Math.random() / 2)
    state.timer = setTimeout(() => {
      state.timer = undefined
      void this.#dialBootstrap(state)
    }, delay)
  }

  #isConnected (peer: PeerId): boolean {
    return this.#libp2p.getConnections(peer).length > 0
  }
}
