/**
 * A discrete-event simulation of a swarm fetching one package, driven by the
 * very same selection policy as the agents (`rarestFirst` with the
 * FETCH_DEFAULTS limits), called with the same kind of input the fetcher
 * builds: which chunks each neighbour holds, the requests in flight, the
 * measured throughput per neighbour.
 *
 * Model. Uploads: see {@link Uploads} (sessions, `maxConcurrentUploads`
 * slots sharing the upload rate, the `maxQueuedUploads` backlog, the
 * origin's initial and repeat holds, and its turns: origin-turns.ts). Downloads:
 * uncapped by default; with `down`, a fetcher's link takes the chunks that
 * reach it one after another at that rate, and no chunk arrives before its
 * upload ended (exact in throughput, approximate in the order of chunks
 * arriving at once). A fixed one-way latency on every message; a request
 * is taken in by its uploader when it is sent, and a chunk that starts at
 * once arrives one latency later to make up for it (see
 * {@link Uploads.request}). The fetch driver as the fetcher runs it: the
 * policy after every arrival and rejection, `tickMs` after the last call,
 * and on a neighbour's HAVE when that HAVE could lead to a request (the
 * neighbour has a free slot at the sender and the chunk is neither held nor
 * asked for: a HAVE for a chunk already asked for could at most move the
 * request, which the next tick does); calls asked for within `coalesceMs`,
 * or before a due tick, are one call; requests cancelled once a copy
 * arrives; declined requests not repeated at that peer for
 * `rejectBackoffMs`; peers not yet measured shown to the policy at the
 * median measured throughput once three are measured
 * (`withTypicalThroughput`, see typical.ts).
 *
 * Speed. Events that come due a fixed delay after they are made sit in
 * ring buffers (delay-line.ts), only upload completions in a heap; per
 * node and chunk one word holds what a HAVE or a policy call reads
 * (chunks.ts), and a node's scalars and rows share one block (nodes.ts);
 * requests are records in a typed buffer (requests.ts): nothing is
 * allocated per request; calls that cannot decide anything are not made
 * (skip.ts).
 */
import { peerQueueDepth, rarestFirst, type ChunkRequest, type PeerView, type PolicyInput, type PolicyLimits } from '../../src/chunks/policy.ts'
import { EXCHANGE_DEFAULTS, FETCH_DEFAULTS } from '../../src/constants.ts'
import { UNCHOKE_CHECK_MS } from '../../src/chunks/unchoke.ts'
import { xorshift32 } from '../../src/core/index.ts'
import { ChunkTable, COPIES, HAVE, HOLDERS } from './chunks.ts'
import { DelayLine } from './delay-line.ts'
import { EventQueue } from './events.ts'
import { DECLINED, DONE_AT, TICK, TYPICAL, DOWN_FREE, FLAGS, HELD, INFLIGHT, INFLIGHT_FULL, LAST_PLAN, NodeTable, PLAN_AT, PLAN_PENDING, RATE } from './nodes.ts'
import { AT_FETCHER, AT_UPLOADER, BITS, DIRECT, FETCHER, FETCHER_SLOT, INDEX, NEXT_COPY, RequestTable, SINCE, UPLOADER, UPLOADER_SLOT } from './requests.ts'
import { buildTopology, type Topology } from './topology.ts'
import { SkipTest } from './skip.ts'
import { TimerHeap } from './timers.ts'
import { TypicalThroughput } from './typical.ts'
import { Uploads, type Declines, type UploadHost } from './uploads.ts'

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
  /** Chunks a node accepts and has not sent yet before it declines requests. @default EXCHANGE_DEFAULTS.maxQueuedUploads */
  readonly maxQueuedUploads?: number
  /** The origin's holds (initial seeding). @default EXCHANGE_DEFAULTS.initialSeedHoldMs, EXCHANGE_DEFAULTS.repeatSeedHoldMs */
  readonly initialSeedHoldMs?: number
  readonly repeatSeedHoldMs?: number
  /** Fetchers ask the origin only for chunks no other neighbour holds (`PeerView.lastResort`), as agents do. @default true */
  readonly originLastResort?: boolean
  /** The origin serves its fetchers in turns (`Unchoker`, origin-turns.ts), as the exchange does. @default true */
  readonly originTurns?: boolean
  /** How long a fetcher does not ask a peer again for a chunk it declined. @default FETCH_DEFAULTS.rejectBackoffMs */
  readonly rejectBackoffMs?: number
  /** Period of the fetcher's timer, which runs the policy too. @default FETCHER_TICK_MS */
  readonly tickMs?: number
  /** Events for one agent within this many ms are answered by one policy call. @default PLAN_COALESCE_MS */
  readonly coalesceMs?: number
  /** Run the policy on every call the driver skips as deciding nothing, and throw if it decides something (tests). @default false */
  readonly checkSkips?: boolean
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
  /** Calls the driver made that were shown to decide nothing before running the policy (see skip.ts). */
  readonly skippedCalls: number
  /** Requests declined, by reason. */
  readonly declined: Readonly<Declines>
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

/** Kinds in the event queue (what is not due a fixed delay after it was made). */
const PLAN = 1
const DELIVER = 2

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

/** What a fetcher sees of the neighbour at one position of its row; one pooled view per position, refilled for each policy call. */
class LinkView implements PeerView {
  /** The position in the fetcher's row: ids are only ever compared within one fetcher's policy call. */
  readonly id: string
  /** In whole bytes/s, a small integer: storing a fractional number for every refill would allocate a box for it. */
  throughput: number | undefined = undefined
  /** The median of the measured links, for an unmeasured one (see typical.ts); whole bytes/s too. */
  assumedThroughput: number | undefined = undefined
  rttMs = 0
  /** The origin has choked this fetcher (its turns). */
  banned = false
  /** The neighbour is the origin and fetchers treat it as a last resort. */
  lastResort = false
  /** The chunks the origin shows this fetcher in its turn (one byte each); undefined: all it holds. */
  shown: Uint8Array | undefined = undefined
  /** The neighbour's first word in `haveBits`, and the link's slot. */
  base = 0
  slot = 0
  /** The link's first word in `declinedBits`, or -1 while the fetcher has no decline running (nothing to read). */
  declinedBase = -1
  readonly #swarm: Swarm

  constructor (swarm: Swarm, id: string) {
    this.#swarm = swarm
    this.id = id
  }

  get inflight (): number { return this.#swarm.queue[2 * this.slot]! }

  has (index: number): boolean {
    if (this.shown !== undefined && this.shown[index] === 0) return false
    const word = index >> 5
    const declined = this.declinedBase < 0 ? 0 : this.#swarm.declinedBits[this.declinedBase + word]!
    return (((this.#swarm.haveBits[this.base + word]! & ~declined) >>> (index & 31)) & 1) !== 0
  }
}

type MutableInput = { -readonly [K in keyof PolicyInput]: PolicyInput[K] }

/** Event sources besides the delay lines. */
const UPLOADS = -2
const MESSAGES = -3

/**
 * The state of one run. Nodes are numbered 0 (origin) to `agents`; links by
 * slot in the topology's rows (a fetcher's slot for the link is where its
 * per-link state lives, the uploader's slot is the session).
 */
class Swarm implements UploadHost {
  now = 0
  /** Per node, its block (nodes.ts): scalars, upload slots, the chunk words (held, own requests in flight, neighbours holding it: see chunks.ts). */
  readonly #nodes: NodeTable
  readonly #blocks: Int32Array
  readonly #stride: number
  /** Offset of the chunk words in a block. */
  readonly #state: number
  readonly #requests: RequestTable
  /** The HAVE bits again, 32 chunks a word: what a policy call reads of every neighbour stays in cache. */
  readonly haveBits: Int32Array
  readonly #words: number
  readonly #chunks: ChunkTable
  /** Events at odd times: the first policy calls, deliveries behind a download cap. */
  readonly #messages = new EventQueue()
  /** Uploader u's next completion. */
  readonly #timers: TimerHeap
  /** Events a fixed delay after they were made (see delay-line.ts), by kind; the tick line is absent without ticks. */
  readonly #planNow: DelayLine
  readonly #planOnHave: DelayLine
  readonly #ticks: DelayLine | undefined
  readonly #deliverNow: DelayLine
  readonly #deliverLater: DelayLine
  readonly #rejects: DelayLine
  readonly #o: SimulationOptions
  readonly #random: () => number
  readonly #sizes: number[]
  readonly #k: number
  readonly #net: Topology
  readonly #uploads: Uploads
  readonly #latency: number
  readonly #originLastResort: boolean
  readonly #tickMs: number
  readonly #coalesceMs: number
  readonly #down: number
  /** Missing-chunk lists by length, refilled for each policy call from the caller's row. */
  readonly #missing: number[][] = []
  /** The same block as Float64 (half the index). */
  readonly #times: Float64Array
  /**
   * Per fetcher-side link slot, `words` Int32: the chunks the peer declined
   * less than `rejectBackoffMs` ago (the fetcher's PeerState.rejected). A
   * set bit also takes the peer out of the chunk's HOLDERS count, and one
   * event in `#declineEnds` clears it: while it is set the fetcher asks that
   * peer for that chunk no more, so there is no second decline to track.
   */
  readonly declinedBits: Int32Array
  readonly #declineEnds: DelayLine
  /** Per fetcher-side link slot s: measured throughput at [2s] (NaN until measured), last arrival at [2s + 1]. */
  readonly #linkTimes: Float64Array
  /** Per fetcher-side link slot: the throughput rounded to whole bytes/s as the policy sees it (0 until measured). */
  readonly #seenThroughput: Int32Array
  /** Computes what a node's unmeasured links are shown at (kept in its block, TYPICAL). */
  readonly #typical: TypicalThroughput
  readonly #skipTest: SkipTest
  /** Per fetcher-side link slot s: requests outstanding at [2s], queue depth the policy allows at [2s + 1]. */
  readonly queue: Uint8Array
  readonly #views: LinkView[] = []
  readonly #peerLists: LinkView[][] = []
  /** Peer ids by position in a row. */
  readonly #ids: string[]
  readonly #input: MutableInput
  readonly #chunkBytes: number
  /** The agent whose policy call is running, and its first chunk word. */
  #current = 0
  #currentBase = 0
  #remaining: number
  #eventCount = 0
  #policyCalls = 0
  #skippedCalls = 0
  /** Randomness for the calls `checkSkips` runs, apart from the run's own. */
  readonly #checkRandom = ((next) => () => next() / 2 ** 32)(xorshift32(7))
  #duplicateBytes = 0

  constructor (o: SimulationOptions) {
    this.#o = o
    const next = xorshift32(o.seed)
    this.#random = () => next() / 2 ** 32
    this.#sizes = o.chunkSizes !== undefined ? [...o.chunkSizes] : evenChunks(o.packageBytes, o.chunkBytes)
    const k = this.#k = this.#sizes.length
    this.#chunkBytes = o.packageBytes / k
    this.#latency = o.latencyMs
    this.#originLastResort = o.originLastResort ?? true
    this.#tickMs = o.tickMs ?? FETCHER_TICK_MS
    this.#coalesceMs = o.coalesceMs ?? PLAN_COALESCE_MS
    this.#down = o.down ?? Infinity
    const net = this.#net = buildTopology(o.agents, o.degree, o.originDegree, this.#random)
    const most = maxDegree(net)
    if (most > HOLDERS) throw new RangeError(`at most ${HOLDERS} links per node`)
    this.#ids = Array.from({ length: most }, (_, i) => String(i))
    const nodes = net.nodes
    const links = net.neighbour.length
    const slots = o.uploadSlots ?? EXCHANGE_DEFAULTS.maxConcurrentUploads
    this.#nodes = new NodeTable(nodes, k, slots, LIMITS.maxInflightTotal)
    const blocks = this.#blocks = this.#nodes.i32
    this.#times = this.#nodes.f64
    const stride = this.#stride = this.#nodes.stride
    const state = this.#state = this.#nodes.state
    this.#requests = new RequestTable(4 * nodes)
    this.#chunks = new ChunkTable(this.#nodes, this.#requests, k, this.#ids)
    for (let i = 0; i < k; i++) blocks[state + i] = HAVE
    this.#words = Math.ceil(k / 32)
    this.haveBits = new Int32Array(nodes * this.#words)
    for (let i = 0; i < k; i++) this.haveBits[i >> 5] = this.haveBits[i >> 5]! | (1 << (i & 31))
    for (let s = net.start[0]!; s < net.start[1]!; s++) {
      const row = net.neighbour[s]! * stride + state
      blocks.fill(1, row, row + k)
    }
    for (let n = 0; n < nodes; n++) this.#times[n * stride / 2 + RATE] = n === 0 ? o.originUp : o.up
    this.#planNow = new DelayLine(this.#coalesceMs)
    this.#planOnHave = new DelayLine(this.#latency + this.#coalesceMs)
    this.#ticks = this.#tickMs > 0 ? new DelayLine(this.#tickMs) : undefined
    this.#deliverNow = new DelayLine(this.#latency)
    this.#deliverLater = new DelayLine(2 * this.#latency)
    this.#rejects = new DelayLine(2 * this.#latency)
    this.#declineEnds = new DelayLine(o.rejectBackoffMs ?? FETCH_DEFAULTS.rejectBackoffMs)
    this.declinedBits = new Int32Array(links * this.#words)
    this.#linkTimes = new Float64Array(2 * links)
    for (let s = 0; s < links; s++) this.#linkTimes[2 * s] = NaN
    this.#seenThroughput = new Int32Array(links)
    this.#typical = new TypicalThroughput(net, this.#seenThroughput)
    this.queue = new Uint8Array(2 * links)
    const depth = peerQueueDepth({}, this.#chunkBytes, LIMITS)
    for (let s = 0; s < links; s++) this.queue[2 * s + 1] = depth
    this.#timers = new TimerHeap(nodes)
    this.#uploads = new Uploads(this, this.#timers, this.#nodes, this.#requests, {
      links,
      slots,
      maxQueued: o.maxQueuedUploads ?? EXCHANGE_DEFAULTS.maxQueuedUploads,
      maxQueuedMs: EXCHANGE_DEFAULTS.maxQueuedUploadMs,
      sizes: this.#sizes,
      initialSeedHoldMs: o.initialSeedHoldMs ?? EXCHANGE_DEFAULTS.initialSeedHoldMs,
      repeatSeedHoldMs: o.repeatSeedHoldMs ?? EXCHANGE_DEFAULTS.repeatSeedHoldMs,
      turns: o.originTurns === false || !Number.isFinite(EXCHANGE_DEFAULTS.originUnchokeSlots)
        ? undefined
        : {
            first: net.start[0]!,
            degree: net.start[1]! - net.start[0]!,
            slots: EXCHANGE_DEFAULTS.originUnchokeSlots,
            turnChunks: EXCHANGE_DEFAULTS.originTurnChunks,
            idleMs: EXCHANGE_DEFAULTS.originTurnIdleMs,
            checkMs: UNCHOKE_CHECK_MS
          }
    })
    this.#remaining = o.agents
    this.#skipTest = new SkipTest({
      net, limits: LIMITS, nodes: this.#nodes, chunks: this.#chunks, sizes: this.#sizes, haveBits: this.haveBits, words: this.#words, queue: this.queue, declinedBits: this.declinedBits, seenThroughput: this.#seenThroughput, rttMs: 2 * this.#latency
    })
    this.#input = {
      chunkSizes: this.#sizes,
      haveLocal: (index: number): boolean => (this.#blocks[this.#currentBase + index]! & HAVE) !== 0,
      missing: [],
      inflight: this.#chunks,
      inflightCount: 0,
      peers: [],
      limits: LIMITS,
      holders: (index: number): number => this.#blocks[this.#currentBase + index]! & HOLDERS
    }
  }

  run (): void {
    const nodes = this.#net.nodes
    for (let n = 1; n < nodes; n++) {
      this.#blocks[n * this.#stride + FLAGS] = PLAN_PENDING
      const at = this.#times[n * this.#stride / 2 + PLAN_AT] = this.#latency * this.#random()
      this.#messages.push(at, PLAN, n)
    }
    const limitMs = this.#timeLimitMs()
    // A decline ending first: at `rejectBackoffMs` after it, the fetcher no longer counts it (PeerState's `now - at < rejectBackoffMs`).
    const lines = [this.#declineEnds, this.#planNow, this.#planOnHave, this.#ticks ?? new DelayLine(0), this.#deliverNow, this.#deliverLater, this.#rejects]
    const timers = this.#timers
    const messages = this.#messages
    while (this.#remaining > 0) {
      let source = -1
      let next = Infinity
      for (let i = 0; i < lines.length; i++) {
        const time = lines[i]!.nextTime
        if (time < next) { next = time; source = i }
      }
      if (timers.topTime < next) { next = timers.topTime; source = UPLOADS }
      if (messages.nextTime < next) { next = messages.nextTime; source = MESSAGES }
      if (next === Infinity) break
      this.now = next
      if (next > limitMs) break
      this.#uploads.turns?.check()
      if (source === UPLOADS) {
        this.#eventCount++
        this.#uploads.onDone(timers.topKey)
      } else if (source === MESSAGES) {
        messages.pop()
        if (messages.kind === DELIVER) this.#deliver(messages.a, messages.b, messages.c)
        else this.#planDue(messages.a)
      } else {
        const line = lines[source]!
        line.pop()
        if (source === 0) this.#declineEnded(line.a, line.b, line.c)
        else if (source <= 2) this.#planDue(line.a)
        else if (source === 3) { if (line.a >= 0) this.#tickDue(line.a) }
        else if (source <= 5) this.#deliver(line.a, line.b, line.c)
        else this.#onReject(line.a, line.b, line.c)
      }
    }
    if (this.#remaining > 0) throw new Error(`simulation stalled at ${(this.now / 1000).toFixed(1)} s with ${this.#remaining} agents incomplete`)
  }

  result (): Omit<SimulationResult, 'wallSeconds' | 'cpuSeconds'> {
    let total = 0
    for (let n = 0; n < this.#net.nodes; n++) total += this.#uploads.uploaded(n)
    return {
      times: Array.from({ length: this.#o.agents }, (_, a) => this.#times[(a + 1) * this.#stride / 2 + DONE_AT]! / 1000),
      originUploadBytes: Math.round(this.#uploads.uploaded(0)),
      totalUploadBytes: Math.round(total),
      duplicateBytes: this.#duplicateBytes,
      events: this.#eventCount,
      policyCalls: this.#policyCalls,
      skippedCalls: this.#skippedCalls,
      declined: { ...this.#uploads.declines },
      topology: this.#net.description
    }
  }

  // --- UploadHost -----------------------------------------------------------

  sent (r: number): void {
    const q = this.#requests.i32
    const line = (q[16 * r + BITS]! & DIRECT) !== 0 ? this.#deliverLater : this.#deliverNow
    const fetcher = q[16 * r + FETCHER]!
    const index = q[16 * r + INDEX]!
    if (this.#down === Infinity) {
      line.push(this.now, fetcher, q[16 * r + FETCHER_SLOT]!, index)
      return
    }
    const f = fetcher * this.#stride / 2 + DOWN_FREE
    const at = Math.max(this.now + line.delayMs, this.#times[f]! + this.#sizes[index]! * 1000 / this.#down)
    this.#times[f] = at
    this.#messages.push(at, DELIVER, fetcher, q[16 * r + FETCHER_SLOT]!, index)
  }

  started (r: number): void { this.#chunks.markStarted(r) }

  /** Free a request record once neither side holds it; each side hands it here once, after letting go. */
  released (r: number): void {
    if ((this.#requests.i32[16 * r + BITS]! & (AT_FETCHER | AT_UPLOADER)) === 0) this.#requests.free(r)
  }

  // --- the fetch driver -----------------------------------------------------

  /** A policy call asked for (after an arrival, a rejection or a useful HAVE, merged within `coalesceMs`) is due, unless a tick served it. */
  #planDue (node: number): void {
    if ((this.#blocks[node * this.#stride + FLAGS]! & PLAN_PENDING) === 0 || this.#times[node * this.#stride / 2 + PLAN_AT] !== this.now) return
    this.#wake(node)
  }

  /** The fetcher's tick is due `tickMs` after the last policy call, unless another call came since. */
  #tickDue (node: number): void {
    if (this.#times[node * this.#stride / 2 + LAST_PLAN]! + this.#tickMs !== this.now) return
    this.#wake(node)
  }

  /** One policy call serves the pending request for one and the tick. */
  #wake (node: number): void {
    const block = node * this.#stride
    this.#blocks[block + FLAGS] = this.#blocks[block + FLAGS]! & ~PLAN_PENDING
    if (this.#times[block / 2 + DONE_AT]! >= 0) return
    this.#eventCount++
    this.#times[block / 2 + LAST_PLAN] = this.now
    this.#plan(node)
    const ticks = this.#ticks
    if (ticks === undefined) return
    // The pending tick would find a call since: void it, so that it pops without a look at this node.
    const pending = this.#blocks[block + TICK]!
    if (pending !== 0) ticks.cancel(pending - 1)
    this.#blocks[block + TICK] = ticks.push(this.now, node) + 1
  }

  /** Ask for a policy call of `node` after `line`'s delay, unless one is pending. */
  #planSoon (node: number, line: DelayLine): void {
    const block = node * this.#stride
    if ((this.#blocks[block + FLAGS]! & PLAN_PENDING) !== 0 || this.#times[block / 2 + DONE_AT]! >= 0) return
    this.#blocks[block + FLAGS] = this.#blocks[block + FLAGS]! | PLAN_PENDING
    this.#times[block / 2 + PLAN_AT] = this.now + line.delayMs
    line.push(this.now, node)
  }

  #plan (node: number): void {
    const block = node * this.#stride
    if (!this.#skipTest.mayDecide(node, this.now, this.#blocks[block + HELD]!, this.#blocks[block + INFLIGHT]!)) {
      this.#skippedCalls++
      if (this.#o.checkSkips === true && rarestFirst(this.#policyInput(node), this.now, this.#checkRandom).length > 0) throw new Error(`a skipped policy call of node ${node} would have decided something`)
      return
    }
    this.#policyCalls++
    const requests = rarestFirst(this.#policyInput(node), this.now, this.#random)
    for (let i = 0; i < requests.length; i++) this.#ask(node, requests[i]!)
  }

  #policyInput (node: number): PolicyInput {
    const k = this.#k
    const block = node * this.#stride
    const base = block + this.#state
    this.#current = node
    this.#currentBase = base
    this.#chunks.setNode(node, this.#net.start[node]!)
    const state = this.#blocks
    const input = this.#input
    const count = k - state[block + HELD]!
    const missing = this.#missing[count] ??= new Array<number>(count).fill(0)
    let m = 0
    for (let i = 0; i < k; i++) if ((state[base + i]! & HAVE) === 0) missing[m++] = i
    input.missing = missing
    input.inflightCount = state[block + INFLIGHT]!
    input.peers = this.#peersOf(node)
    return input
  }

  /** The pooled views of `node`'s neighbours, filled from the link state. */
  #peersOf (node: number): LinkView[] {
    const { start, neighbour } = this.#net
    const from = start[node]!
    const count = start[node + 1]! - from
    while (this.#views.length < count) this.#views.push(new LinkView(this, this.#ids[this.#views.length]!))
    const rtt = 2 * this.#latency
    const words = this.#words
    const typical = this.#blocks[node * this.#stride + TYPICAL]!
    const assumed = typical === 0 ? undefined : typical
    const declines = this.#blocks[node * this.#stride + DECLINED]! !== 0
    for (let i = 0; i < count; i++) {
      const view = this.#views[i]!
      const slot = from + i
      const throughput = this.#seenThroughput[slot]!
      view.throughput = throughput === 0 ? undefined : throughput
      view.assumedThroughput = throughput === 0 ? assumed : undefined
      view.rttMs = rtt
      view.base = neighbour[slot]! * words
      view.slot = slot
      view.declinedBase = declines ? slot * words : -1
      view.lastResort = this.#originLastResort && neighbour[slot] === 0
      const turns = neighbour[slot] === 0 ? this.#uploads.turns : undefined
      view.banned = turns?.choked(this.#net.back[slot]!) === true
      view.shown = turns?.shown(this.#net.back[slot]!)
    }
    return (this.#peerLists[count] ??= this.#views.slice(0, count))
  }

  #ask (node: number, decision: ChunkRequest): void {
    const start = this.#net.start[node]!
    const index = decision.index
    if (decision.replaces !== undefined) this.#cancel(node, start + Number(decision.replaces), index)
    const slot = start + Number(decision.peer)
    const uploader = this.#net.neighbour[slot]!
    const r = this.#requests.alloc()
    const q = this.#requests.i32
    this.#requests.f64[8 * r + SINCE] = this.now
    q[16 * r + BITS] = AT_FETCHER
    q[16 * r + FETCHER] = node
    q[16 * r + UPLOADER] = uploader
    q[16 * r + FETCHER_SLOT] = slot
    q[16 * r + UPLOADER_SLOT] = this.#net.back[slot]!
    q[16 * r + INDEX] = index
    this.#chunks.add(r)
    this.queue[2 * slot] = this.queue[2 * slot]! + 1
    this.#countInflight(node, 1)
    if (!this.#uploads.request(r)) this.#rejects.push(this.now, node, slot, index)
  }

  #countInflight (node: number, delta: number): void {
    const block = node * this.#stride
    const count = this.#blocks[block + INFLIGHT] = this.#blocks[block + INFLIGHT]! + delta
    const flags = this.#blocks[block + FLAGS]!
    this.#blocks[block + FLAGS] = count >= LIMITS.maxInflightTotal ? flags | INFLIGHT_FULL : flags & ~INFLIGHT_FULL
  }

  /** Withdraw `node`'s request for `index` on link `slot`, and tell the peer (instantly: latency is small next to a chunk's time). */
  #cancel (node: number, slot: number, index: number): void {
    const r = this.#takeRequest(node, slot, index)
    if (r === 0) return
    if ((this.#requests.i32[16 * r + BITS]! & AT_UPLOADER) !== 0) this.#uploads.cancel(r)
    else this.released(r)
  }

  /** Remove the fetcher's record of its request for `index` on link `slot` (0: none); the caller hands it to `released` when done with it. */
  #takeRequest (node: number, slot: number, index: number): number {
    const r = this.#chunks.take(node, index, slot)
    if (r === 0) return 0
    const q = this.#requests.i32
    q[16 * r + BITS] = q[16 * r + BITS]! & ~AT_FETCHER
    this.queue[2 * slot] = this.queue[2 * slot]! - 1
    this.#countInflight(node, -1)
    return r
  }

  #onReject (fetcher: number, slot: number, index: number): void {
    const r = this.#takeRequest(fetcher, slot, index)
    if (r === 0) return
    this.released(r)
    const bit = slot * this.#words + (index >> 5)
    const mask = 1 << (index & 31)
    this.#planSoon(fetcher, this.#planNow)
    if ((this.declinedBits[bit]! & mask) !== 0) return // cannot happen (see declinedBits); counted once if it did
    this.declinedBits[bit] = this.declinedBits[bit]! | mask
    const block = fetcher * this.#stride
    this.#blocks[block + this.#state + index] = this.#blocks[block + this.#state + index]! - 1
    this.#blocks[block + DECLINED] = this.#blocks[block + DECLINED]! + 1
    this.#declineEnds.push(this.now, fetcher, slot, index)
  }

  /** `rejectBackoffMs` after the peer at `slot` declined `index`: the fetcher may ask it again, and counts it as a holder again. */
  #declineEnded (fetcher: number, slot: number, index: number): void {
    const bit = slot * this.#words + (index >> 5)
    this.declinedBits[bit] = this.declinedBits[bit]! & ~(1 << (index & 31))
    const block = fetcher * this.#stride
    this.#blocks[block + this.#state + index] = this.#blocks[block + this.#state + index]! + 1
    this.#blocks[block + DECLINED] = this.#blocks[block + DECLINED]! - 1
  }

  #deliver (fetcher: number, slot: number, index: number): void {
    const r = this.#takeRequest(fetcher, slot, index)
    const size = this.#sizes[index]!
    const block = fetcher * this.#stride
    const word = block + this.#state + index
    const blocks = this.#blocks
    const held = (blocks[word]! & HAVE) !== 0
    if (r !== 0) {
      if (!held) this.#measure(fetcher, slot, this.#requests.f64[8 * r + SINCE]!, size)
      this.released(r)
    }
    if (held) { this.#duplicateBytes += size; return }
    blocks[word] = blocks[word]! | HAVE
    const bits = fetcher * this.#words + (index >> 5)
    this.haveBits[bits] = this.haveBits[bits]! | (1 << (index & 31))
    for (let first = this.#chunks.first(fetcher, index); first !== 0; first = this.#chunks.first(fetcher, index)) {
      const q = this.#requests.i32
      let last = first
      while (q[16 * last + NEXT_COPY] !== 0) last = q[16 * last + NEXT_COPY]!
      this.#cancel(fetcher, q[16 * last + FETCHER_SLOT]!, index)
    }
    blocks[block + HELD] = blocks[block + HELD]! + 1
    if (blocks[block + HELD] === this.#k) {
      this.#times[block / 2 + DONE_AT] = this.now
      this.#remaining--
    }
    this.#announce(fetcher, index)
    this.#planSoon(fetcher, this.#planNow)
  }

  /** Fold a delivery into the link's throughput estimate, as PeerState.recordDelivery does. */
  #measure (fetcher: number, slot: number, since: number, size: number): void {
    const times = this.#linkTimes
    const elapsed = Math.max(1, this.now - Math.max(since, times[2 * slot + 1]!))
    const sample = size * 1000 / elapsed
    const old = times[2 * slot]!
    const alpha = FETCH_DEFAULTS.ewmaAlpha
    const throughput = times[2 * slot] = Number.isNaN(old) ? sample : alpha * sample + (1 - alpha) * old
    const seen = this.#seenThroughput[slot] = Math.min(2 ** 30, Math.max(1, Math.round(throughput)))
    this.queue[2 * slot + 1] = peerQueueDepth({ throughput: seen }, this.#chunkBytes, LIMITS)
    times[2 * slot + 1] = this.now
    this.#blocks[fetcher * this.#stride + TYPICAL] = this.#typical.of(fetcher)
  }

  /**
   * HAVE to every neighbour (counted at once); those for which it could
   * lead to a request (not held nor asked for, a free place in the queue at
   * the sender, no call pending anyway) call their policy after the latency.
   */
  #announce (node: number, index: number): void {
    const { start, neighbour, back } = this.#net
    const stride = this.#stride
    const offset = this.#state + index
    const blocks = this.#blocks
    const from = start[node]!
    const to = start[node + 1]!
    // Count first, decide after: no branch waits on a neighbour's word, so their cache misses overlap.
    for (let s = from; s < to; s++) {
      const word = neighbour[s]! * stride + offset
      blocks[word] = blocks[word]! + 1
    }
    for (let s = from; s < to; s++) {
      const other = neighbour[s]!
      // A finished agent holds every chunk, so the first test skips it too.
      if ((blocks[other * stride + offset]! & (HAVE | COPIES)) !== 0 || blocks[other * stride + FLAGS] !== 0) continue
      const b = 2 * back[s]!
      if (this.queue[b]! < this.queue[b + 1]!) this.#planSoon(other, this.#planOnHave)
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

function evenChunks (packageBytes: number, chunkBytes: number): number[] {
  const k = Math.ceil(packageBytes / chunkBytes)
  return Array.from({ length: k }, (_, i) => Math.min(chunkBytes, packageBytes - i * chunkBytes))
}
