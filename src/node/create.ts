/**
 * The swarm node: a libp2p 3 host configured for Pollen (TCP, Noise, yamux,
 * identify, mDNS, gossipsub, and the ping protocol served by the liveness
 * monitor) plus the dialling libp2p leaves to us.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { GossipSub, GossipsubOpts } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import type { Libp2p, PeerId, PeerInfo, PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Libp2pOptions } from 'libp2p'
import { NODE_DEFAULTS } from '../constants.ts'
import { AbortError, InvalidOptionError, TimeoutError } from '../core/errors.ts'
import { PeerDialer, parseBootstrapAddr } from './dialer.ts'
import { ConnectionLiveness } from './liveness.ts'
import { loadOrCreatePrivateKey } from './identity.ts'
import { quietMdns } from './mdns.ts'
import { TrafficCounter, type TrafficSnapshot } from './traffic.ts'
import { deferYamuxWindowUpdates } from './yamux-window.ts'
import type { BootstrapPeer } from './dialer.ts'

/** Services every swarm node runs, plus any extra ones passed in {@link SwarmNodeOptions.services}. */
export interface SwarmServices {
  identify: Identify
  pubsub: GossipSub
  [name: string]: unknown
}

/** The libp2p node inside a {@link SwarmNode}. */
export type SwarmLibp2p = Libp2p<SwarmServices>

/** Options of {@link createSwarmNode}; defaults come from `NODE_DEFAULTS`. */
export interface SwarmNodeOptions {
  /** Directory holding the node's key (created if missing). Without it (and without `privateKey`) the node gets an ephemeral key. */
  dataDir?: string
  /** Identity to use; takes precedence over `dataDir`. */
  privateKey?: PrivateKey
  /** Multiaddrs to listen on. */
  listen?: string[]
  /** Multiaddrs ending in `/p2p/<id>`: dialled at start and re-dialled (with backoff) whenever disconnected, for peers beyond the LAN. */
  bootstrap?: string[]
  /** Discover (and dial) peers on the LAN with mDNS. @default true */
  mdns?: boolean
  /** mDNS service name; nodes only discover nodes that use the same one. */
  mdnsServiceTag?: string
  /** Discovered peers are dialled until the node has this many connected peers. */
  connectionTarget?: number
  /** Hard cap on open connections. */
  maxConnections?: number
  /** Inbound connections accepted per remote IP per second. */
  inboundConnectionThreshold?: number
  /** How often each connection is pinged (see `ConnectionLiveness`). */
  pingIntervalMs?: number
  /** A ping unanswered this long has failed (at most the interval). */
  pingTimeoutMs?: number
  /** A connection is aborted after this many failed pings in a row. */
  maxPingFailures?: number
  /** Extra libp2p services, by name (`identify`, `ping` and `pubsub` are taken). */
  services?: Record<string, (components: any) => unknown>
  /** Peer-score parameters merged into gossipsub's (e.g. `gossipScoreParams(swarm).scoreParams` from `src/gossip`). */
  pubsubScoreParams?: Partial<NonNullable<GossipsubOpts['scoreParams']>>
  /** Passed through to libp2p (e.g. `@libp2p/pnet`'s `preSharedKey(...)`). */
  connectionProtector?: Libp2pOptions['connectionProtector']
  /** Aborting it stops the node (or makes creation fail with `AbortError`). */
  signal?: AbortSignal
}

/** A started libp2p host configured for Pollen. */
export interface SwarmNode {
  readonly libp2p: SwarmLibp2p
  readonly peerId: PeerId
  /** Addresses the node listens on, each ending in `/p2p/<peer id>`. */
  addresses(): Multiaddr[]
  /** Starts the node; a no-op when it runs. */
  start(): Promise<void>
  /** Stops the node and closes its connections; a no-op when it is stopped. */
  stop(): Promise<void>
  /**
   * Report a peer found by other means than mDNS (a gossip advert, say): it
   * is dialled under the same policy as mDNS discoveries (connection target).
   */
  discovered(peer: PeerInfo): void
  /**
   * Shut a peer out for good (a revoked member): its connections are closed
   * and every later connection to or from it is refused by the gater.
   */
  deny(peer: PeerId | string): Promise<void>
  /** Has {@link deny} shut this peer out? */
  isDenied(peer: PeerId | string): boolean
  /** Bytes this node has sent, by protocol, and on the wire in all (see {@link TrafficCounter}). */
  traffic(): TrafficSnapshot
  /** Call `listener` with the size of every write to any connection; returns the unsubscribe function. */
  onWireSent(listener: (bytes: number) => void): () => void
  /** Call `listener` with the size of every read from any connection; returns the unsubscribe function. */
  onWireReceived(listener: (bytes: number) => void): () => void
}

const RESERVED_SERVICES = new Set(['identify', 'ping', 'pubsub'])

/**
 * Gossipsub settings. Scoring stays on except P6 (IP colocation): its default
 * (weight -5 above 10 peers per IP) graylists every peer once a dozen share an
 * address, and a swarm of devices behind one NAT, or on one host, is normal
 * for Pollen. Sybil resistance comes from the swarm being a trusted fleet
 * (and, later, a private network key), not from IP diversity.
 */
const GOSSIPSUB_OPTIONS: Partial<GossipsubOpts> = {
  emitSelf: false,
  allowPublishToZeroTopicPeers: true,
  scoreParams: { IPColocationFactorWeight: 0 }
}

/**
 * Creates and starts a swarm node.
 *
 * @throws {InvalidOptionError} an option is out of range or an address does not parse.
 * @throws {KeyFileError} the key in `dataDir` is unreadable, malformed or too permissive.
 * @throws {AbortError} `signal` was aborted before the node was up.
 */
export async function createSwarmNode (options: SwarmNodeOptions = {}): Promise<SwarmNode> {
  throwIfAborted(options.signal)
  const bootstrap = validateOptions(options)
  const privateKey = await resolvePrivateKey(options)
  let dialer: PeerDialer | undefined
  const denied = new Set<string>()
  const target = options.connectionTarget ?? NODE_DEFAULTS.connectionTarget
  let libp2p: SwarmLibp2p | undefined
  const discovery: DiscoveryHooks = {
    onPeer: peer => dialer?.onDiscovered(peer),
    wantsPeers: () => libp2p == null || libp2p.getPeers().length < target
  }
  const traffic = new TrafficCounter()
  deferYamuxWindowUpdates()
  libp2p = await createLibp2p<SwarmServices>({
    ...libp2pOptions(options, privateKey, discovery),
    connectionGater: deniedPeersGater(denied),
    metrics: () => traffic.metrics()
  })
  dialer = new PeerDialer(libp2p, {
    connectionTarget: target,
    bootstrap,
    retryMinMs: NODE_DEFAULTS.bootstrapRetryMinMs,
    retryMaxMs: NODE_DEFAULTS.bootstrapRetryMaxMs
  })
  const liveness = new ConnectionLiveness(libp2p, {
    intervalMs: options.pingIntervalMs ?? NODE_DEFAULTS.pingIntervalMs,
    timeoutMs: options.pingTimeoutMs ?? NODE_DEFAULTS.pingTimeoutMs,
    maxFailures: options.maxPingFailures ?? NODE_DEFAULTS.maxPingFailures,
    lastReadAt: conn => traffic.lastReadAt(conn)
  })
  const node = new Swarm(libp2p, dialer, liveness, denied, traffic)
  options.signal?.addEventListener('abort', () => {
    node.stop().catch(err => { libp2p.logger.forComponent('pollen:node').error('stop on abort failed - %e', err) })
  }, { once: true })
  await node.start()
  if (options.signal?.aborted === true) {
    await node.stop()
    throwIfAborted(options.signal)
  }
  return node
}

/** Options of {@link waitForPeers}. */
export interface WaitForPeersOptions {
  signal?: AbortSignal
  /** Give up (with `TimeoutError`) after this long; without it, wait until aborted. */
  timeoutMs?: number
}

/**
 * Resolves once the node is connected to at least `count` distinct peers.
 *
 * @throws {TimeoutError} `timeoutMs` passed first.
 * @throws {AbortError} `signal` was aborted first.
 */
export async function waitForPeers (node: SwarmNode, count: number, options: WaitForPeersOptions = {}): Promise<void> {
  const { libp2p } = node
  const enough = (): boolean => libp2p.getPeers().length >= count
  if (enough()) return
  throwIfAborted(options.signal, 'waiting for peers')
  await new Promise<void>((resolve, reject) => {
    // 'peer:connect', not 'connection:open': the connection manager adds a
    // connection to getPeers() in its own 'connection:open' listener, which
    // may run after ours; 'peer:connect' is dispatched after that.
    const onConnect = (): void => { if (enough()) finish() }
    const onAbort = (): void => { finish(new AbortError('waiting for peers was aborted')) }
    const timer = options.timeoutMs == null
      ? undefined
      : setTimeout(() => {
        finish(new TimeoutError(`connected to ${libp2p.getPeers().length} of ${count} peers after ${options.timeoutMs} ms`))
      }, options.timeoutMs)
    function finish (err?: Error): void {
      clearTimeout(timer)
      libp2p.removeEventListener('peer:connect', onConnect)
      options.signal?.removeEventListener('abort', onAbort)
      if (err == null) resolve()
      else reject(err)
    }
    libp2p.addEventListener('peer:connect', onConnect)
    options.signal?.addEventListener('abort', onAbort, { once: true })
  })
}

class Swarm implements SwarmNode {
  readonly libp2p: SwarmLibp2p
  readonly peerId: PeerId
  readonly #dialer: PeerDialer
  readonly #liveness: ConnectionLiveness
  readonly #denied: Set<string>
  readonly #traffic: TrafficCounter
  /** Serialises start/stop so overlapping calls do not interleave. */
  #queue: Promise<void> = Promise.resolve()

  constructor (libp2p: SwarmLibp2p, dialer: PeerDialer, liveness: ConnectionLiveness, denied: Set<string>, traffic: TrafficCounter) {
    this.libp2p = libp2p
    this.peerId = libp2p.peerId
    this.#dialer = dialer
    this.#liveness = liveness
    this.#denied = denied
    this.#traffic = traffic
  }

  traffic (): TrafficSnapshot {
    return this.#traffic.snapshot()
  }

  onWireSent (listener: (bytes: number) => void): () => void {
    return this.#traffic.onWire(listener)
  }

  onWireReceived (listener: (bytes: number) => void): () => void {
    return this.#traffic.onWireReceived(listener)
  }

  async deny (peer: PeerId | string): Promise<void> {
    const id = peer.toString()
    if (id === this.peerId.toString()) return
    this.#denied.add(id)
    const connections = this.libp2p.getConnections().filter(c => c.remotePeer.toString() === id)
    await Promise.all(connections.map(async c => { await c.close().catch(() => { c.abort(new Error('peer denied')) }) }))
  }

  isDenied (peer: PeerId | string): boolean {
    return this.#denied.has(peer.toString())
  }

  addresses (): Multiaddr[] {
    return this.libp2p.getMultiaddrs()
  }

  discovered (peer: PeerInfo): void {
    this.#dialer.onDiscovered(peer)
  }

  async start (): Promise<void> {
    await this.#enqueue(async () => {
      await this.libp2p.start()
      this.#dialer.start()
      await this.#liveness.start()
    })
  }

  async stop (): Promise<void> {
    await this.#enqueue(async () => {
      this.#dialer.stop()
      await this.#liveness.stop()
      await this.libp2p.stop()
    })
  }

  async #enqueue (step: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(step)
    this.#queue = run.catch(() => {})
    await run
  }
}

/** What mDNS discovery needs from the node, which exists only after libp2p is created. */
interface DiscoveryHooks {
  readonly onPeer: (peer: PeerInfo) => void
  readonly wantsPeers: () => boolean
}

function libp2pOptions (options: SwarmNodeOptions, privateKey: PrivateKey, discovery: DiscoveryHooks): Libp2pOptions<SwarmServices> {
  return {
    start: false,
    privateKey,
    addresses: { listen: [...(options.listen ?? NODE_DEFAULTS.listen)] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux({ keepAliveInterval: NODE_DEFAULTS.yamuxKeepAliveMs })],
    peerDiscovery: (options.mdns ?? true)
      ? [quietMdns({
          serviceTag: options.mdnsServiceTag ?? NODE_DEFAULTS.mdnsServiceTag,
          busyIntervalMs: NODE_DEFAULTS.mdnsIntervalMs,
          quietIntervalMs: NODE_DEFAULTS.mdnsQuietIntervalMs,
          busyPerHostMs: NODE_DEFAULTS.mdnsIntervalPerHostMs,
          quietPerHostMs: NODE_DEFAULTS.mdnsQuietIntervalPerHostMs,
          refreshMs: NODE_DEFAULTS.mdnsRefreshMs,
          answerGapMs: NODE_DEFAULTS.mdnsAnswerGapMs,
          answerGapPerHostMs: NODE_DEFAULTS.mdnsAnswerGapPerHostMs,
          ...discovery
        })]
      : [],
    connectionManager: {
      maxConnections: options.maxConnections ?? NODE_DEFAULTS.maxConnections,
      inboundConnectionThreshold: options.inboundConnectionThreshold ?? NODE_DEFAULTS.inboundConnectionThreshold,
      maxIncomingPendingConnections: NODE_DEFAULTS.maxIncomingPendingConnections,
      dialTimeout: NODE_DEFAULTS.dialTimeoutMs
    },
    // Replaced by ConnectionLiveness, which tolerates a late ping.
    connectionMonitor: { enabled: false },
    connectionProtector: options.connectionProtector,
    services: {
      ...options.services,
      identify: identify(),
      pubsub: gossipsub({ ...GOSSIPSUB_OPTIONS, scoreParams: { ...GOSSIPSUB_OPTIONS.scoreParams, ...options.pubsubScoreParams } })
    }
  }
}

/** A connection gater refusing every connection to or from a denied peer, before any stream opens. */
function deniedPeersGater (denied: ReadonlySet<string>): NonNullable<Libp2pOptions['connectionGater']> {
  const deny = (peer: PeerId): boolean => denied.has(peer.toString())
  return {
    denyDialPeer: deny,
    denyInboundEncryptedConnection: deny,
    denyOutboundEncryptedConnection: deny,
    denyInboundUpgradedConnection: deny,
    denyOutboundUpgradedConnection: deny
  }
}

async function resolvePrivateKey (options: SwarmNodeOptions): Promise<PrivateKey> {
  if (options.privateKey != null) return options.privateKey
  if (options.dataDir != null) return await loadOrCreatePrivateKey(options.dataDir)
  return await generateKeyPair('Ed25519')
}

/** Checks the options and returns the parsed bootstrap peers. */
function validateOptions (options: SwarmNodeOptions): BootstrapPeer[] {
  checkInteger('connectionTarget', options.connectionTarget, 0)
  checkInteger('maxConnections', options.maxConnections, 1)
  checkInteger('inboundConnectionThreshold', options.inboundConnectionThreshold, 1)
  checkInteger('pingIntervalMs', options.pingIntervalMs, 1)
  checkInteger('pingTimeoutMs', options.pingTimeoutMs, 1)
  checkInteger('maxPingFailures', options.maxPingFailures, 1)
  for (const addr of options.listen ?? []) {
    try {
      multiaddr(addr)
    } catch (err) {
      throw new InvalidOptionError(`listen address ${JSON.stringify(addr)} is not a multiaddr`, { cause: err })
    }
  }
  for (const name of Object.keys(options.services ?? {})) {
    if (RESERVED_SERVICES.has(name)) throw new InvalidOptionError(`service name ${name} is reserved`)
  }
  return (options.bootstrap ?? []).map(parseBootstrapAddr)
}

function checkInteger (name: string, value: number | undefined, min: number): void {
  if (value != null && !(Number.isSafeInteger(value) && value >= min)) {
    throw new InvalidOptionError(`${name} must be an integer >= ${min}, got ${value}`)
  }
}

function throwIfAborted (signal: AbortSignal | undefined, what = 'swarm node creation'): void {
  if (signal?.aborted === true) throw new AbortError(`${what} was aborted`, { cause: signal.reason })
}
