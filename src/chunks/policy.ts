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
  /** Round-trip time in ms, if measured. */
  readonly rttMs?: number
  /** Peers that sent bad data or kept timing out are never asked. */
  readonly banned: boolean
}

/** A request for one chunk from one outstanding peer. */
export interface InflightRequest {
  readonly peer: string
  /** When it was sent, in ms of the injected clock. */
  readonly since: number
}

/** Everything the policy decides from. */
export interface PolicyInput {
  /** Size of each chunk, by index. */
  readonly chunkSizes: readonly number[]
  /** Whether this node already holds chunk `i`. */
  readonly haveLocal: (index: number) => boolean
  /** Chunks this node still needs (a superset filter is fine; held ones are skipped). */
  readonly missing: readonly number[]
  /** Outstanding requests per chunk index. */
  readonly inflight: ReadonlyMap<number, readonly InflightRequest[]>
  readonly peers: readonly PeerView[]
  readonly limits: PolicyLimits
}

export interface PolicyLimits {
  readonly maxInflightPerPeer: number
  readonly maxInflightTotal: number
  /** End game starts when this many chunks or fewer are missing and none is left to ask for. */
  readonly endgameChunks: number
  /** Requests for one chunk at once during end game. */
  readonly endgameCopies: number
}

/** One decision: ask `peer` for chunk `index`. */
export interface ChunkRequest {
  readonly index: number
  readonly peer: string
}

/** The policy's signature: the driver calls it whenever something changed. */
export type SelectionPolicy = (input: PolicyInput, now: number, random: () => number) => ChunkRequest[]

/** Throughput assumed for a peer not yet measured: optimistic, so new peers get tried. @default 8 MiB/s */
const UNMEASURED_THROUGHPUT = 8 * 1024 * 1024

/**
 * Rarest-first with a random tie-break, each chunk sent to the holder that
 * should deliver it soonest (queue length, throughput, RTT), within the
 * per-peer and total request bounds; then end game: duplicate requests for
 * the last few chunks at other holders.
 */
export const rarestFirst: SelectionPolicy = (input, now, random) => {
  const slots = new Map(input.peers.filter(p => !p.banned).map(p => [p.id, input.limits.maxInflightPerPeer - p.inflight]))
  let budget = input.limits.maxInflightTotal - countInflight(input.inflight)
  const requests: ChunkRequest[] = []
  const candidates = rankByRarity(input, random)
  for (const index of candidates) {
    if (budget <= 0) break
    const peer = pickPeer(input, index, slots, new Set())
    if (peer === undefined) continue
    requests.push({ index, peer })
    budget--
  }
  if (budget > 0 && candidates.length === 0) {
    requests.push(...endgame(input, slots, budget, now))
  }
  return requests
}

function countInflight (inflight: PolicyInput['inflight']): number {
  let n = 0
  for (const list of inflight.values()) n += list.length
  return n
}

/** Missing, not yet requested chunks that some usable peer has, rarest first. */
function rankByRarity (input: PolicyInput, random: () => number): number[] {
  const usable = input.peers.filter(p => !p.banned)
  const ranked: Array<{ index: number, rarity: number, tie: number }> = []
  for (const index of input.missing) {
    if (input.haveLocal(index) || (input.inflight.get(index)?.length ?? 0) > 0) continue
    let rarity = 0
    for (const peer of usable) if (peer.has(index)) rarity++
    if (rarity > 0) ranked.push({ index, rarity, tie: random() })
  }
  ranked.sort((a, b) => a.rarity - b.rarity || a.tie - b.tie)
  return ranked.map(r => r.index)
}

/** The holder with a free slot that is expected to deliver `index` first. */
function pickPeer (input: PolicyInput, index: number, slots: Map<string, number>, exclude: ReadonlySet<string>): string | undefined {
  const size = input.chunkSizes[index] ?? 0
  let best: string | undefined
  let bestEta = Infinity
  for (const peer of input.peers) {
    const free = slots.get(peer.id) ?? 0
    if (free <= 0 || exclude.has(peer.id) || !peer.has(index)) continue
    const queued = input.limits.maxInflightPerPeer - free + 1
    const eta = (peer.rttMs ?? 0) + 1000 * queued * size / (peer.throughput ?? UNMEASURED_THROUGHPUT)
    if (eta < bestEta) { bestEta = eta; best = peer.id }
  }
  if (best !== undefined) slots.set(best, (slots.get(best) ?? 0) - 1)
  return best
}

/** Least time a request must have waited before end game duplicates it. @default 500 ms */
const ENDGAME_MIN_WAIT_MS = 500

function isOverdue (request: InflightRequest, size: number, peer: PeerView | undefined, now: number): boolean {
  const expected = 1000 * size * Math.max(1, peer?.inflight ?? 1) / (peer?.throughput ?? UNMEASURED_THROUGHPUT)
  return now - request.since > Math.max(ENDGAME_MIN_WAIT_MS, 2 * expected)
}

/**
 * Duplicate requests for the last outstanding chunks, at holders not yet
 * asked, but only for requests that are overdue (waiting more than twice as
 * long as their peer's throughput predicts): a duplicate of a request about
 * to land only wastes the sender's upload.
 */
function endgame (input: PolicyInput, slots: Map<string, number>, budget: number, now: number): ChunkRequest[] {
  const outstanding = input.missing.filter(i => !input.haveLocal(i))
  if (outstanding.length === 0 || outstanding.length > input.limits.endgameChunks) return []
  const peers = new Map(input.peers.map(p => [p.id, p]))
  const requests: ChunkRequest[] = []
  for (const index of outstanding) {
    const asked = input.inflight.get(index) ?? []
    if (asked.length >= input.limits.endgameCopies || budget <= 0) continue
    if (!asked.every(r => isOverdue(r, input.chunkSizes[index] ?? 0, peers.get(r.peer), now))) continue
    const peer = pickPeer(input, index, slots, new Set(asked.map(r => r.peer)))
    if (peer === undefined) continue
    requests.push({ index, peer })
    budget--
  }
  return requests
}
