/**
 * The driver's test for a policy call that cannot decide anything, so that
 * the simulator need not make it. It reads the same state the policy's
 * input is built from and only ever answers "nothing to decide" when the
 * policy would return no request: its checks are supersets of the policy's
 * (a peer's `has` is the HAVE bit less recent declines; the ETAs use the
 * policy's own `eta` with the fewest requests a peer can have queued in the
 * call, and the throughput the call shows, assumed ones included). The simulation's `checkSkips` option verifies that on every
 * skipped call.
 */
import { ENDGAME_MIN_WAIT_MS, eta, MIGRATE_MIN_WAIT_MS, type PolicyLimits } from '../../src/chunks/policy.ts'
import { COPIES, COPY, HAVE, HOLDERS, STARTED, type ChunkTable } from './chunks.ts'
import { DECLINED, TYPICAL, type NodeTable } from './nodes.ts'
import type { Topology } from './topology.ts'

/** The swarm state the test reads (live arrays, not copies). */
export interface SkipInputs {
  readonly net: Topology
  readonly limits: PolicyLimits
  readonly nodes: NodeTable
  readonly chunks: ChunkTable
  readonly sizes: readonly number[]
  /** HAVE bits, `words` Int32 per node. */
  readonly haveBits: Int32Array
  readonly words: number
  /** Per fetcher-side link slot s: requests outstanding at [2s], queue depth allowed at [2s + 1]. */
  readonly queue: Uint8Array
  /** Per fetcher-side link slot, `words` Int32: the chunks its peer declined lately (not in its `has`). */
  readonly declinedBits: Int32Array
  /** Per fetcher-side link slot: throughput as the policy sees it, whole bytes/s (0: not measured). */
  readonly seenThroughput: Int32Array
  readonly rttMs: number
}

/** See the module comment. */
export class SkipTest {
  readonly #in: SkipInputs
  readonly #k: number
  /** Scratch: the HAVE bits of the neighbours with a free place in their queue, OR-ed. */
  readonly #freeHave: Int32Array
  /** Scratch peer for `eta`. */
  readonly #peer: { rttMs: number, throughput: number | undefined, assumedThroughput: number | undefined }
  #now = 0
  /** Whether the node has declines running (bits to clear from its neighbours' HAVE bits). */
  #declines = false
  /** What the node's unmeasured links are shown at (0: nothing assumed). */
  #assumed = 0

  constructor (inputs: SkipInputs) {
    this.#in = inputs
    this.#k = inputs.sizes.length
    this.#freeHave = new Int32Array(inputs.words)
    this.#peer = { rttMs: inputs.rttMs, throughput: undefined, assumedThroughput: undefined }
  }

  /**
   * False when a policy call of `node` (holding `held` chunks, with
   * `inflight` requests out) would surely return nothing: no neighbour with
   * a free place in its queue holds a chunk that is neither held nor asked
   * for (or the node has all the requests in flight it may have); none
   * holds the chunk of a request old enough to be moved and would deliver
   * it in under half the time; no request waited long enough for end game
   * to add a copy. The node's own row first; its neighbours' bits only
   * when that passes.
   */
  mayDecide (node: number, now: number, held: number, inflight: number): boolean {
    this.#now = now
    const { chunks, limits, net, queue, haveBits, words, nodes } = this.#in
    const k = this.#k
    const endgame = k - held <= limits.endgameChunks
    const state = nodes.i32
    const base = node * nodes.stride + nodes.state
    let wanted = false
    for (let i = 0; i < k && !wanted && inflight < limits.maxInflightTotal; i++) {
      const word = state[base + i]!
      wanted = (word & (HAVE | COPIES)) === 0 && (word & HOLDERS) > 0
    }
    let worthALook = wanted
    for (let j = 0; j < chunks.countOf(node) && !worthALook; j++) {
      worthALook = this.#movable(node, j) || (endgame && this.#duplicable(node, j))
    }
    if (!worthALook) return false
    const { start, neighbour } = net
    const declinedBits = this.#in.declinedBits
    const declines = this.#declines = state[node * nodes.stride + DECLINED]! !== 0
    const free = this.#freeHave.fill(0)
    for (let s = start[node]!; s < start[node + 1]!; s++) {
      if (queue[2 * s]! >= queue[2 * s + 1]!) continue
      const at = neighbour[s]! * words
      if (declines) {
        for (let w = 0; w < words; w++) free[w] = free[w]! | (haveBits[at + w]! & ~declinedBits[s * words + w]!)
      } else {
        for (let w = 0; w < words; w++) free[w] = free[w]! | haveBits[at + w]!
      }
    }
    for (let i = 0; i < k && wanted; i++) {
      if ((state[base + i]! & (HAVE | COPIES)) === 0 && ((free[i >> 5]! >>> (i & 31)) & 1) !== 0) return true
    }
    for (let j = 0; j < chunks.countOf(node); j++) {
      const index = chunks.keyAt(node, j)
      if (((free[index >> 5]! >>> (index & 31)) & 1) === 0) continue
      if (endgame && this.#duplicable(node, j)) return true
      if (this.#movable(node, j) && this.#fasterHolder(node, j)) return true
    }
    return false
  }

  /** Whether the request for `node`'s j-th chunk in flight may be moved (alone, not started, old enough) and another neighbour holds the chunk; from the node's own block. */
  #movable (node: number, j: number): boolean {
    const { nodes, chunks } = this.#in
    const word = nodes.i32[node * nodes.stride + nodes.state + chunks.keyAt(node, j)]!
    return (word & HOLDERS) >= 2 && (word & COPIES) === COPY && (word & STARTED) === 0 && this.#now - chunks.newestAt(node, j) >= MIGRATE_MIN_WAIT_MS
  }

  /** Whether end game may add a copy of the request for `node`'s j-th chunk in flight: fewer copies than it allows, all waiting longer than it ever waits. */
  #duplicable (node: number, j: number): boolean {
    const { nodes, chunks, limits } = this.#in
    return (nodes.i32[node * nodes.stride + nodes.state + chunks.keyAt(node, j)]! & COPIES) < limits.endgameCopies * COPY && this.#now - chunks.newestAt(node, j) > ENDGAME_MIN_WAIT_MS
  }

  /** Whether a neighbour with a free place in its queue holds `node`'s j-th chunk in flight and would deliver it in under half the time the peer it is asked of would. */
  #fasterHolder (node: number, j: number): boolean {
    const { chunks, net, queue, haveBits, declinedBits, words, sizes } = this.#in
    const index = chunks.keyAt(node, j)
    const current = chunks.slotAt(node, j)
    const size = sizes[index]!
    this.#assumed = this.#in.nodes.i32[node * this.#in.nodes.stride + TYPICAL]!
    const deadline = eta(this.#show(current), queue[2 * current]!, size) / 2
    const { start, neighbour } = net
    for (let s = start[node]!; s < start[node + 1]!; s++) {
      if (s === current || queue[2 * s]! >= queue[2 * s + 1]!) continue
      const declined = this.#declines ? declinedBits[s * words + (index >> 5)]! : 0
      if ((((haveBits[neighbour[s]! * words + (index >> 5)]! & ~declined) >>> (index & 31)) & 1) === 0) continue
      if (eta(this.#show(s), queue[2 * s]! + 1, size) < deadline) return true
    }
    return false
  }

  /** The scratch peer, showing link `slot` as its view would. */
  #show (slot: number): { rttMs: number, throughput: number | undefined, assumedThroughput: number | undefined } {
    const throughput = this.#in.seenThroughput[slot]!
    const peer = this.#peer
    peer.throughput = throughput === 0 ? undefined : throughput
    peer.assumedThroughput = throughput === 0 && this.#assumed > 0 ? this.#assumed : undefined
    return peer
  }
}
