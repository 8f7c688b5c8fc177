import { peerIdFromString } from '@libp2p/peer-id'
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'
import { EXCHANGE_DEFAULTS, FETCH_DEFAULTS } from '../constants.ts'
import { ProtocolError, TimeoutError, parseManifestCid, withDefaults } from '../core/index.ts'
import { Bitfield } from './bitfield.ts'
import { ClientSession } from './client-session.ts'
import { Fetcher, type FetchContext, type FetchOptions, type FetchResult } from './fetcher.ts'
import { FrameStream } from './frame-stream.ts'
import { FrameType } from './frames.ts'
import { createTokenBucket, type TokenBucket } from './rate-limiter.ts'
import { Semaphore } from './semaphore.ts'
import { UploadBacklog } from './backlog.ts'
import { isOnLink, localNetworks } from './locality.ts'
import { ServerSession, type ServerContext } from './server.ts'
import { UNCHOKE_CHECK_MS, Unchoker } from './unchoke.ts'
import { Share } from './share.ts'
import type { ChunkStore } from './store.ts'

/**
 * Headers of one packet on an Ethernet link (Ethernet 14, IPv4 20, TCP 20
 * with timestamps 12) and the payload of a full one (MSS 1448): what a
 * link's rate is spent on beside the bytes written. Writes are not
 * coalesced (no Nagle), so a write is at least one packet.
 */
const PACKET_HEADER_BYTES = 66
const SEGMENT_PAYLOAD_BYTES = 1448
/** The receiver's TCP acknowledges at least every second full segment (delayed ACK), and every read of less on its own. */
const SEGMENTS_PER_ACK = 2

/** Options of {@link createChunkExchange}; defaults in EXCHANGE_DEFAULTS. */
export interface ChunkExchangeOptions extends Partial<typeof EXCHANGE_DEFAULTS> {
  readonly store: ChunkStore
  /** Defaults for every fetch started by this exchange (overridable per fetch). */
  readonly fetch?: Partial<typeof FETCH_DEFAULTS>
  /** How long a peer that sent bad data stays refused. @default 1 hour */
  readonly badPeerMs?: number
  /**
   * The node's connections (`SwarmNode` is one). Under an upload limit,
   * what the limit did not count already is charged to it: every write
   * (gossip, pings, reports, HAVEs, framing) with its packet headers, and
   * the acknowledgements TCP sends for every read (a header-only packet per
   * read, or per two full segments). So chunk data leaves room for the
   * rest of the link's traffic: with many peers reporting and asking, those
   * small packets take a good share of a slow uplink, and a link that gets
   * more than its rate drops packets.
   */
  readonly wire?: WireTap
  /**
   * Whether a peer is on one of this node's links (near) or behind a router
   * (far; see `FetchContext.isNear`). @default by the address of a
   * connection to it (locality.ts)
   */
  readonly isNear?: (peer: string) => boolean
}

/** The traffic of a node's connections, as the upload limit sees it. */
export interface WireTap {
  /** Call `listener` with the size of every write to a connection; returns the unsubscribe function. */
  onWireSent (listener: (bytes: number) => void): () => void
  /** Call `listener` with the size of every read from a connection; returns the unsubscribe function. */
  onWireReceived (listener: (bytes: number) => void): () => void
}

/** Counters of one exchange. */
export interface ExchangeStats {
  /** Chunk and manifest bytes this node uploaded. */
  readonly uploadedBytes: number
  /** Peers currently refused for bad data. */
  readonly badPeers: number
  /** Chunks accepted for upload and not yet sent (see EXCHANGE_DEFAULTS.maxQueuedUploads). */
  readonly queuedUploads: number
}

/** The `/pollen/chunks` protocol on one libp2p node: serves what the store holds, fetches packages. */
export interface ChunkExchange {
  start (): Promise<void>
  stop (): Promise<void>
  /** Download a package (manifest and chunks) into the store from the swarm; resumes from what is already stored. */
  fetch (manifestCid: string, options?: FetchOptions): Promise<FetchResult>
  /**
   * Serve a package held in the store. With `initial`, this node is the
   * package's origin: it sends every chunk once before sending any twice
   * (see Share.initialSeedHoldMs), which keeps its upload near one copy.
   */
  seed (manifestCid: string, options?: { initial?: boolean }): Promise<void>
  /** Bytes uploaded for one package. */
  uploadedBytesFor (manifestCid: string): number
  stats (): ExchangeStats
}

/** Build the chunk exchange for a libp2p node. Call `start()` to register the protocol. */
export function createChunkExchange (libp2p: Libp2p, options: ChunkExchangeOptions): ChunkExchange {
  return new Exchange(libp2p, options)
}

class Exchange implements ChunkExchange {
  readonly #libp2p: Libp2p
  readonly #store: ChunkStore
  readonly #opts: typeof EXCHANGE_DEFAULTS
  readonly #fetchDefaults: Partial<typeof FETCH_DEFAULTS>
  readonly #bucket: TokenBucket
  readonly #uploadSlots: Semaphore
  readonly #backlog: UploadBacklog
  readonly #shares = new Map<string, Share>()
  readonly #fetchers = new Map<string, Fetcher>()
  readonly #badPeers = new Map<string, number>()
  readonly #badPeerMs: number
  readonly #sessions = new Set<FrameStream>()
  readonly #manifestBacklog: UploadBacklog
  #uploadedBytes = 0
  #running = false
  readonly #wire: WireTap | undefined
  readonly #nearness: ((peer: string) => boolean) | undefined
  #unsubscribeWire: Array<() => void> = []
  /** What the node's connections carried since start (writes, their packet headers, acknowledgements of reads), and the bucket's count at start (see `wire`). */
  #wireBytes = 0
  #takenAtStart = 0

  constructor (libp2p: Libp2p, options: ChunkExchangeOptions) {
    this.#libp2p = libp2p
    this.#store = options.store
    this.#opts = withDefaults(EXCHANGE_DEFAULTS, options)
    this.#fetchDefaults = options.fetch ?? {}
    this.#badPeerMs = options.badPeerMs ?? 3_600_000
    this.#wire = options.wire
    this.#nearness = options.isNear
    this.#bucket = createTokenBucket({ bytesPerSecond: this.#opts.uploadBytesPerSecond })
    this.#uploadSlots = new Semaphore(this.#opts.maxConcurrentUploads)
    const rate = this.#opts.uploadBytesPerSecond
    /** Bytes sent in `ms` at the upload limit (no bound without one). */
    const within = (ms: number): number => Number.isFinite(rate) ? rate * ms / 1000 : Infinity
    this.#backlog = new UploadBacklog(this.#opts.maxQueuedUploads, within(this.#opts.maxQueuedUploadMs))
    this.#manifestBacklog = new UploadBacklog(Infinity, within(this.#opts.maxQueuedManifestMs))
  }

  async start (): Promise<void> {
    if (this.#running) return
    this.#running = true
    if (this.#wire !== undefined && Number.isFinite(this.#bucket.bytesPerSecond)) {
      this.#wireBytes = 0
      this.#takenAtStart = this.#bucket.taken
      this.#unsubscribeWire = [
        this.#wire.onWireSent(bytes => { this.#chargeWire(bytes + PACKET_HEADER_BYTES * Math.ceil(bytes / SEGMENT_PAYLOAD_BYTES)) }),
        this.#wire.onWireReceived(bytes => { this.#chargeWire(PACKET_HEADER_BYTES * Math.ceil(bytes / (SEGMENTS_PER_ACK * SEGMENT_PAYLOAD_BYTES))) })
      ]
    }
    await this.#libp2p.handle(this.#opts.protocol, (stream, connection) => { void this.#serve(stream, connection) }, {
      maxInboundStreams: this.#opts.maxInboundSessionsPerConnection,
      maxOutboundStreams: this.#opts.maxInboundSessionsPerConnection
    })
    this.#libp2p.addEventListener('peer:identify', this.#onIdentify)
  }

  async stop (): Promise<void> {
    if (!this.#running) return
    this.#running = false
    for (const unsubscribe of this.#unsubscribeWire) unsubscribe()
    this.#unsubscribeWire = []
    this.#libp2p.removeEventListener('peer:identify', this.#onIdentify)
    await this.#libp2p.unhandle(this.#opts.protocol)
    for (const session of this.#sessions) session.abort(new Error('exchange stopped'))
    for (const share of this.#shares.values()) share.unchoker?.stop()
    this.#sessions.clear()
  }

  async fetch (manifestCid: string, options: FetchOptions = {}): Promise<FetchResult> {
    parseManifestCid(manifestCid)
    if (this.#fetchers.has(manifestCid)) throw new ProtocolError(`already fetching ${manifestCid}`)
    const fetcher = new Fetcher(this.#fetchContext(manifestCid), { ...this.#fetchDefaults, ...options })
    this.#fetchers.set(manifestCid, fetcher)
    try {
      const running = fetcher.run()
      for (const peer of this.#libp2p.getPeers()) fetcher.addPeer(peer.toString())
      return await running
    } finally {
      this.#fetchers.delete(manifestCid)
    }
  }

  async seed (manifestCid: string, options: { initial?: boolean } = {}): Promise<void> {
    const share = this.#share(manifestCid)
    if (options.initial === true) {
      share.origin = true
      share.initialSeedHoldMs = this.#opts.initialSeedHoldMs
      share.repeatSeedHoldMs = this.#opts.repeatSeedHoldMs
      share.unchoker ??= this.#unchoker()
    }
    if (share.manifest !== undefined) return
    const manifest = await this.#store.getManifest(manifestCid)
    const have = new Bitfield(manifest.chunks.length)
    manifest.chunks.forEach((c, i) => { if (this.#store.has(c.cid)) have.set(i) })
    share.setManifest(manifest, have)
  }

  uploadedBytesFor (manifestCid: string): number {
    return this.#shares.get(manifestCid)?.uploadedBytes ?? 0
  }

  stats (): ExchangeStats {
    return { uploadedBytes: this.#uploadedBytes, badPeers: this.#badPeers.size, queuedUploads: this.#backlog.queued }
  }

  // --- serving --------------------------------------------------------------

  async #serve (stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString()
    const frames = new FrameStream(stream, this.#opts.maxFrameBytes)
    this.#sessions.add(frames)
    try {
      const incoming = frames.frames()
      const first = await withTimeout(incoming.next(), this.#opts.firstFrameTimeoutMs, 'no WANT frame')
      if (first.done === true || first.value.type !== FrameType.WANT) throw new ProtocolError('session must start with WANT')
      const cid = first.value.manifestCid
      parseManifestCid(cid)
      const share = this.#share(cid)
      if (share.manifest === undefined && this.#store.has(cid)) await this.seed(cid)
      this.#fetchers.get(cid)?.addPeer(peer)
      await new ServerSession(frames, share, this.#serverContext(peer)).run(incoming)
      await frames.close()
    } catch (err) {
      frames.abort(err as Error)
    } finally {
      this.#sessions.delete(frames)
    }
  }

  /**
   * Charge the upload limit with what the node's link carried beyond what
   * the limit counted (chunk pieces and manifests are counted before they
   * are written): `bytes` more went out, written or as packet headers.
   */
  #chargeWire (bytes: number): void {
    this.#wireBytes += bytes
    const uncounted = this.#wireBytes - (this.#bucket.taken - this.#takenAtStart)
    if (uncounted > 0) this.#bucket.charge(uncounted)
  }

  #unchoker (): Unchoker | undefined {
    const { originUnchokeSlots: slots, originTurnChunks: turnChunks, originTurnIdleMs: idleMs } = this.#opts
    return Number.isFinite(slots) ? new Unchoker({ slots, turnChunks, idleMs, checkMs: UNCHOKE_CHECK_MS }) : undefined
  }

  #serverContext (peer: string): ServerContext {
    return {
      store: this.#store,
      bucket: this.#bucket,
      uploadSlots: this.#uploadSlots,
      maxQueuedRequests: 64,
      backlog: this.#backlog,
      manifestBacklog: this.#manifestBacklog,
      onUploaded: bytes => { this.#uploadedBytes += bytes },
      isRefused: () => this.#isBadPeer(peer),
      peerHas: (cid, index) => this.#fetchers.get(cid)?.peerHas(peer, index) === true
    }
  }

  #share (cid: string): Share {
    let share = this.#shares.get(cid)
    if (share === undefined) {
      share = new Share(cid)
      this.#shares.set(cid, share)
    }
    return share
  }

  // --- fetching ---------------------------------------------------------------

  #fetchContext (cid: string): FetchContext {
    return {
      store: this.#store,
      share: this.#share(cid),
      openSession: async (peer, signal) => await this.#openSession(peer, signal),
      reportBadPeer: (peer) => { this.#badPeers.set(peer, Date.now() + this.#badPeerMs) },
      isBadPeer: peer => this.#isBadPeer(peer),
      rttOf: peer => this.#rttOf(peer),
      connectedPeers: () => this.#libp2p.getPeers().map(p => p.toString()),
      selfId: this.#libp2p.peerId.toString(),
      isNear: peer => this.#nearness?.(peer) ?? this.#isNear(peer),
      log: this.#libp2p.logger.forComponent('pollen:chunks:fetch')
    }
  }

  async #openSession (peer: string, signal: AbortSignal): Promise<ClientSession> {
    const stream = await this.#libp2p.dialProtocol(peerIdFromString(peer), this.#opts.protocol, { signal })
    const frames = new FrameStream(stream, this.#opts.maxFrameBytes)
    this.#sessions.add(frames)
    stream.addEventListener('close', () => { this.#sessions.delete(frames) }, { once: true })
    return new ClientSession(peer, frames)
  }

  readonly #onIdentify = (evt: CustomEvent<{ peerId: PeerId, protocols: string[] }>): void => {
    if (!evt.detail.protocols.includes(this.#opts.protocol)) return
    for (const fetcher of this.#fetchers.values()) fetcher.addPeer(evt.detail.peerId.toString())
  }

  #isBadPeer (peer: string): boolean {
    const until = this.#badPeers.get(peer)
    if (until === undefined) return false
    if (until > Date.now()) return true
    this.#badPeers.delete(peer)
    return false
  }

  /** On one of our links by the address of a connection to it; near when unknown (no preference: as before locality). */
  #isNear (peer: string): boolean {
    const ips = this.#libp2p.getConnections(peerIdFromString(peer))
      .map(c => c.remoteAddr.getComponents().find(p => p.name === 'ip4' || p.name === 'ip6')?.value)
      .filter((ip): ip is string => ip !== undefined)
    if (ips.length === 0) return true
    const networks = localNetworks()
    return ips.some(ip => isOnLink(ip, networks))
  }

  #rttOf (peer: string): number | undefined {
    const rtts = this.#libp2p.getConnections(peerIdFromString(peer)).map(c => c.rtt).filter((r): r is number => r !== undefined)
    return rtts.length === 0 ? undefined : Math.min(...rtts)
  }
}

/** Reject with TimeoutError when `promise` does not settle within `ms`. */
async function withTimeout<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new TimeoutError(`${what} within ${ms} ms`)) }, ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}
