/**
 * A discrete-event simulation of a swarm fetching one package, driven by the
 * very same selection policy as the agents (`rarestFirst` with the
 * FETCH_DEFAULTS limits), called with the same kind of input the fetcher
 * builds: which chunks each neighbour holds, the requests in flight, the
 * measured throughput per neighbour.
 *
 * Model. Uploads: see {@link Uploads} (sessions, `maxConcurrentUploads`
 * slots sharing the upload rate, initial seeding at the origin). Downloads:
 * uncapped by default; with `down`, a fetcher's link takes the chunks that
 * reach it one after another at that rate, and no chunk arrives before its
 * upload ended (exact in throughput, approximate in the order of chunks
 * arriving at once). A fixed one-way latency on every message. The fetch
 * driver as the fetcher runs it: the policy after every arrival and
 * rejection, every `tickMs`, and on a neighbour's HAVE when that HAVE could
 * lead to a request (the neighbour has a free slot at the sender and the
 * chunk is neither held nor asked for: a HAVE for a chunk already asked for
 * could at most move the request, which the next tick does); requests
 * cancelled once a copy arrives; declined requests not repeated at that
 * peer for `rejectBackoffMs`.
 */
import { peerQueueDepth, rarestFirst, type ChunkRequest, type InflightRequest, type PeerView, type PolicyInput, type PolicyLimits } from '../../src/chunks/policy.ts'
import { EXCHANGE_DEFAULTS, FETCH_DEFAULTS } from '../../src/constants.ts'
import { xorshift32 } from '../../src/core/index.ts'
import { EventQueue } from './events.ts'
import { buildTopology, type Topology } from './topology.ts'
import { Uploads, type UploadHost } from './uploads.ts'

/** Options of {@link simulate}. */
export interface SimulationOptions {
  readonly agents: number
  readonly packageBytes: number
  /** Size of every chunk but the last. */
  readonly chunkBytes: number
  /** Exact chunk sizes (e.g. what the chunker cut); overrides `chunkBytes`. */
  readonly chunkSizes?: readonly number[]
  /** Upload rate of each agent, bytes/s. */
  readonly up: number
  readonly originUp: number
  /** Download rate of each agent, bytes/s. @default Infinity */
  readonly down?: number
  readonly degree: number
  readonly originDegree: number
  readonly latencyMs: number
  readonly seed: number
  /** Chunks a node sends at once. @default EXCHANGE_DEFAULTS.maxConcurrentUploads */
  readonly uploadSlots?: number
  /** Period of the fetcher's timer, which runs the policy too. @default FETCHER_TICK_MS */
  readonly tickMs?: number
  /** Events for one agent within this many ms are answered by one policy call. @default PLAN_COALESCE_MS */
  readonly coalesceMs?: number
}

/** Outcome of one simulation. */
export interface SimulationResult {
  /** Completion time of each agent, seconds. */
  readonly times: number[]
  readonly originUploadBytes: number
  readonly totalUploadBytes: number
  /** Chunk bytes received for chunks already held (end game, late arrivals). */
  readonly duplicateBytes: number
  readonly events: number
  readonly policyCalls: number
  readonly wallSeconds: number
  /** CPU time of the run (user + system), less disturbed than wall time by other work on the machine. */
  readonly cpuSeconds: number
  readonly topology: string
}

/** The fetcher's timer period (`setInterval(tick, 200)` in src/chunks/fetcher.ts). */
export const FETCHER_TICK_MS = 200

/**
 * Policy calls for one agent within this window are merged (the fetcher
 * merges those within one microtask): bursts of HAVEs cost one call. @default 2 ms
 */
export const PLAN_COALESCE_MS = 2

const PLAN = 1
const TICK = 2
const REQUEST = 3
const UPLOAD_DONE = 4
const DELIVER = 5
const REJECT = 6

const LIMITS: PolicyLimits = {
  maxInflightPerPeer: FETCH_DEFAULTS.maxInflightPerPeer,
  targetQueueMs: FETCH_DEFAULTS.targetQueueMs,
  maxInflightTotal: FETCH_DEFAULTS.maxInflightTotal,
  endgameChunks: FETCH_DEFAULTS.endgameChunks,
  endgameCopies: FETCH_DEFAULTS.endgameCopies
}

/** Run one simulation to completion. */
export function simulate (options: SimulationOptions): SimulationResult {
  const started = performance.now()
  const cpu = process.cpuUsage()
  const swarm = new Swarm(options)
  swarm.run()
  const used = process.cpuUsage(cpu)
  return { ...swarm.result(), wallSeconds: (performance.now() - started) / 1000, cpuSeconds: (used.user + used.system) / 1e6 }
}

/** What a fetcher sees of one neighbour; a pool of these is refilled for each policy call. */
class LinkView implements PeerView {
  id = ''
  inflight = 0
  throughput: number | undefined = undefined
  rttMs = 0
  readonly banned = false
  /** The neighbour's first bit in `have`, and the link's slot. */
  base = 0
  slot = 0
  readonly #swarm: Swarm

  constructor (swarm: Swarm) { this.#swarm = swarm }

  has (index: number): boolean {
    return this.#swarm.have[this.base + index] === 1 && !this.#swarm.recentlyRejected(this.slot, index)
  }
}

/** The state of one run. Nodes are numbered 0 (origin) to `agents`; links by slot in the topology's rows. */
class Swarm implements UploadHost {
  now = 0
  readonly events = new EventQueue()
  readonly have: Uint8Array
  readonly #o: SimulationOptions
  readonly #random: () => number
  readonly #sizes: number[]
  readonly #k: number
  readonly #net: Topology
  readonly #ids: string[]
  readonly #uploads: Uploads
  readonly #haveCount: Int32Array
  readonly #missing: number[][]
  readonly #inflight: Array<Map<number, InflightRequest[]>>
  readonly #inflightCount: Int32Array
  readonly #doneAt: Float64Array
  readonly #planPending: Uint8Array
  readonly #lastPlan: Float64Array
  readonly #downFree: Float64Array
  readonly #rejected: Array<Map<number, number> | undefined>
  /** Link slots whose peer declined a request of the agent (only the origin declines). */
  readonly #decliners: Array<number[] | undefined>
  /** Per agent and chunk: neighbours that hold it (the policy's rarity, counted as HAVEs go out). */
  readonly #holders: Uint16Array | Int32Array
  /** Per link slot: measured throughput (NaN until measured), last arrival, requests outstanding. */
  readonly #throughput: Float64Array
  readonly #lastArrival: Float64Array
  readonly #atPeer: Uint8Array
  readonly #views: LinkView[] = []
  readonly #peerLists: LinkView[][] = []
  readonly #chunkBytes: number
  /** The agent whose policy call is running, and its first bit in `have`. */
  #current = 0
  #currentBase = 0
  readonly #haveLocal = (index: number): boolean => this.have[this.#currentBase + index] === 1
  readonly #holdersOf = (index: number): number => {
    let n = this.#holders[this.#currentBase + index]!
    const decliners = this.#decliners[this.#current]
    if (decliners !== undefined) for (const slot of decliners) if (this.recentlyRejected(slot, index)) n--
    return n
  }
  #remaining: number
  #eventCount = 0
  #policyCalls = 0
  #duplicateBytes = 0

  constructor (o: SimulationOptions) {
    this.#o = o
    const next = xorshift32(o.seed)
    this.#random = () => next() / 2 ** 32
    this.#sizes = o.chunkSizes !== undefined ? [...o.chunkSizes] : evenChunks(o.packageBytes, o.chunkBytes)
    const k = this.#k = this.#sizes.length
    this.#chunkBytes = o.packageBytes / k
    const net = this.#net = buildTopology(o.agents, o.degree, o.originDegree, this.#random)
    const nodes = net.nodes
    this.#ids = Array.from({ length: nodes }, (_, n) => String(n))
    this.have = new Uint8Array(nodes * k)
    this.have.fill(1, 0, k)
    this.#haveCount = new Int32Array(nodes)
    this.#missing = Array.from({ length: nodes }, (_, n) => n === 0 ? [] : Array.from({ length: k }, (_, i) => i))
    this.#inflight = Array.from({ length: nodes }, () => new Map())
    this.#inflightCount = new Int32Array(nodes)
    this.#doneAt = new Float64Array(nodes).fill(-1)
    this.#planPending = new Uint8Array(nodes)
    this.#lastPlan = new Float64Array(nodes).fill(-Infinity)
    this.#downFree = new Float64Array(nodes)
    this.#rejected = new Array(nodes).fill(undefined)
    this.#decliners = new Array(nodes).fill(undefined)
    this.#holders = maxDegree(net) < 65_536 ? new Uint16Array(nodes * k) : new Int32Array(nodes * k)
    for (let s = net.start[0]!; s < net.start[1]!; s++) this.#holders.fill(1, net.neighbour[s]! * k, (net.neighbour[s]! + 1) * k)
    this.#throughput = new Float64Array(net.neighbour.length).fill(NaN)
    this.#lastArrival = new Float64Array(net.neighbour.length)
    this.#atPeer = new Uint8Array(net.neighbour.length)
    const rates = new Float64Array(nodes).fill(o.up)
    rates[0] = o.originUp
    this.#uploads = new Uploads(this, rates, o.uploadSlots ?? EXCHANGE_DEFAULTS.maxConcurrentUploads, k, EXCHANGE_DEFAULTS.initialSeedHoldMs, UPLOAD_DONE)
    this.#remaining = o.agents
  }

  run (): void {
    const tickMs = this.#o.tickMs ?? FETCHER_TICK_MS
    for (let n = 1; n < this.#net.nodes; n++) {
      this.events.push(this.#o.latencyMs * this.#random(), PLAN, n)
      this.#planPending[n] = 1
      if (tickMs > 0) this.events.push(tickMs * this.#random(), TICK, n)
    }
    const limitMs = this.#timeLimitMs()
    const events = this.events
    while (this.#remaining > 0 && events.pop()) {
      this.now = events.time
      if (this.now > limitMs) break
      this.#eventCount++
      this.#dispatch(events.kind, events.a, events.b, events.c)
    }
    if (this.#remaining > 0) throw new Error(`simulation stalled at ${(this.now / 1000).toFixed(1)} s with ${this.#remaining} agents incomplete`)
  }

  result (): Omit<SimulationResult, 'wallSeconds' | 'cpuSeconds'> {
    const uploaded = this.#uploads.uploaded
    return {
      times: Array.from({ length: this.#o.agents }, (_, a) => this.#doneAt[a + 1]! / 1000),
      originUploadBytes: Math.round(uploaded[0]!),
      totalUploadBytes: Math.round(uploaded.reduce((sum, b) => sum + b, 0)),
      duplicateBytes: this.#duplicateBytes,
      events: this.#eventCount,
      policyCalls: this.#policyCalls,
      topology: this.#net.description
    }
  }

  // --- UploadHost -----------------------------------------------------------

  size (index: number): number { return this.#sizes[index]! }

  wanted (fetcher: number, uploader: number, index: number): boolean {
    return findRequest(this.#inflight[fetcher]!.get(index), this.#ids[uploader]!) !== undefined
  }

  started (fetcher: number, uploader: number, index: number): void {
    const request = findRequest(this.#inflight[fetcher]!.get(index), this.#ids[uploader]!)
    if (request !== undefined) (request as { started?: boolean }).started = true
  }

  sent (fetcher: number, uploader: number, index: number, size: number): void {
    let at = this.now + this.#o.latencyMs
    const down = this.#o.down ?? Infinity
    if (Number.isFinite(down)) {
      at = Math.max(at, this.#downFree[fetcher]! + size * 1000 / down)
      this.#downFree[fetcher] = at
    }
    this.events.push(at, DELIVER, fetcher, uploader, index)
  }

  /** Whether the peer at link `slot` declined chunk `index` less than `rejectBackoffMs` ago. */
  recentlyRejected (slot: number, index: number): boolean {
    const rejected = this.#rejected[this.#current]
    if (rejected === undefined) return false
    const at = rejected.get(slot * this.#k + index)
    return at !== undefined && this.now - at < FETCH_DEFAULTS.rejectBackoffMs
  }

  // --- events -----------------------------------------------------------------

  #dispatch (kind: number, a: number, b: number, c: number): void {
    switch (kind) {
      case PLAN: this.#planPending[a] = 0; this.#plan(a); break
      case TICK: this.#tick(a); break
      case REQUEST: this.#onRequest(a, b, c); break
      case UPLOAD_DONE: this.#uploads.onDone(a, b); break
      case DELIVER: this.#deliver(a, b, c); break
      case REJECT: this.#onReject(a, b, c); break
    }
  }

  /**
   * The fetcher's timer: it runs the policy so that time-based decisions
   * (moving a waiting request, end game, retrying a declined chunk) are
   * taken at most a tick late. A policy call since the last tick took them
   * already, so the tick waits for a tick after that call.
   */
  #tick (node: number): void {
    if (this.#doneAt[node]! >= 0) return
    const tickMs = this.#o.tickMs ?? FETCHER_TICK_MS
    const due = this.#lastPlan[node]! + tickMs
    if (due > this.now) {
      this.events.push(due, TICK, node)
      return
    }
    this.#plan(node)
    this.events.push(this.now + tickMs, TICK, node)
  }

  #planSoon (node: number, delayMs: number): void {
    if (this.#planPending[node] === 1) return
    this.#planPending[node] = 1
    this.events.push(this.now + delayMs + (this.#o.coalesceMs ?? PLAN_COALESCE_MS), PLAN, node)
  }

  #plan (node: number): void {
    if (this.#doneAt[node]! >= 0) return
    this.#policyCalls++
    this.#lastPlan[node] = this.now
    const requests = rarestFirst(this.#policyInput(node), this.now, this.#random)
    for (const request of requests) this.#ask(node, request)
  }

  #policyInput (node: number): PolicyInput {
    const k = this.#k
    this.#current = node
    this.#currentBase = node * k
    const missing = this.#missing[node]!
    let kept = 0
    for (let i = 0; i < missing.length; i++) {
      const index = missing[i]!
      if (this.have[this.#currentBase + index] === 0) missing[kept++] = index
    }
    if (kept < missing.length) missing.length = kept
    return {
      chunkSizes: this.#sizes, haveLocal: this.#haveLocal, missing, inflight: this.#inflight[node]!, peers: this.#peersOf(node), limits: LIMITS, holders: this.#holdersOf
    }
  }

  /** The pooled views of `node`'s neighbours, filled from the link state. */
  #peersOf (node: number): LinkView[] {
    const { start, neighbour } = this.#net
    const from = start[node]!
    const count = start[node + 1]! - from
    while (this.#views.length < count) this.#views.push(new LinkView(this))
    const rtt = 2 * this.#o.latencyMs
    for (let i = 0; i < count; i++) {
      const view = this.#views[i]!
      const slot = from + i
      const other = neighbour[slot]!
      const throughput = this.#throughput[slot]!
      view.id = this.#ids[other]!
      view.inflight = this.#atPeer[slot]!
      view.throughput = Number.isNaN(throughput) ? undefined : throughput
      view.rttMs = rtt
      view.base = other * this.#k
      view.slot = slot
    }
    return (this.#peerLists[count] ??= this.#views.slice(0, count))
  }

  #slotOf (node: number, other: number): number {
    const { start, neighbour } = this.#net
    for (let s = start[node]!; s < start[node + 1]!; s++) if (neighbour[s] === other) return s
    throw new Error(`node ${node} has no link to ${other}`)
  }

  #ask (node: number, request: ChunkRequest): void {
    const to = Number(request.peer)
    if (request.replaces !== undefined) this.#cancel(node, Number(request.replaces), request.index)
    const inflight = this.#inflight[node]!
    let list = inflight.get(request.index)
    if (list === undefined) inflight.set(request.index, list = [])
    list.push({ peer: request.peer, since: this.now, started: false })
    const slot = this.#slotOf(node, to)
    this.#atPeer[slot] = this.#atPeer[slot]! + 1
    this.#inflightCount[node] = this.#inflightCount[node]! + 1
    this.events.push(this.now + this.#o.latencyMs, REQUEST, to, node, request.index)
  }

  /** Withdraw `node`'s request for `index` at `peer`, and tell the peer (instantly: latency is small next to a chunk's time). */
  #cancel (node: number, peer: number, index: number): void {
    if (this.#takeRequest(node, peer, index) !== undefined) this.#uploads.cancel(peer, node, index)
  }

  #takeRequest (node: number, peer: number, index: number): InflightRequest | undefined {
    const inflight = this.#inflight[node]!
    const list = inflight.get(index)
    if (list === undefined) return undefined
    const id = this.#ids[peer]!
    const at = list.findIndex(r => r.peer === id)
    if (at < 0) return undefined
    const [request] = list.splice(at, 1)
    if (list.length === 0) inflight.delete(index)
    const slot = this.#slotOf(node, peer)
    this.#atPeer[slot] = this.#atPeer[slot]! - 1
    this.#inflightCount[node] = this.#inflightCount[node]! - 1
    return request
  }

  #onRequest (uploader: number, fetcher: number, index: number): void {
    if (!this.wanted(fetcher, uploader, index)) return
    if (!this.#uploads.request(uploader, fetcher, index)) this.events.push(this.now + this.#o.latencyMs, REJECT, fetcher, uploader, index)
  }

  #onReject (fetcher: number, uploader: number, index: number): void {
    if (this.#takeRequest(fetcher, uploader, index) === undefined) return
    let rejected = this.#rejected[fetcher]
    if (rejected === undefined) this.#rejected[fetcher] = rejected = new Map()
    const slot = this.#slotOf(fetcher, uploader)
    rejected.set(slot * this.#k + index, this.now)
    const decliners = this.#decliners[fetcher] ??= []
    if (!decliners.includes(slot)) decliners.push(slot)
    this.#planSoon(fetcher, 0)
  }

  #deliver (fetcher: number, uploader: number, index: number): void {
    const request = this.#takeRequest(fetcher, uploader, index)
    const size = this.#sizes[index]!
    const bit = fetcher * this.#k + index
    if (this.have[bit] === 1) { this.#duplicateBytes += size; return }
    if (request !== undefined) this.#measure(this.#slotOf(fetcher, uploader), request.since, size)
    this.have[bit] = 1
    const list = this.#inflight[fetcher]!.get(index)
    if (list !== undefined) for (const other of [...list]) this.#cancel(fetcher, Number(other.peer), index)
    this.#haveCount[fetcher] = this.#haveCount[fetcher]! + 1
    if (this.#haveCount[fetcher] === this.#k) {
      this.#doneAt[fetcher] = this.now
      this.#remaining--
    }
    this.#announce(fetcher, index)
    this.#planSoon(fetcher, 0)
  }

  /** Fold a delivery into the link's throughput estimate, as PeerState.recordDelivery does. */
  #measure (slot: number, since: number, size: number): void {
    const elapsed = Math.max(1, this.now - Math.max(since, this.#lastArrival[slot]!))
    const sample = size * 1000 / elapsed
    const old = this.#throughput[slot]!
    const alpha = FETCH_DEFAULTS.ewmaAlpha
    this.#throughput[slot] = Number.isNaN(old) ? sample : alpha * sample + (1 - alpha) * old
    this.#lastArrival[slot] = this.now
  }

  /** HAVE to every neighbour (counted at once); those for which it could lead to a request look again after the latency. */
  #announce (node: number, index: number): void {
    const { start, neighbour, reverse } = this.#net
    const k = this.#k
    for (let s = start[node]!; s < start[node + 1]!; s++) {
      const other = neighbour[s]!
      const bit = other * k + index
      this.#holders[bit] = this.#holders[bit]! + 1
      // A finished agent holds every chunk, so the first test skips it too.
      if (this.have[bit] === 1 || this.#planPending[other] === 1 || this.#inflightCount[other]! >= LIMITS.maxInflightTotal) continue
      const back = start[other]! + reverse[s]!
      const throughput = this.#throughput[back]!
      const depth = peerQueueDepth({ throughput: Number.isNaN(throughput) ? undefined : throughput }, this.#chunkBytes, LIMITS)
      if (this.#atPeer[back]! < depth && !this.#inflight[other]!.has(index)) this.#planSoon(other, this.#o.latencyMs)
    }
  }

  /** Far beyond any sane completion time: a run still going then is stuck. */
  #timeLimitMs (): number {
    const o = this.#o
    const bytes = o.packageBytes
    return 1000 * (60 + 100 * Math.max(bytes / o.originUp, bytes * o.agents / (o.originUp + o.agents * o.up)))
  }
}

function maxDegree (net: Topology): number {
  let most = 0
  for (let n = 0; n < net.nodes; n++) most = Math.max(most, net.start[n + 1]! - net.start[n]!)
  return most
}

function findRequest (list: readonly InflightRequest[] | undefined, peer: string): InflightRequest | undefined {
  if (list === undefined) return undefined
  for (const request of list) if (request.peer === peer) return request
  return undefined
}

function evenChunks (packageBytes: number, chunkBytes: number): number[] {
  const k = Math.ceil(packageBytes / chunkBytes)
  return Array.from({ length: k }, (_, i) => Math.min(chunkBytes, packageBytes - i * chunkBytes))
}
