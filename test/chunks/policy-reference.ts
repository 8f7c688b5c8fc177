/**
 * The selection policy as it was before it was optimised (straightforward
 * Maps, Sets and per-call arrays), kept as the reference that
 * test/chunks/policy.test.ts checks the optimised `rarestFirst` against:
 * same inputs and random sequence, same decisions.
 */
import type { ChunkRequest, InflightRequest, PeerView, PolicyInput, PolicyLimits, SelectionPolicy } from '../../src/chunks/policy.ts'

/** Per usable peer: requests it may still take, and requests it will have queued. */
type Slots = Map<string, { free: number, queued: number }>

/** Throughput assumed for a peer not yet measured: optimistic, so new peers get tried. @default 8 MiB/s */
const UNMEASURED_THROUGHPUT = 8 * 1024 * 1024

/**
 * Rarest-first with a random tie-break, each chunk sent to the holder that
 * should deliver it soonest (queue length, throughput, RTT), within the
 * per-peer and total request bounds; then end game: duplicate requests for
 * the last few chunks at other holders.
 */
export const referenceRarestFirst: SelectionPolicy = (input, now, random) => {
  const chunkBytes = averageChunk(input.chunkSizes)
  const slots: Slots = new Map(input.peers.filter(p => !p.banned).map(p => [p.id, {
    free: queueDepth(p, chunkBytes, input.limits) - p.inflight,
    queued: p.inflight
  }]))
  let budget = input.limits.maxInflightTotal - countInflight(input.inflight)
  const requests: ChunkRequest[] = []
  const wanted = Math.min(budget, [...slots.values()].reduce((n, s) => n + Math.max(0, s.free), 0))
  const candidates = wanted > 0 ? rankByRarity(input, random, candidateLimit(wanted)) : []
  for (const index of candidates) {
    if (budget <= 0) break
    const peer = pickPeer(input, index, slots, new Set())
    if (peer === undefined) continue
    requests.push({ index, peer })
    budget--
  }
  if (wanted > 0 && candidates.length === 0) {
    requests.push(...endgame(input, slots, budget, now))
  }
  requests.push(...migrations(input, slots, now))
  return requests
}

/**
 * Candidates to rank for `wanted` requests: more than wanted, because the
 * rarest chunks may all sit at peers whose queues are full.
 */
function candidateLimit (wanted: number): number {
  return wanted * 8 + 16
}

/** A waiting request is not moved before it is this old. @default 1000 ms */
const MIGRATE_MIN_WAIT_MS = 1000

/**
 * Move requests that sit unstarted in a slow peer's queue to a holder
 * expected to deliver in under half the time: chunks asked of the origin
 * while rare are often held by several fast peers a second later.
 */
function migrations (input: PolicyInput, slots: Slots, now: number): ChunkRequest[] {
  const peers = new Map(input.peers.map(p => [p.id, p]))
  const moves: ChunkRequest[] = []
  for (const [index, list] of input.inflight) {
    const request = list[0]
    if (list.length !== 1 || request === undefined || request.started === true || now - request.since < MIGRATE_MIN_WAIT_MS) continue
    const current = peers.get(request.peer)
    if (current === undefined) continue
    const size = input.chunkSizes[index] ?? 0
    const currentEta = eta(current, current.inflight, size)
    const better = pickPeer(input, index, slots, new Set([request.peer]), currentEta / 2)
    if (better !== undefined) moves.push({ index, peer: better, replaces: request.peer })
  }
  return moves
}

function eta (peer: PeerView, queued: number, size: number): number {
  return (peer.rttMs ?? 0) + 1000 * queued * size / (peer.throughput ?? peer.assumedThroughput ?? UNMEASURED_THROUGHPUT)
}

/**
 * Requests to keep outstanding at a peer: enough to cover `targetQueueMs` of
 * its measured throughput, plus one so its link never idles between chunks;
 * two until it is measured (its first deliveries measure it).
 */
function queueDepth (peer: PeerView, chunkBytes: number, limits: PolicyLimits): number {
  if (peer.throughput === undefined) return Math.min(2, limits.maxInflightPerPeer)
  const covered = Math.ceil(peer.throughput * limits.targetQueueMs / 1000 / Math.max(1, chunkBytes))
  return Math.max(2, Math.min(limits.maxInflightPerPeer, covered + 1))
}

function averageChunk (sizes: readonly number[]): number {
  let total = 0
  for (const size of sizes) total += size
  return sizes.length === 0 ? 0 : total / sizes.length
}

function countInflight (inflight: PolicyInput['inflight']): number {
  let n = 0
  for (const list of inflight.values()) n += list.length
  return n
}

/**
 * Up to `limit` missing, not yet requested chunks that some usable peer has,
 * rarest first, ties in random order. Buckets by rarity rather than sorting
 * everything: the driver asks after every arrival, and only needs a few.
 */
function rankByRarity (input: PolicyInput, random: () => number, limit: number): number[] {
  const usable = input.peers.filter(p => !p.banned)
  const buckets: number[][] = Array.from({ length: usable.length + 1 }, () => [])
  for (const index of input.missing) {
    if (input.haveLocal(index) || (input.inflight.get(index)?.length ?? 0) > 0) continue
    let rarity = 0
    for (const peer of usable) if (peer.has(index)) rarity++
    if (rarity > 0) buckets[rarity]!.push(index)
  }
  const ranked: number[] = []
  for (const bucket of buckets) {
    shuffleFirst(bucket, Math.min(bucket.length, limit - ranked.length), random)
    for (const index of bucket) {
      if (ranked.length >= limit) return ranked
      ranked.push(index)
    }
  }
  return ranked
}

/** Partial Fisher-Yates: make the first `count` items a uniform random pick, in random order. */
function shuffleFirst (items: number[], count: number, random: () => number): void {
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (items.length - i))
    const tmp = items[i]!
    items[i] = items[j]!
    items[j] = tmp
  }
}

/** The holder with a free slot expected to deliver `index` first (and before `deadline` ms, if given). */
function pickPeer (input: PolicyInput, index: number, slots: Slots, exclude: ReadonlySet<string>, deadline = Infinity): string | undefined {
  const size = input.chunkSizes[index] ?? 0
  let best: string | undefined
  let bestEta = deadline
  for (const peer of input.peers) {
    const slot = slots.get(peer.id)
    if (slot === undefined || slot.free <= 0 || exclude.has(peer.id) || !peer.has(index)) continue
    const peerEta = eta(peer, slot.queued + 1, size)
    if (peerEta < bestEta) { bestEta = peerEta; best = peer.id }
  }
  const chosen = best === undefined ? undefined : slots.get(best)
  if (chosen !== undefined) { chosen.free--; chosen.queued++ }
  return best
}

/** Least time a request must have waited before end game duplicates it. @default 500 ms */
const ENDGAME_MIN_WAIT_MS = 500

function isOverdue (request: InflightRequest, size: number, peer: PeerView | undefined, now: number): boolean {
  const expected = peer === undefined ? 0 : eta(peer, Math.max(1, peer.inflight), size)
  return now - request.since > Math.max(ENDGAME_MIN_WAIT_MS, 2 * expected)
}

/**
 * Duplicate requests for the last outstanding chunks, at holders not yet
 * asked, but only for requests that are overdue (waiting more than twice as
 * long as their peer's throughput predicts): a duplicate of a request about
 * to land only wastes the sender's upload.
 */
function endgame (input: PolicyInput, slots: Slots, budget: number, now: number): ChunkRequest[] {
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
