/**
 * Per agent and chunk, everything the hot paths read in one word
 * (`ChunkTable.state[node * k + index]`): whether the node holds the chunk,
 * how many of its own requests for it are in flight, and how many of its
 * neighbours hold it (counted as HAVEs go out). One cache line serves a
 * HAVE, and a policy call reads its own row only. The in-flight requests
 * themselves are listed per node in the order they were made, and
 * {@link ChunkTable} is, for the node of the running policy call, the
 * in-flight map the policy reads.
 */
import type { InflightRequest } from '../../src/chunks/policy.ts'
import type { SimRequest } from './uploads.ts'

/** Bits of a state word: neighbours holding the chunk, own requests for it in flight and how many of those started, held. */
export const HOLDERS = 0xf_ffff
export const COPY = 1 << 20
export const COPIES = 0xf << 20
export const STARTED_ONE = 1 << 24
export const STARTED = 0xf << 24
export const HAVE = 1 << 28

/** The chunk state of every node, and the in-flight map of one node at a time. */
export class ChunkTable implements ReadonlyMap<number, readonly InflightRequest[]> {
  readonly state: Int32Array
  /** When the newest request in flight for a chunk was made, by node * k + chunk (valid while some is). */
  readonly newest: Float64Array
  /** The node the map methods answer for. */
  node = 0
  readonly #k: number
  /** Request lists by node * k + chunk. */
  readonly #lists: Array<SimRequest[] | undefined>
  /** Chunks in flight per node, in the order of their first request: `keys[node * cap + i]`, i < `count[node]`. */
  readonly #keys: Int32Array
  readonly #count: Int32Array
  readonly #cap: number
  readonly #spare: SimRequest[][] = []

  constructor (nodes: number, chunks: number, maxInflight: number) {
    this.#k = chunks
    this.state = new Int32Array(nodes * chunks)
    this.newest = new Float64Array(nodes * chunks)
    this.#lists = new Array<SimRequest[] | undefined>(nodes * chunks).fill(undefined)
    this.#cap = Math.min(chunks, maxInflight)
    this.#keys = new Int32Array(nodes * this.#cap)
    this.#count = new Int32Array(nodes)
  }

  /** Requests of `node` in flight, for all chunks. */
  add (node: number, request: SimRequest): void {
    const at = node * this.#k + request.index
    let list = this.#lists[at]
    if (list === undefined) {
      const count = this.#count[node]!
      if (count === this.#cap) throw new Error(`node ${node} has more than ${this.#cap} chunks in flight`)
      this.#keys[node * this.#cap + count] = request.index
      this.#count[node] = count + 1
      // A spare list keeps its one (stale) entry: emptying an array gives up its storage, and the next push would allocate anew.
      list = this.#spare.pop()
      if (list === undefined) list = [request]
      else list[0] = request
      this.#lists[at] = list
    } else list.push(request)
    if ((this.state[at]! & COPIES) === COPIES) throw new Error(`more than ${COPIES / COPY} requests for one chunk`)
    this.state[at] = this.state[at]! + COPY
    this.newest[at] = list.length === 1 ? request.since : Math.max(this.newest[at]!, request.since)
  }

  /** Remove and return `node`'s request for `index` on fetcher-side link `slot`, if any. */
  take (node: number, index: number, slot: number): SimRequest | undefined {
    const at = node * this.#k + index
    const list = this.#lists[at]
    if (list === undefined) return undefined
    let i = 0
    while (i < list.length && list[i]!.fetcherSlot !== slot) i++
    if (i === list.length) return undefined
    const request = list[i]!
    this.state[at] = this.state[at]! - COPY - (request.started ? STARTED_ONE : 0)
    if (list.length === 1) {
      this.#lists[at] = undefined
      this.#spare.push(list)
      this.#dropKey(node, index)
      return request
    }
    for (; i < list.length - 1; i++) list[i] = list[i + 1]!
    list.length--
    let newest = -Infinity
    for (const other of list) newest = Math.max(newest, other.since)
    this.newest[at] = newest
    return request
  }

  /** The uploader started sending `request` (in flight at its fetcher). */
  markStarted (request: SimRequest): void {
    request.started = true
    const at = request.fetcher * this.#k + request.index
    this.state[at] = this.state[at]! + STARTED_ONE
  }

  /** How many chunks `node` has requests in flight for, and the i-th of them in the order first asked. */
  countOf (node: number): number { return this.#count[node]! }

  keyAt (node: number, i: number): number { return this.#keys[node * this.#cap + i]! }

  /** The requests of `node` for `index` (live list: do not keep). */
  listOf (node: number, index: number): readonly SimRequest[] | undefined {
    return this.#lists[node * this.#k + index]
  }

  #dropKey (node: number, index: number): void {
    const base = node * this.#cap
    const count = this.#count[node]! - 1
    let i = base
    while (this.#keys[i] !== index) i++
    this.#keys.copyWithin(i, i + 1, base + count + 1)
    this.#count[node] = count
  }

  // --- ReadonlyMap of the current node -----------------------------------------

  get size (): number { return this.#count[this.node]! }

  get (index: number): SimRequest[] | undefined {
    const at = this.node * this.#k + index
    return (this.state[at]! & COPIES) === 0 ? undefined : this.#lists[at]
  }

  has (index: number): boolean {
    return (this.state[this.node * this.#k + index]! & COPIES) !== 0
  }

  forEach (callback: (list: readonly InflightRequest[], index: number, map: ReadonlyMap<number, readonly InflightRequest[]>) => void): void {
    const node = this.node
    const base = node * this.#cap
    const k = this.#k
    for (let i = 0; i < this.#count[node]!; i++) {
      const index = this.#keys[base + i]!
      callback(this.#lists[node * k + index]!, index, this)
    }
  }

  * entries (): MapIterator<[number, readonly InflightRequest[]]> {
    const node = this.node
    for (let i = 0; i < this.#count[node]!; i++) {
      const index = this.#keys[node * this.#cap + i]!
      yield [index, this.#lists[node * this.#k + index]!]
    }
  }

  * keys (): MapIterator<number> {
    for (const [index] of this.entries()) yield index
  }

  * values (): MapIterator<readonly InflightRequest[]> {
    for (const [, list] of this.entries()) yield list
  }

  [Symbol.iterator] (): MapIterator<[number, readonly InflightRequest[]]> { return this.entries() }
}
