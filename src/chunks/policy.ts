/**
 * The piece-selection policy: which chunk to ask for next, and from whom.
 * Pure: no I/O, no timers; time and randomness come in as arguments, so the
 * agents' fetch driver and the swarm simulator run the very same decisions.
 */

/** What the policy knows about one peer. */
export interface PeerView {
  readonly id: string
  /** Which chunks the peer has; `has(i)` false for unknown. */
  readonly has: (index: number) => boolean
  /** Requests outstanding at this peer. */
  readonly inflight: number
  /** Smoothed observed throughput from this peer in bytes/s, if measured. */
  readonly throughput?: number
  /**
   * Throughput to expect of the peer while it is not measured (e.g. what the
   * measured peers deliver), instead of the optimistic default. It ranks
   * holders only: an unmeasured peer still gets two requests until measured.
   */
  readonly assumedThroughput?: number
  /** Round-trip time in ms, if measured. */
  readonly rttMs?: number
  /** Peers that sent bad data or kept timing out are never asked. */
  readonly banned: boolean
  /**
   * The package's origin: asked only for chunks no other peer in view
   * holds. Its uplink is what every copy starts from, so a chunk a
   * neighbour can give is better waited for than taken from it again.
   */
  readonly lastResort?: boolean
  /**
   * The peer was rested for timing out and has sent nothing since (a link
   * that went down looks like this for minutes): it does not count as a
   * holder that keeps the origin from being asked.
   */
  readonly doubtful?: boolean
}

/**
 * A copy of `view` with `change` applied: what a driver shows the policy of
 * a peer it knows more about (the chunks it may ask a far peer for, a
 * throughput to assume). Every field is copied here, once, so a view that
 * changes one of them loses none of the others.
 */
export function viewWith (view: PeerView, change: Partial<PeerView>): PeerView {
  const { id, has, inflight, throughput, assumedThroughput, rttMs, banned, lastResort, doubtful } = view
  return { id, has, inflight, throughput, assumedThroughput, rttMs, banned, lastResort, doubtful, ...change }
}

/** A request for one chunk from one outstanding peer. */
export interface InflightRequest {
  readonly peer: string
  /** When it was sent, in ms of the injected clock. */
  readonly since: number
  /** Whether the chunk's first bytes have arrived (a started request is never moved). */
  readonly started?: boolean
}

/** Everything the policy decides from. */
export interface PolicyInput {
  /** Size of each chunk, by index. */
  readonly chunkSizes: readonly number[]
  /** Whether this node already holds chunk `i`. */
  readonly haveLocal: (index: number) => boolean
  /** Chunks this node still needs (a superset filter is fine; held ones are skipped). */
  readonly missing: readonly number[]
  /** Outstanding requests per chunk index (read with `get` and `forEach` only). */
  readonly inflight: ReadonlyMap<number, readonly InflightRequest[]>
  readonly peers: readonly PeerView[]
  readonly limits: PolicyLimits
  /**
   * Optional: how many usable peers (not banned) have chunk `i` per their
   * `has(i)`, for a driver that keeps this count up to date as HAVEs
   * arrive. Ranking then costs O(missing chunks) instead of O(missing
   * chunks × peers); the decisions are the same as without it.
   */
  readonly holders?: (index: number) => number
  /**
   * Optional: the number of requests in `inflight` (all lists' lengths
   * added up), for a driver that keeps it; saves a pass over the map.
   */
  readonly inflightCount?: number
}

export interface PolicyLimits {
  readonly maxInflightPerPeer: number
  /**
   * Work queued at one peer, in ms of its measured throughput: a slow peer
   * gets fewer outstanding requests, so chunks are not stuck in its queue
   * while faster holders appear.
   */
  readonly targetQueueMs: number
  readonly maxInflightTotal: number
  /** End game starts when this many chunks or fewer are missing and none is left to ask for. */
  readonly endgameChunks: number
  /** Requests for one chunk at once during end game. */
  readonly endgameCopies: number
}

/** One decision: ask `peer` for chunk `index` (cancelling the request at `replaces`, if set). */
export interface ChunkRequest {
  readonly index: number
  readonly peer: string
  readonly replaces?: string
}

/** The policy's signature: the driver calls it whenever something changed. */
export type SelectionPolicy = (input: PolicyInput, now: number, random: () => number) => ChunkRequest[]

/** Throughput assumed for a peer not yet measured: optimistic, so new peers get tried. @default 8 MiB/s */
const UNMEASURED_THROUGHPUT = 8 * 1024 * 1024

/** A waiting request is not moved before it is this old (exported for drivers that skip calls which cannot decide anything). @default 1000 ms */
export const MIGRATE_MIN_WAIT_MS = 1000

/** Least time a request must have waited before end game duplicates it. @default 500 ms */
export const ENDGAME_MIN_WAIT_MS = 500

/**
 * Per-call working state, kept between calls so that a call allocates
 * almost nothing (the policy runs after every arrival, in every agent and
 * up to millions of times in a simulation). Safe because a call is
 * synchronous and never re-entered. Indexed by position in `input.peers`.
 */
const work = {
  /** Requests the peer may still take; -Infinity marks a banned peer (no slot). */
  free: new Float64Array(64),
  /** Requests the peer will have queued, counting this call's. */
  queued: new Float64Array(64),
  /** Positions of the peers with a free slot left, in order (none: no chunk can be placed). */
  freeList: new Int32Array(64),
  freePeers: 0,
  /** Candidate chunk indices and their rarity, then the same sorted by rarity. */
  index: new Int32Array(256),
  rarity: new Int32Array(256),
  sorted: new Int32Array(256),
  /** Chunks per rarity, then where each rarity starts in `sorted`. */
  bucket: new Int32Array(64),
  /** Peer id to position, built only when a call needs it. */
  position: new Map<string, number>(),
  positionsOf: undefined as readonly PeerView[] | undefined
}

/**
 * Rarest-first with a random tie-break, each chunk sent to the holder that
 * should deliver it soonest (queue length, throughput, RTT), within the
 * per-peer and total request bounds; then end game: duplicate requests for
 * the last few chunks at other holders.
 */
export const rarestFirst: SelectionPolicy = (input, now, random) => {
  work.positionsOf = undefined
  const wantedBySlots = fillSlots(input)
  let budget = input.limits.maxInflightTotal - (input.inflightCount ?? countInflight(input.inflight))
  const requests: ChunkRequest[] = []
  const wanted = Math.min(budget, wantedBySlots)
  const count = wanted > 0 ? rankByRarity(input, random, candidateLimit(wanted)) : 0
  for (let c = 0; c < count && budget > 0 && work.freePeers > 0; c++) {
    const index = work.sorted[c]!
    const peer = pickPeer(input, index, undefined, Infinity)
    if (peer < 0) continue
    requests.push({ index, peer: input.peers[peer]!.id })
    budget--
  }
  if (wanted > 0 && count === 0) endgame(input, budget, now, requests)
  migrations(input, now, requests)
  return requests
}

/**
 * Requests to keep outstanding at a peer: enough to cover `targetQueueMs` of
 * its measured throughput, plus one so its link never idles between chunks;
 * two until it is measured (its first deliveries measure it). Exported so a
 * driver can tell cheaply whether news from a peer could lead to a request.
 */
export function peerQueueDepth (peer: Pick<PeerView, 'throughput'>, chunkBytes: number, limits: PolicyLimits): number {
  if (peer.throughput === undefined) return Math.min(2, limits.maxInflightPerPeer)
  const covered = Math.ceil(peer.throughput * limits.targetQueueMs / 1000 / Math.max(1, chunkBytes))
  return Math.max(2, Math.min(limits.maxInflightPerPeer, covered + 1))
}

/** Set every peer's free and queued slots; returns the free slots in all. */
function fillSlots (input: PolicyInput): number {
  const peers = input.peers
  if (work.free.length < peers.length) {
    work.free = new Float64Array(peers.length * 2)
    work.queued = new Float64Array(peers.length * 2)
    work.freeList = new Int32Array(peers.length * 2)
  }
  const chunkBytes = averageChunk(input.chunkSizes)
  let total = 0
  work.freePeers = 0
  for (let p = 0; p < peers.length; p++) {
    const peer = peers[p]!
    if (peer.banned) { work.free[p] = -Infinity; work.queued[p] = 0; continue }
    const free = peerQueueDepth(peer, chunkBytes, input.limits) - peer.inflight
    work.free[p] = free
    work.queued[p] = peer.inflight
    if (free > 0) { total += free; work.freeList[work.freePeers++] = p }
  }
  return total
}

/**
 * Candidates to rank for `wanted` requests: more than wanted, because the
 * rarest chunks may all sit at peers whose queues are full.
 */
function candidateLimit (wanted: number): number {
  return wanted * 8 + 16
}

/**
 * Move requests that sit unstarted in a slow peer's queue to a holder
 * expected to deliver in under half the time: chunks asked of the origin
 * while rare are often held by several fast peers a second later.
 */
function migrations (input: PolicyInput, now: number, out: ChunkRequest[]): void {
  if (work.freePeers === 0) return
  moves.input = input
  moves.now = now
  moves.out = out
  input.inflight.forEach(considerMove)
  moves.input = undefined
  moves.out = undefined
}

/** The call's arguments for {@link considerMove}, which `Map.forEach` calls without a closure per call. */
const moves = { input: undefined as PolicyInput | undefined, now: 0, out: undefined as ChunkRequest[] | undefined }

function considerMove (list: readonly InflightRequest[], index: number): void {
  const request = list[0]
  if (list.length !== 1 || request === undefined || request.started === true || moves.now - request.since < MIGRATE_MIN_WAIT_MS) return
  const input = moves.input!
  const at = positionOf(input.peers, request.peer)
  if (at < 0) return
  const current = input.peers[at]!
  const size = input.chunkSizes[index] ?? 0
  const currentEta = eta(current, current.inflight, size)
  const better = pickPeer(input, index, list, currentEta / 2)
  if (better >= 0) moves.out!.push({ index, peer: input.peers[better]!.id, replaces: request.peer })
}

/** Peer lists up to this long are searched; longer ones get an id index, built once per call. */
const LINEAR_SEARCH_PEERS = 32

/** Position of the peer with this id in `peers` (the last one, should ids repeat), or -1. */
function positionOf (peers: readonly PeerView[], id: string): number {
  if (peers.length <= LINEAR_SEARCH_PEERS) {
    for (let p = peers.length - 1; p >= 0; p--) if (peers[p]!.id === id) return p
    return -1
  }
  if (work.positionsOf !== peers) {
    work.position.clear()
    for (let p = 0; p < peers.length; p++) work.position.set(peers[p]!.id, p)
    work.positionsOf = peers
  }
  return work.position.get(id) ?? -1
}

/** When a chunk of `size` bytes asked of `peer` behind `queued` requests is expected, in ms: what the policy ranks holders by (exported for drivers that skip calls which cannot decide anything). */
export function eta (peer: Pick<PeerView, 'rttMs' | 'throughput' | 'assumedThroughput'>, queued: number, size: number): number {
  return (peer.rttMs ?? 0) + 1000 * queued * size / (peer.throughput ?? peer.assumedThroughput ?? UNMEASURED_THROUGHPUT)
}

function averageChunk (sizes: readonly number[]): number {
  let total = 0
  for (let i = 0; i < sizes.length; i++) total += sizes[i]!
  return sizes.length === 0 ? 0 : total / sizes.length
}

function countInflight (inflight: PolicyInput['inflight']): number {
  counted = 0
  inflight.forEach(countList)
  return counted
}

let counted = 0
function countList (list: readonly InflightRequest[]): void { counted += list.length }

/**
 * Rank up to `limit` missing, not yet requested chunks that some usable
 * peer has, rarest first, ties in random order, into `work.sorted`; returns
 * how many. A stable counting sort by rarity rather than a full sort: the
 * driver asks after every arrival, and only needs a few.
 */
function rankByRarity (input: PolicyInput, random: () => number, limit: number): number {
  const { peers, missing, inflight } = input
  const usable = countUsable(peers)
  reserve(missing.length, usable + 2)
  const { index, rarity, sorted, bucket } = work
  bucket.fill(0, 0, usable + 2)
  let m = 0
  for (let i = 0; i < missing.length; i++) {
    const chunk = missing[i]!
    if (input.haveLocal(chunk) || (inflight.get(chunk)?.length ?? 0) > 0) continue
    const holders = input.holders !== undefined ? Math.min(usable, input.holders(chunk)) : countHolders(peers, chunk)
    if (holders <= 0) continue
    index[m] = chunk
    rarity[m] = holders
    bucket[holders + 1] = bucket[holders + 1]! + 1
    m++
  }
  for (let r = 1; r <= usable + 1; r++) bucket[r] = bucket[r]! + bucket[r - 1]!
  for (let i = 0; i < m; i++) {
    const r = rarity[i]!
    sorted[bucket[r]!] = index[i]!
    bucket[r] = bucket[r]! + 1
  }
  // bucket[r] is now where rarity r + 1 starts: shuffle the head of each rarity's run.
  // Every run but the last one taken is taken whole, so the ranked chunks stay at the front.
  let ranked = 0
  let start = 0
  for (let r = 1; r <= usable && ranked < limit; r++) {
    const end = bucket[r]!
    const take = Math.min(end - start, limit - ranked)
    shuffleFirst(sorted, start, end, take, random)
    ranked += take
    start = end
  }
  return ranked
}

/** Usable peers that have `chunk` (the per-call slots mark banned ones). */
function countHolders (peers: readonly PeerView[], chunk: number): number {
  let holders = 0
  for (let p = 0; p < peers.length; p++) if (work.free[p] !== -Infinity && peers[p]!.has(chunk)) holders++
  return holders
}

function countUsable (peers: readonly PeerView[]): number {
  let n = 0
  for (let p = 0; p < peers.length; p++) if (!peers[p]!.banned) n++
  return n
}

/** Grow the ranking buffers to hold `chunks` candidates and `rarities` counters. */
function reserve (chunks: number, rarities: number): void {
  if (work.index.length < chunks) {
    work.index = new Int32Array(chunks * 2)
    work.rarity = new Int32Array(chunks * 2)
    work.sorted = new Int32Array(chunks * 2)
  }
  if (work.bucket.length < rarities) work.bucket = new Int32Array(rarities * 2)
}

/** Partial Fisher-Yates on items[start, end): make the first `count` a uniform random pick, in random order. */
function shuffleFirst (items: Int32Array, start: number, end: number, count: number, random: () => number): void {
  const length = end - start
  for (let i = 0; i < count; i++) {
    const a = start + i
    const b = a + Math.floor(random() * (length - i))
    const tmp = items[a]!
    items[a] = items[b]!
    items[b] = tmp
  }
}

/** Whether `id` has one of the requests in `list`. */
function asked (list: readonly InflightRequest[] | undefined, id: string): boolean {
  if (list === undefined) return false
  for (let i = 0; i < list.length; i++) if (list[i]!.peer === id) return true
  return false
}

/**
 * The holder with a free slot expected to deliver `index` first, before
 * `deadline` ms, and not already asked for it (per `exclude`); takes the
 * slot and returns its position, or -1.
 */
function pickPeer (input: PolicyInput, index: number, exclude: readonly InflightRequest[] | undefined, deadline: number): number {
  const size = input.chunkSizes[index] ?? 0
  const peers = input.peers
  const { freeList, freePeers } = work
  let best = -1
  let bestEta = deadline
  for (let f = 0; f < freePeers; f++) {
    const p = freeList[f]!
    const peer = peers[p]!
    // The arithmetic first: has() may be a lookup in the driver's tables.
    const peerEta = eta(peer, work.queued[p]! + 1, size)
    if (!(peerEta < bestEta) || !peer.has(index) || asked(exclude, peer.id)) continue
    if (peer.lastResort === true && anotherHolds(peers, index, p)) continue
    bestEta = peerEta
    best = p
  }
  if (best >= 0) {
    work.free[best] = work.free[best]! - 1
    work.queued[best] = work.queued[best]! + 1
    if (work.free[best] === 0) dropFree(best)
  }
  return best
}

/** Whether a usable peer other than the one at `except` holds chunk `index` (busy or not; not a doubtful one). */
function anotherHolds (peers: readonly PeerView[], index: number, except: number): boolean {
  for (let p = 0; p < peers.length; p++) {
    const peer = peers[p]!
    if (p !== except && !peer.banned && peer.doubtful !== true && peer.has(index)) return true
  }
  return false
}

/** Take a peer whose slots are all taken off the free list, keeping the order. */
function dropFree (position: number): void {
  const list = work.freeList
  const at = list.subarray(0, work.freePeers).indexOf(position)
  list.copyWithin(at, at + 1, work.freePeers)
  work.freePeers--
}

function isOverdue (request: InflightRequest, size: number, peer: PeerView | undefined, now: number): boolean {
  const expected = peer === undefined ? 0 : eta(peer, Math.max(1, peer.inflight), size)
  return now - request.since > Math.max(ENDGAME_MIN_WAIT_MS, 2 * expected)
}

function allOverdue (input: PolicyInput, list: readonly InflightRequest[], size: number, now: number): boolean {
  for (const request of list) {
    const at = positionOf(input.peers, request.peer)
    if (!isOverdue(request, size, at < 0 ? undefined : input.peers[at], now)) return false
  }
  return true
}

/**
 * Duplicate requests for the last outstanding chunks, at holders not yet
 * asked, but only for requests that are overdue (waiting more than twice as
 * long as their peer's throughput predicts): a duplicate of a request about
 * to land only wastes the sender's upload.
 */
function endgame (input: PolicyInput, budget: number, now: number, out: ChunkRequest[]): void {
  let outstanding = 0
  for (const index of input.missing) if (!input.haveLocal(index)) outstanding++
  if (outstanding === 0 || outstanding > input.limits.endgameChunks) return
  for (const index of input.missing) {
    if (input.haveLocal(index)) continue
    const list = input.inflight.get(index)
    if ((list?.length ?? 0) >= input.limits.endgameCopies || budget <= 0) continue
    if (list !== undefined && !allOverdue(input, list, input.chunkSizes[index] ?? 0, now)) continue
    const peer = pickPeer(input, index, list, Infinity)
    if (peer < 0) continue
    out.push({ index, peer: input.peers[peer]!.id })
    budget--
  }
}
