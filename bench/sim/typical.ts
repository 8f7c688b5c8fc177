/**
 * What the fetch driver shows the policy for a neighbour not yet measured:
 * the median throughput of the measured ones once at least three are
 * measured (src/chunks/typical-throughput.ts, `PeerView.assumedThroughput`),
 * else nothing (the policy's optimistic default). The simulator keeps each
 * link's throughput as whole bytes/s, so the median is one of those.
 */
import type { Topology } from './topology.ts'

/** Measured links needed before the others are shown at their median (TYPICAL_THROUGHPUT_SAMPLES in the fetcher). */
export const TYPICAL_SAMPLES = 3

/** Per node, the throughput its unmeasured links are shown at. */
export class TypicalThroughput {
  readonly #net: Topology
  readonly #seen: Int32Array
  /** Scratch for the measured values of one node, sorted. */
  #sorted = new Int32Array(64)

  /** `seen`: per fetcher-side link slot, the throughput in whole bytes/s (0: not measured); read live. */
  constructor (net: Topology, seen: Int32Array) {
    this.#net = net
    this.#seen = seen
  }

  /**
   * The median (the upper one of an even count, as the fetcher takes it) of
   * `node`'s measured links, or 0 when fewer than {@link TYPICAL_SAMPLES}
   * or all of them are measured.
   */
  of (node: number): number {
    const from = this.#net.start[node]!
    const to = this.#net.start[node + 1]!
    if (this.#sorted.length < to - from) this.#sorted = new Int32Array(2 * (to - from))
    const sorted = this.#sorted
    const seen = this.#seen
    let n = 0
    for (let s = from; s < to; s++) {
      const value = seen[s]!
      if (value === 0) continue
      let at = n++
      for (; at > 0 && sorted[at - 1]! > value; at--) sorted[at] = sorted[at - 1]!
      sorted[at] = value
    }
    return n < TYPICAL_SAMPLES || n === to - from ? 0 : sorted[n >> 1]!
  }
}
