import { Bitfield } from './bitfield.ts'
import { PeerState } from './peer-state.ts'
import { chunkBuffers } from './buffer-pool.ts'
import { hashId, mix } from './locality.ts'
import { rarestFirst, viewWith, type InflightRequest, type PeerView, type PolicyInput, type SelectionPolicy } from './policy.ts'
import { withTypicalThroughput } from './typical-throughput.ts'
import type { ClientSession, ClientSessionHandler, HaveMap } from './client-session.ts'
import type { Share } from './share.ts'
import type { ChunkStore } from './store.ts'
import type { Uint8ArrayList } from 'uint8arraylist'
import type { Logger } from '@libp2p/interface'
import { FETCH_DEFAULTS } from '../constants.ts'
import {
  AbortError, ChunkHashMismatchError, FetchFailedError, ProtocolError, TimeoutError,
  decodeManifest, manifestCidOf, withDefaults, type Manifest
} from '../core/index.ts'

/** Progress of one fetch, emitted at most every `progressIntervalMs` and once at the end. */
export interface FetchProgress {
  readonly manifestCid: string
  readonly chunksDone: number
  readonly chunksTotal: number
  readonly bytesDone: number
  readonly bytesTotal: number
  /** Peers with an open session. */
  readonly peers: number
}

/** Tunables of one fetch; defaults in FETCH_DEFAULTS. */
export interface FetchOptions extends Partial<typeof FETCH_DEFAULTS> {
  readonly signal?: AbortSignal
  /** Give up after this long in total. @default no overall limit (stall detection still applies) */
  readonly timeoutMs?: number
  readonly onProgress?: (progress: FetchProgress) => void
  /** Piece selection. @default rarestFirst */
  readonly policy?: SelectionPolicy
  /** Clock in ms. @default performance.now */
  readonly now?: () => number
  /** Random source for tie-breaks. @default Math.random */
  readonly random?: () => number
}

/** What a completed fetch did. */
export interface FetchResult {
  readonly manifestCid: string
  readonly manifest: Manifest
  /** Chunk bytes received and stored by this fetch (0 when everything was already here). */
  readonly fetchedBytes: number
  /** Chunk bytes received for chunks we already had (end game, late arrivals). */
  readonly duplicateBytes: number
  /** Requests given up for taking over `requestTimeoutMs` (and asked again, elsewhere or later). */
  readonly timedOutRequests: number
  /** Far peers were opened to every chunk after an idle spell (see `Fetcher`'s peer views): the site's own sharing stalled. */
  readonly farOpened: boolean
  /** Chunk bytes received per peer id. */
  readonly bytesByPeer: Readonly<Record<string, number>>
  readonly seconds: number
}

/** What the fetcher needs from the exchange that runs it. */
export interface FetchContext {
  readonly store: ChunkStore
  readonly share: Share
  openSession (peer: string, signal: AbortSignal): Promise<ClientSession>
  /** Penalise a peer node-wide (bad data). */
  reportBadPeer (peer: string, reason: Error): void
  isBadPeer (peer: string): boolean
  rttOf (peer: string): number | undefined
  /** Peers currently connected (sessions are (re)opened with them). */
  connectedPeers (): string[]
  /** This node's peer id. */
  readonly selfId: string
  /** Whether a peer is on one of this node's links (its LAN) rather than behind a router. */
  isNear (peer: string): boolean
  /** Trace of the fetch: declines, timeouts, suspensions and bans, and a state line every 5 s; `DEBUG=pollen:chunks:fetch` turns it on. */
  readonly log?: Logger
}

type Limits = typeof FETCH_DEFAULTS

/**
 * How often connected peers without a session are offered one: sessions end
 * when a stream idles out or a peer reconnects, and peers can come and go
 * without an identify event reaching the fetcher.
 */
const PEER_SCAN_INTERVAL_MS = 5_000

/** The driver's timer period. */
const TICK_MS = 200

/** Least time between two state lines of the trace (`FetchContext.log`). */
const TRACE_INTERVAL_MS = 5_000

/** Share of the event-loop lag estimate kept per tick (it decays by the rest). */
const LAG_DECAY = 0.8

/**
 * Chunk bytes requested and not yet received over every fetch of this
 * process, as each last counted its own (see `#requestBudget`). Fetches
 * share the process's CPU: requested bytes beyond what it can take in
 * only wait in buffers, ahead of everything else the node must answer.
 */
const processInflight = { bytes: 0 }

/** Chunk bytes requested and not yet received over every fetch of this process (as each last counted them). */
export function inflightBytesInProcess (): number {
  return processInflight.bytes
}

/** Whether a far peer may be asked for a chunk (per chunk index, worked out once per policy run): not yet known, yes, no. */
const FAR_UNKNOWN = 0
const FAR_YES = 1
const FAR_NO = 2

/**
 * Drives one package download: keeps a session with every peer, feeds what
 * they say to the selection policy, sends the requests it chooses, verifies
 * and stores every chunk, and handles timeouts, rejections, bad peers and
 * departures. Stored chunks are served to others at once (via the share).
 */
export class Fetcher implements ClientSessionHandler {
  readonly #ctx: FetchContext
  readonly #limits: Limits
  readonly #options: FetchOptions
  readonly #policy: SelectionPolicy
  readonly #now: () => number
  readonly #random: () => number
  readonly #peers = new Map<string, PeerState>()
  readonly #inflight = new Map<number, Array<{ peer: string, since: number, started: boolean }>>()
  readonly #abort = new AbortController()
  readonly #done = Promise.withResolvers<FetchResult>()
  readonly #started: number
  #missing: number[] = []
  /** Chunks received and being verified/written: neither missing nor requestable. */
  readonly #storing = new Set<number>()
  #fetchedBytes = 0
  #duplicateBytes = 0
  #timedOutRequests = 0
  #manifestAskedFrom: string | undefined
  #manifestAskedAt = 0
  #stallSince: number | undefined
  #lastProgress = -Infinity
  #lastPeerScan = 0
  #lastTrace = -Infinity
  #scheduled = false
  #timer: ReturnType<typeof setInterval> | undefined
  readonly #selfHash: number
  /** Since when nothing is in flight or being stored (undefined: busy). */
  #idleSince: number | undefined
  /** Far peers may be asked for any chunk they hold: set after an idle spell of `farGraceMs`. */
  #farOpen = false
  /** When the timer last fired, and a decaying estimate of how late it fires (this host's event-loop lag). */
  #lastTick: number | undefined
  #lagMs = 0
  /** This fetch's share of {@link processInflight}, as last counted. */
  #countedInflightBytes = 0

  constructor (ctx: FetchContext, options: FetchOptions = {}) {
    this.#ctx = ctx
    this.#options = options
    this.#limits = withDefaults(FETCH_DEFAULTS, options)
    this.#policy = options.policy ?? rarestFirst
    this.#now = options.now ?? (() => performance.now())
    this.#random = options.random ?? Math.random
    this.#started = this.#now()
    this.#lastPeerScan = this.#started
    this.#selfHash = hashId(ctx.selfId)
  }

  get manifestCid (): string { return this.#ctx.share.cid }
  get done (): boolean { return this.#ctx.share.have?.complete === true }

  /** Run to completion. Rejects with FetchFailedError, TimeoutError or AbortError. */
  async run (): Promise<FetchResult> {
    const { signal, timeoutMs } = this.#options
    const onAbort = (): void => { this.#fail(new AbortError('fetch aborted')) }
    if (signal?.aborted === true) onAbort()
    signal?.addEventListener('abort', onAbort, { once: true })
    const deadline = timeoutMs === undefined ? undefined : setTimeout(() => { this.#fail(new TimeoutError(`fetch of ${this.manifestCid} took over ${timeoutMs} ms`)) }, timeoutMs)
    this.#timer = setInterval(() => { this.#tick() }, TICK_MS)
    try {
      if (this.#ctx.share.manifest !== undefined) this.#onManifestKnown()
      else await this.#loadLocalManifest()
      return await this.#done.promise
    } finally {
      signal?.removeEventListener('abort', onAbort)
      clearTimeout(deadline)
      clearInterval(this.#timer)
      processInflight.bytes -= this.#countedInflightBytes
      this.#countedInflightBytes = 0
      this.#abort.abort()
      await this.#closeSessions()
    }
  }

  /** Open a session with `peer` unless one exists (or it is banned for good). */
  addPeer (peer: string): void {
    if (this.#abort.signal.aborted || this.#ctx.isBadPeer(peer)) return
    const state = this.#peer(peer)
    if (state.session !== undefined || state.opening || state.bannedForGood) return
    state.opening = true
    this.#ctx.openSession(peer, this.#abort.signal).then(session => {
      if (this.#abort.signal.aborted) { session.abort(new AbortError('fetch over')); return }
      state.session = session
      state.rttMs = this.#ctx.rttOf(peer)
      state.near = this.#ctx.isNear(peer)
      void session.run(this.manifestCid, this)
    }).catch(() => {
      // peer gone or does not speak the protocol: nothing to do
    }).finally(() => { state.opening = false })
  }

  // --- ClientSessionHandler -------------------------------------------------

  onHaveMap (peer: string, map: HaveMap): void {
    const state = this.#peer(peer)
    state.knowsManifest = map.known
    state.lastResort = map.origin
    // Requests that crossed the choke were declined: a peer that lets us ask again is not busy.
    if (state.choked && !map.choked) state.busyUntil = 0
    state.choked = map.choked
    state.reserved = map.reserved
    if (!map.known) return
    state.lastHeard = this.#now()
    if (this.#ctx.share.manifest === undefined) {
      state.pendingBits = Uint8Array.from(map.bits)
      this.#askForManifest()
      return
    }
    this.#applyBits(state, map.bits)
  }

  onHave (peer: string, index: number): void {
    const state = this.#peer(peer)
    if (state.remoteHave === undefined) return
    if (index >= state.remoteHave.length) { this.#penalise(state, new Error(`HAVE ${index} out of range`), true); return }
    state.remoteHave.set(index)
    state.lastHeard = this.#now()
    state.rejected.delete(index)
    // As the simulator: a HAVE of a chunk held, being stored or asked for could at most move
    // a request, which the next tick does (the policy was 13 % of an agent's CPU at N = 50).
    if (this.#wants(index)) this.#schedule()
  }

  /** Whether `peer` is known to hold chunk `index` (from its have-map and HAVEs): it need not hear that we have it. */
  peerHas (peer: string, index: number): boolean {
    return this.#peers.get(peer)?.remoteHave?.has(index) === true
  }

  /** Missing, not being stored and not asked for. */
  #wants (index: number): boolean {
    return this.#ctx.share.have?.has(index) === false && !this.#storing.has(index) && !this.#inflight.has(index)
  }

  onData (peer: string, index: number, offset: number, data: Uint8Array | Uint8ArrayList): void {
    const state = this.#peer(peer)
    const ref = this.#ctx.share.manifest?.chunks[index]
    if (ref === undefined) { this.#penalise(state, new ProtocolError(`DATA for chunk ${index} out of range`), true); return }
    if (this.#ctx.share.have?.has(index) === true || this.#storing.has(index)) {
      state.partials.delete(index)
      this.#duplicateBytes += data.byteLength
      return
    }
    if (offset === 0) this.#markStarted(peer, index)
    let chunk: Uint8Array | undefined
    try {
      chunk = state.assemble(index, offset, data, ref.size)
    } catch (err) {
      this.#penalise(state, err as Error, true)
      return
    }
    if (chunk === undefined) return
    const request = this.#takeRequest(state, index)
    if (request !== undefined) state.recordDelivery(chunk.byteLength, request.since, this.#now(), this.#limits.ewmaAlpha)
    this.#store(state, index, ref.cid, chunk)
  }

  onReject (peer: string, index: number): void {
    const state = this.#peer(peer)
    this.#ctx.log?.('%s: chunk %d declined by %s', this.manifestCid, index, peer)
    this.#takeRequest(state, index)
    state.rejected.set(index, this.#now())
    state.declined(this.#limits.declineBackoffMs, this.#limits.maxDeclineBackoffMs)
    this.#schedule()
  }

  onManifestData (peer: string, data: Uint8Array): void {
    const state = this.#peer(peer)
    if (this.#ctx.share.manifest !== undefined) return
    this.#manifestAskedFrom = undefined
    if (manifestCidOf(data).toString() !== this.manifestCid) {
      this.#penalise(state, new ChunkHashMismatchError(`manifest from ${peer} does not match ${this.manifestCid}`), true)
      this.#askForManifest()
      return
    }
    let manifest: Manifest
    try {
      manifest = decodeManifest(data)
    } catch (err) {
      this.#penalise(state, err as Error, true)
      this.#askForManifest()
      return
    }
    this.#ctx.store.put(this.manifestCid, data, { signal: this.#abort.signal })
      .then(() => { this.#onManifestKnown(manifest) })
      .catch(err => { this.#fail(err as Error) })
  }

  onClose (peer: string): void {
    const state = this.#peers.get(peer)
    if (state === undefined) return
    for (const index of state.requested) this.#dropRequest(state, index)
    if (this.#manifestAskedFrom === peer) this.#manifestAskedFrom = undefined
    state.disconnect()
    this.#askForManifest()
    this.#schedule()
  }

  // --- manifest -------------------------------------------------------------

  async #loadLocalManifest (): Promise<void> {
    if (!this.#ctx.store.has(this.manifestCid)) return
    const manifest = await this.#ctx.store.getManifest(this.manifestCid)
    this.#onManifestKnown(manifest)
  }

  #onManifestKnown (known?: Manifest): void {
    const share = this.#ctx.share
    if (known !== undefined && share.manifest === undefined) {
      share.setManifest(known, haveFromStore(known, this.#ctx.store))
    }
    const manifest = share.manifest!
    const have = share.have!
    this.#missing = manifest.chunks.map((_, i) => i).filter(i => !have.has(i))
    for (const state of this.#peers.values()) {
      if (state.pendingBits !== undefined) this.#applyBits(state, state.pendingBits)
    }
    this.#checkDone()
    this.#schedule()
  }

  /**
   * Ask a random peer that knows the manifest for it: another than `notFrom`
   * when there is one, and the origin only when nobody else knows it.
   */
  #askForManifest (notFrom?: string): void {
    if (this.#ctx.share.manifest !== undefined || this.#manifestAskedFrom !== undefined) return
    const knowing = [...this.#peers.values()].filter(p => p.knowsManifest && p.session !== undefined && !p.resting)
    const others = knowing.filter(p => p.id !== notFrom)
    const notOrigin = others.filter(p => !p.lastResort)
    const candidates = notOrigin.length > 0 ? notOrigin : others.length > 0 ? others : knowing
    const peer = candidates[Math.floor(this.#random() * candidates.length)]
    if (peer === undefined) return
    this.#manifestAskedFrom = peer.id
    this.#manifestAskedAt = this.#now()
    peer.session!.requestManifest()
  }

  #applyBits (state: PeerState, bits: Uint8Array): void {
    state.pendingBits = undefined
    try {
      state.remoteHave = Bitfield.decode(this.#ctx.share.manifest!.chunks.length, bits)
    } catch (err) {
      this.#penalise(state, err as Error, true)
      return
    }
    state.rejected.clear()
    this.#schedule()
  }

  // --- chunks ---------------------------------------------------------------

  #store (state: PeerState, index: number, cid: string, data: Uint8Array): void {
    this.#storing.add(index)
    this.#ctx.store.put(cid, data, { signal: this.#abort.signal }).then(() => {
      // Only once the chunk verified: cancelling on arrival let a peer sending garbage cancel the
      // genuine copy, which an origin in initial seeding then holds back for initialSeedHoldMs.
      this.#cancelOthers(index)
      this.#fetchedBytes += data.byteLength
      this.#stallSince = undefined
      this.#ctx.share.markHave(index)
      this.#checkDone()
      this.#schedule()
    }).catch(err => {
      if ((err as Error).name === 'ChunkHashMismatchError') this.#penalise(state, err as Error, true)
      else if ((err as Error).name !== 'AbortError') this.#fail(err as Error)
      this.#schedule()
    }).finally(() => {
      this.#storing.delete(index)
      chunkBuffers.give(data) // the store has hashed and written it, or refused it
    })
  }

  #markStarted (peer: string, index: number): void {
    const request = this.#inflight.get(index)?.find(r => r.peer === peer)
    if (request !== undefined) request.started = true
  }

  #takeRequest (state: PeerState, index: number): InflightRequest | undefined {
    if (!state.requested.delete(index)) return undefined
    const list = this.#inflight.get(index) ?? []
    const at = list.findIndex(r => r.peer === state.id)
    const [request] = at >= 0 ? list.splice(at, 1) : []
    if (list.length === 0) this.#inflight.delete(index)
    return request
  }

  #dropRequest (state: PeerState, index: number): void {
    this.#takeRequest(state, index)
  }

  #cancelAt (peer: string, index: number): void {
    const state = this.#peers.get(peer)
    if (state === undefined) return
    this.#takeRequest(state, index)
    state.partials.delete(index)
    state.session?.cancel(index)
  }

  #cancelOthers (index: number): void {
    for (const request of this.#inflight.get(index) ?? []) {
      const state = this.#peers.get(request.peer)
      state?.requested.delete(index)
      state?.partials.delete(index)
      state?.session?.cancel(index)
    }
    this.#inflight.delete(index)
  }

  #schedule (): void {
    if (this.#scheduled) return
    this.#scheduled = true
    queueMicrotask(() => {
      this.#scheduled = false
      this.#runPolicy()
    })
  }

  #runPolicy (): void {
    if (this.#abort.signal.aborted || this.#ctx.share.manifest === undefined || this.done) return
    // The policy's clock runs behind by the recent event-loop lag: on a busy host a request's age
    // is mostly the host's own delay, and moving or duplicating it then only doubles the work.
    const requests = this.#policy(this.#policyInput(), this.#now() - this.#lagMs, this.#random)
    const now = this.#now()
    let budget = this.#requestBudget()
    const sizes = this.#ctx.share.manifest.chunks
    for (const { index, peer, replaces } of requests) {
      const state = this.#peers.get(peer)
      if (state?.session === undefined || state.requested.has(index)) continue
      const size = sizes[index]!.size
      // Over the process's budget, the rest waits for the next tick or arrival (one request always may go).
      if (budget < size && this.#inflight.size > 0) break
      budget -= size
      processInflight.bytes += size
      this.#countedInflightBytes += size
      if (replaces !== undefined) this.#cancelAt(replaces, index)
      state.requested.add(index)
      const list = this.#inflight.get(index) ?? []
      list.push({ peer, since: now, started: false })
      this.#inflight.set(index, list)
      state.session.request(index)
    }
  }

  /** Bytes this fetch may still request now: `maxInflightBytesPerProcess` less what every fetch of the process has in flight (its own recounted). */
  #requestBudget (): number {
    const chunks = this.#ctx.share.manifest!.chunks
    let mine = 0
    for (const [index, list] of this.#inflight) mine += chunks[index]!.size * list.length
    processInflight.bytes += mine - this.#countedInflightBytes
    this.#countedInflightBytes = mine
    return this.#limits.maxInflightBytesPerProcess - processInflight.bytes
  }

  #policyInput (): PolicyInput {
    const share = this.#ctx.share
    const have = share.have!
    this.#missing = this.#missing.filter(i => !have.has(i))
    return {
      chunkSizes: share.manifest!.chunks.map(c => c.size),
      haveLocal: i => have.has(i) || this.#storing.has(i),
      missing: this.#missing,
      inflight: this.#inflight,
      peers: this.#peerViews(),
      limits: this.#limits
    }
  }

  /**
   * The peers as the policy sees them. A far peer (behind a router: the
   * manager across a WAN link, another site) is shown holding only the
   * chunks no near peer holds and that this fetcher is designated to bring
   * in: among this node and its near peers still missing a chunk, the one
   * with the lowest hash of (peer id, chunk) fetches it across the link and
   * the others take it from that peer once it announces it. So a site's
   * agents bring each chunk across their WAN link about once instead of each
   * fetching it. A near peer that announced nothing for the grace time
   * (`farGraceMs` or more, see #farGraceMs) is passed over, as one that left
   * is; after an idle spell of four grace times far peers are shown with
   * everything they hold. An origin serving us in turns shows chunks
   * reserved for our turn alone: those are ours to bring in whatever the
   * designation says (no near peer is shown them meanwhile), unless a near
   * peer holds one already. Without that, each agent's turn showed chunks
   * designated to its neighbours, and a site behind a 2 MiB/s link took
   * 23-29 s for 10 MiB instead of 8-10 s.
   */
  #peerViews (): PeerView[] {
    return withTypicalThroughput(this.#nearFarViews())
  }

  #nearFarViews (): PeerView[] {
    const usable = [...this.#peers.values()].filter(p => p.session !== undefined && p.remoteHave !== undefined)
    const near = usable.filter(p => p.near)
    if (this.#farOpen || near.length === usable.length) return usable
    const holders = near.filter(p => !p.banned)
    const now = this.#now()
    const grace = this.#farGraceMs()
    const active = holders.filter(p => now - p.lastHeard < grace)
    const choice = new Uint8Array(this.#ctx.share.manifest!.chunks.length)
    const nearHolds = (index: number): boolean => holders.some(h => h.has(index))
    const mayAsk = (index: number): boolean => {
      if (choice[index] === FAR_UNKNOWN) choice[index] = !nearHolds(index) && this.#ranksFirst(index, active) ? FAR_YES : FAR_NO
      return choice[index] === FAR_YES
    }
    return usable.map(p => p.near
      ? p
      : viewWith(p, { has: p.reserved ? (i: number) => p.has(i) && !nearHolds(i) : (i: number) => mayAsk(i) && p.has(i) }))
  }

  /** Whether none of the active near peers ranks before us for bringing chunk `index` in from far peers. */
  #ranksFirst (index: number, active: readonly PeerState[]): boolean {
    const mine = mix(this.#selfHash, index)
    for (const peer of active) if (mix(peer.idHash, index) < mine) return false
    return true
  }

  // --- timers, faults, completion --------------------------------------------

  #tick (): void {
    const now = this.#now()
    const late = this.#lastTick === undefined ? 0 : now - this.#lastTick - TICK_MS
    this.#lastTick = now
    this.#lagMs = Math.max(late, this.#lagMs * LAG_DECAY)
    if (now - this.#lastPeerScan >= PEER_SCAN_INTERVAL_MS) {
      this.#lastPeerScan = now
      for (const peer of this.#ctx.connectedPeers()) this.addPeer(peer)
    }
    this.#expireRequests(now)
    this.#expireManifestRequest(now)
    this.#traceState(now)
    this.#checkIdle(now)
    this.#checkStall(now)
    this.#emitProgress(now, false)
  }

  /** Every {@link TRACE_INTERVAL_MS} while tracing: what is missing, in flight, and who holds the last few chunks. */
  #traceState (now: number): void {
    const log = this.#ctx.log
    if (log?.enabled !== true || now - this.#lastTrace < TRACE_INTERVAL_MS || this.#ctx.share.manifest === undefined) return
    this.#lastTrace = now
    const have = this.#ctx.share.have!
    const missing = this.#missing.filter(i => !have.has(i))
    const peers = [...this.#peers.values()]
    const live = peers.filter(p => p.session !== undefined)
    const askable = live.filter(p => !p.banned)
    const waiting = missing.filter(i => !this.#inflight.has(i) && askable.some(p => p.remoteHave?.has(i) === true)).length
    log('%s: %d missing (%d held by a peer we may ask, not asked), %d in flight, %d storing; %d sessions, %d suspended, %d busy, %d choking us, %d banned', this.manifestCid, missing.length, waiting,
      this.#inflight.size, this.#storing.size, live.length, live.filter(p => p.suspendedUntil > now).length, live.filter(p => p.busyUntil > now).length, live.filter(p => p.choked).length,
      peers.filter(p => p.bannedForGood).length)
    for (const index of missing.slice(0, missing.length <= 4 ? 4 : 0)) {
      const holders = live.filter(p => p.remoteHave?.has(index) === true).map(p => `${p.id.slice(-6)}${p.rejected.has(index) ? '(rejected)' : ''}${p.suspendedUntil > now ? '(suspended)' : ''}`)
      log('%s: chunk %d held by %d: %s; in flight from %o', this.manifestCid, index, holders.length, holders.join(' '), this.#inflight.get(index)?.map(r => r.peer.slice(-6)) ?? [])
    }
  }

  /**
   * Give up requests unanswered for longer than their chunk may take. A peer
   * sends the chunks asked of it one after another, so a request's clock
   * starts when it was sent or when that peer last delivered a chunk,
   * whichever is later: a slow uplink shared by several fetchers (an origin
   * at 8 KiB/s serving four) takes longer than the limit for a queue of two
   * chunks while delivering each in time, and timing the second out would
   * cancel it and ask for it again.
   */
  #expireRequests (now: number): void {
    const sizes = this.#ctx.share.manifest?.chunks
    for (const [index, list] of [...this.#inflight]) {
      const limit = this.#limits.requestTimeoutMs + (sizes?.[index]?.size ?? 0) * this.#limits.requestTimeoutMsPerByte
      for (const request of [...list]) {
        const state = this.#peers.get(request.peer)!
        if (now - Math.max(request.since, state.lastArrival) < limit) continue
        this.#timedOutRequests++
        this.#takeRequest(state, index)
        state.partials.delete(index)
        state.session?.cancel(index)
        this.#ctx.log?.('%s: chunk %d from %s timed out after %d ms', this.manifestCid, index, state.id, Math.round(now - request.since))
        this.#penalise(state, new TimeoutError(`chunk ${index} from ${state.id} timed out`), false)
      }
    }
    this.#schedule()
  }

  /** A manifest request unanswered for `manifestTimeoutMs` goes to another holder, without blame: a busy holder leaves it unanswered (see `ServerContext.manifestBacklog`). */
  #expireManifestRequest (now: number): void {
    if (this.#manifestAskedFrom === undefined || now - this.#manifestAskedAt < this.#limits.manifestTimeoutMs) return
    const asked = this.#manifestAskedFrom
    this.#manifestAskedFrom = undefined
    this.#askForManifest(asked)
  }

  /** Open far peers to every chunk after an idle spell: see {@link Fetcher.#peerViews}. */
  #checkIdle (now: number): void {
    if (this.#farOpen || this.#ctx.share.manifest === undefined || this.done || this.#inflight.size > 0 || this.#storing.size > 0) {
      this.#idleSince = undefined
      return
    }
    this.#idleSince ??= now
    if (now - this.#idleSince < 4 * this.#farGraceMs()) return
    this.#farOpen = true
    this.#schedule()
  }

  /** `farGraceMs`, or the time the fastest far peer needs for four average chunks if longer. */
  #farGraceMs (): number {
    const chunks = this.#ctx.share.manifest!.chunks
    const average = chunks.reduce((n, c) => n + c.size, 0) / Math.max(1, chunks.length)
    const fastest = Math.max(0, ...[...this.#peers.values()].filter(p => !p.near).map(p => p.throughput ?? 0))
    return fastest > 0 ? Math.max(this.#limits.farGraceMs, 4000 * average / fastest) : this.#limits.farGraceMs
  }

  #checkStall (now: number): void {
    const resting = [...this.#peers.values()].some(p => p.session !== undefined && !p.bannedForGood && p.suspendedUntil > now)
    if (this.done || resting || this.#inflight.size > 0 || this.#manifestAskedFrom !== undefined) {
      this.#stallSince = undefined
      return
    }
    this.#stallSince ??= now
    if (now - this.#stallSince >= this.#limits.stallTimeoutMs) {
      this.#fail(new FetchFailedError(`no peer could supply the rest of ${this.manifestCid} for ${this.#limits.stallTimeoutMs} ms`))
    }
  }

  /**
   * Count a fault against a peer. `severe` (bad data, protocol abuse) bans it
   * for good. Timeouts are slowness, not malice: `banScore` of them, or one
   * from a peer that has sent nothing for a whole request timeout, suspend
   * the peer for a while (doubling each time), after which it is asked
   * again, since it may be the only holder of a chunk.
   */
  #penalise (state: PeerState, reason: Error, severe: boolean): void {
    if (severe) {
      this.#ctx.log?.('%s: %s banned - %s', this.manifestCid, state.id, reason.message)
      state.bannedForGood = true
      this.#ctx.reportBadPeer(state.id, reason)
      for (const index of [...state.requested]) this.#dropRequest(state, index)
      state.session?.abort(reason)
      return
    }
    state.penalty += 1
    // A peer that has sent nothing for a whole request timeout may be gone (a link down leaves
    // its connection open for minutes): rest it at once rather than wait for more timeouts.
    const silent = this.#now() - Math.max(state.lastArrival, this.#started) >= this.#limits.requestTimeoutMs
    if (state.penalty < this.#limits.banScore && !silent) return
    state.penalty = 0
    state.suspendedAt = this.#now()
    state.suspendedUntil = this.#now() + Math.min(this.#limits.maxSuspendMs, this.#limits.suspendMs * 2 ** state.suspensions++)
    this.#ctx.log?.('%s: %s suspended for %d ms - %s', this.manifestCid, state.id, Math.round(state.suspendedUntil - this.#now()), reason.message)
    for (const index of [...state.requested]) this.#dropRequest(state, index)
  }

  #checkDone (): void {
    const share = this.#ctx.share
    if (share.have?.complete !== true) return
    this.#emitProgress(this.#now(), true)
    const bytesByPeer: Record<string, number> = {}
    for (const state of this.#peers.values()) if (state.bytesReceived > 0) bytesByPeer[state.id] = state.bytesReceived
    this.#done.resolve({
      manifestCid: share.cid,
      manifest: share.manifest!,
      fetchedBytes: this.#fetchedBytes,
      duplicateBytes: this.#duplicateBytes,
      timedOutRequests: this.#timedOutRequests,
      farOpened: this.#farOpen,
      bytesByPeer,
      seconds: (this.#now() - this.#started) / 1000
    })
  }

  #emitProgress (now: number, force: boolean): void {
    const { onProgress } = this.#options
    const manifest = this.#ctx.share.manifest
    if (onProgress === undefined || manifest === undefined) return
    if (!force && now - this.#lastProgress < this.#limits.progressIntervalMs) return
    this.#lastProgress = now
    const have = this.#ctx.share.have!
    let bytesDone = 0
    for (let i = 0; i < manifest.chunks.length; i++) if (have.has(i)) bytesDone += manifest.chunks[i]!.size
    onProgress({
      manifestCid: this.manifestCid,
      chunksDone: have.count,
      chunksTotal: have.length,
      bytesDone,
      bytesTotal: manifest.size,
      peers: [...this.#peers.values()].filter(p => p.session !== undefined).length
    })
  }

  #fail (err: Error): void {
    this.#done.reject(err)
  }

  #peer (id: string): PeerState {
    let state = this.#peers.get(id)
    if (state === undefined) {
      state = new PeerState(id, this.#now, this.#limits.rejectBackoffMs)
      this.#peers.set(id, state)
    }
    return state
  }

  async #closeSessions (): Promise<void> {
    await Promise.all([...this.#peers.values()].map(async p => { await p.session?.close().catch(() => {}) }))
  }
}

function haveFromStore (manifest: Manifest, store: ChunkStore): Bitfield {
  const have = new Bitfield(manifest.chunks.length)
  manifest.chunks.forEach((chunk, i) => { if (store.has(chunk.cid)) have.set(i) })
  return have
}
