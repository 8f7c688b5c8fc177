/**
 * Per agent and chunk, everything the hot paths read in one word (the
 * `state` row of the node's block, see nodes.ts): whether the node holds
 * the chunk, how many of its own requests for it are in flight and how many
 * of those started, and how many of its neighbours hold it (counted as
 * HAVEs go out). One cache line serves a HAVE, and a policy call reads its
 * own row only. The requests in flight are request records (requests.ts)
 * listed per chunk in the order made; the chunks in flight are listed per
 * node in the order first asked. {@link ChunkTable} is, for the node of
 * the running policy call, the in-flight map the policy reads.
 */
import type { InflightRequest } from '../../src/chunks/policy.ts'
import { KEY_COUNT, type NodeTable } from './nodes.ts'
import { BITS, FETCHER, FETCHER_SLOT, INDEX, NEXT_COPY, SINCE, STARTED as STARTED_BIT, type RequestTable } from './requests.ts'

/** Bits of a state word: neighbours holding the chunk, own requests for it in flight and how many of those started, held. */
export const HOLDERS = 0xf_ffff
export const COPY = 1 << 20
export const COPIES = 0xf << 20
export const STARTED_ONE = 1 << 24
export const STARTED = 0xf << 24
export const HAVE = 1 << 28

/** A request as the policy sees it; pooled, refilled for each call. */
class InflightView implements InflightRequest {
  peer = ''
  since = 0
  started = false
}

/** The in-flight bookkeeping of every node, and the in-flight map of one node at a time. */
export class ChunkTable implements ReadonlyMap<number, readonly InflightRequest[]> {
  readonly #nodes: NodeTable
  readonly #requests: RequestTable
  readonly #k: number
  /** The node the map methods answer for, and its block. */
  #node = 0
  #block = 0
  /** Peer ids by position in a fetcher's row (what the policy's views are called), and the current node's first slot. */
  readonly #ids: readonly string[]
  #rowStart = 0
  /** Per chunk: the call (`#call`) whose list `#listOf` holds; lists and views pooled per call. */
  readonly #stamp: Int32Array
  readonly #listOf: InflightView[][]
  /** Per chunk in flight of the current node, its position in the node's list (set by `setNode`). */
  readonly #positionOf: Int32Array
  #call = 0
  /** Lists by length, then by use within a call. */
  readonly #lists: InflightView[][][] = []
  readonly #listsUsed: number[] = []
  readonly #views: InflightView[] = []
  #viewsUsed = 0

  constructor (nodes: NodeTable, requests: RequestTable, chunks: number, ids: readonly string[]) {
    this.#nodes = nodes
    this.#requests = requests
    this.#k = chunks
    this.#ids = ids
    this.#stamp = new Int32Array(chunks)
    this.#positionOf = new Int32Array(chunks)
    this.#listOf = new Array<InflightView[]>(chunks).fill([])
  }

  /** Add request `r` (its fetcher, index, slot and time set) at the end of its chunk's list. */
  add (r: number): void {
    const { i32: q } = this.#requests
    const node = q[16 * r + FETCHER]!
    const index = q[16 * r + INDEX]!
    const since = this.#requests.f64[8 * r + SINCE]!
    const { i32, f64, stride, state, head, keys, keySlot, keySince, cap } = this.#nodes
    const block = node * stride
    const at = block + state + index
    q[16 * r + NEXT_COPY] = 0
    const first = i32[block + head + index]!
    if (first === 0) {
      const count = i32[block + KEY_COUNT]!
      if (count === cap) throw new Error(`node ${node} has more than ${cap} chunks in flight`)
      i32[block + keys + count] = index
      i32[block + keySlot + count] = q[16 * r + FETCHER_SLOT]!
      f64[(block + keySince) / 2 + count] = since
      i32[block + KEY_COUNT] = count + 1
      i32[block + head + index] = r
    } else {
      let last = first
      while (q[16 * last + NEXT_COPY] !== 0) last = q[16 * last + NEXT_COPY]!
      q[16 * last + NEXT_COPY] = r
      const newest = (block + keySince) / 2 + this.#position(block, index)
      f64[newest] = Math.max(f64[newest]!, since)
    }
    if ((i32[at]! & COPIES) === COPIES) throw new Error(`more than ${COPIES / COPY} requests for one chunk`)
    i32[at] = i32[at]! + COPY
  }

  /** Remove and return `node`'s request for `index` on fetcher-side link `slot`; 0 if none. */
  take (node: number, index: number, slot: number): number {
    const { i32, stride, state, head } = this.#nodes
    const block = node * stride
    const q = this.#requests.i32
    let before = 0
    let r = i32[block + head + index]!
    while (r !== 0 && q[16 * r + FETCHER_SLOT] !== slot) { before = r; r = q[16 * r + NEXT_COPY]! }
    if (r === 0) return 0
    const next = q[16 * r + NEXT_COPY]!
    const at = block + state + index
    i32[at] = i32[at]! - COPY - ((q[16 * r + BITS]! & STARTED_BIT) !== 0 ? STARTED_ONE : 0)
    if (before !== 0) q[16 * before + NEXT_COPY] = next
    else i32[block + head + index] = next
    if (before === 0 && next === 0) {
      this.#dropKey(block, index)
      return r
    }
    const { f64, keySlot, keySince } = this.#nodes
    const j = this.#position(block, index)
    const first = i32[block + head + index]!
    i32[block + keySlot + j] = q[16 * first + FETCHER_SLOT]!
    let newest = -Infinity
    for (let o = first; o !== 0; o = q[16 * o + NEXT_COPY]!) newest = Math.max(newest, this.#requests.f64[8 * o + SINCE]!)
    f64[(block + keySince) / 2 + j] = newest
    return r
  }

  /** The uploader started sending request `r`, in flight at its fetcher. */
  markStarted (r: number): void {
    const q = this.#requests.i32
    q[16 * r + BITS] = q[16 * r + BITS]! | STARTED_BIT
    const { i32, stride, state } = this.#nodes
    const at = q[16 * r + FETCHER]! * stride + state + q[16 * r + INDEX]!
    i32[at] = i32[at]! + STARTED_ONE
  }

  /** How many chunks `node` has requests in flight for, and the i-th of them in the order first asked. */
  countOf (node: number): number { return this.#nodes.i32[node * this.#nodes.stride + KEY_COUNT]! }

  keyAt (node: number, i: number): number { return this.#nodes.i32[node * this.#nodes.stride + this.#nodes.keys + i]! }

  /** The first of `node`'s requests for `index` (0: none); the others follow by NEXT_COPY. */
  first (node: number, index: number): number { return this.#nodes.i32[node * this.#nodes.stride + this.#nodes.head + index]! }

  /** For the i-th chunk in flight of `node`: the link slot of its first request, and when its newest request was made. */
  slotAt (node: number, i: number): number { return this.#nodes.i32[node * this.#nodes.stride + this.#nodes.keySlot + i]! }

  newestAt (node: number, i: number): number {
    const nodes = this.#nodes
    return nodes.f64[(node * nodes.stride + nodes.keySince) / 2 + i]!
  }

  /** Where chunk `index` (in flight) is in the list of the node whose block starts at `block`. */
  #position (block: number, index: number): number {
    const { i32, keys } = this.#nodes
    let j = 0
    while (i32[block + keys + j] !== index) j++
    return j
  }

  #dropKey (block: number, index: number): void {
    const { i32, f64, keys, keySlot, keySince } = this.#nodes
    const count = i32[block + KEY_COUNT]! - 1
    const j = this.#position(block, index)
    i32.copyWithin(block + keys + j, block + keys + j + 1, block + keys + count + 1)
    i32.copyWithin(block + keySlot + j, block + keySlot + j + 1, block + keySlot + count + 1)
    const since = (block + keySince) / 2
    f64.copyWithin(since + j, since + j + 1, since + count + 1)
    i32[block + KEY_COUNT] = count
  }

  // --- ReadonlyMap of the current node -----------------------------------------

  /** Answer for `node` from now on, with its row of links starting at slot `rowStart`; views from before are stale. */
  setNode (node: number, rowStart: number): void {
    this.#node = node
    const block = this.#block = node * this.#nodes.stride
    this.#rowStart = rowStart
    this.#call++
    this.#viewsUsed = 0
    this.#listsUsed.fill(0)
    const { i32, keys } = this.#nodes
    for (let j = 0; j < i32[block + KEY_COUNT]!; j++) this.#positionOf[i32[block + keys + j]!] = j
  }

  get size (): number { return this.#nodes.i32[this.#block + KEY_COUNT]! }

  get (index: number): InflightView[] | undefined {
    if ((this.#nodes.i32[this.#block + this.#nodes.state + index]! & COPIES) === 0) return undefined
    if (this.#stamp[index] === this.#call) return this.#listOf[index]
    return this.#fill(index)
  }

  has (index: number): boolean {
    return (this.#nodes.i32[this.#block + this.#nodes.state + index]! & COPIES) !== 0
  }

  forEach (callback: (list: readonly InflightRequest[], index: number, map: ReadonlyMap<number, readonly InflightRequest[]>) => void): void {
    const { i32, keys } = this.#nodes
    const block = this.#block
    for (let i = 0; i < i32[block + KEY_COUNT]!; i++) {
      const index = i32[block + keys + i]!
      callback(this.get(index)!, index, this)
    }
  }

  * entries (): MapIterator<[number, readonly InflightRequest[]]> {
    const { i32, keys } = this.#nodes
    for (let i = 0; i < i32[this.#block + KEY_COUNT]!; i++) {
      const index = i32[this.#block + keys + i]!
      yield [index, this.get(index)!]
    }
  }

  * keys (): MapIterator<number> {
    for (const [index] of this.entries()) yield index
  }

  * values (): MapIterator<readonly InflightRequest[]> {
    for (const [, list] of this.entries()) yield list
  }

  [Symbol.iterator] (): MapIterator<[number, readonly InflightRequest[]]> { return this.entries() }

  /** The current node's requests for `index` as pooled views, in the order made; a chunk asked once from the node's own block. */
  #fill (index: number): InflightView[] {
    const { i32: q, f64 } = this.#requests
    const nodes = this.#nodes
    const word = nodes.i32[this.#block + nodes.state + index]!
    if ((word & COPIES) === COPY) {
      const list = this.#list(1)
      const view = list[0] = this.#view()
      const j = this.#positionOf[index]!
      view.peer = this.#ids[nodes.i32[this.#block + nodes.keySlot + j]! - this.#rowStart]!
      view.since = nodes.f64[(this.#block + nodes.keySince) / 2 + j]!
      view.started = (word & STARTED) !== 0
      this.#stamp[index] = this.#call
      this.#listOf[index] = list
      return list
    }
    const head = nodes.i32[this.#block + nodes.head + index]!
    let length = 0
    for (let r = head; r !== 0; r = q[16 * r + NEXT_COPY]!) length++
    const list = this.#list(length)
    let i = 0
    for (let r = head; r !== 0; r = q[16 * r + NEXT_COPY]!) {
      const view = list[i++] = this.#view()
      view.peer = this.#ids[q[16 * r + FETCHER_SLOT]! - this.#rowStart]!
      view.since = f64[8 * r + SINCE]!
      view.started = (q[16 * r + BITS]! & STARTED_BIT) !== 0
    }
    this.#stamp[index] = this.#call
    this.#listOf[index] = list
    return list
  }

  /** A pooled list of `length` views for this call. */
  #list (length: number): InflightView[] {
    const used = this.#listsUsed[length] ?? 0
    const pool = this.#lists[length] ??= []
    if (used === pool.length) pool.push(new Array<InflightView>(length).fill(new InflightView()))
    this.#listsUsed[length] = used + 1
    return pool[used]!
  }

  #view (): InflightView {
    if (this.#viewsUsed === this.#views.length) this.#views.push(new InflightView())
    return this.#views[this.#viewsUsed++]!
  }
}

