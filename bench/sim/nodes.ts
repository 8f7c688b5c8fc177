/**
 * Everything the simulator keeps per node, in one block per node of one
 * buffer: a node's scalars, its upload slots, its chunk words, the first
 * request of each chunk in flight and the order of those chunks sit side
 * by side, so an event touches a few neighbouring cache lines of one page
 * rather than a line in each of a dozen tables spread over the heap.
 *
 * Block of node n: Int32 `i32[n * stride + field]`, Float64
 * `f64[n * stride / 2 + field]`. First cache line, the fetch side; second,
 * the upload side; then the rows (offsets in the table's fields).
 */

/** Int32 fields of the fetch side. */
export const FLAGS = 0
export const HELD = 1
/** Requests in flight, and chunks they are for. */
export const INFLIGHT = 2
export const KEY_COUNT = 3
/** Declines of this node's requests not yet `rejectBackoffMs` old (a full backlog, the origin's holds; see Swarm.declinedBits). */
export const DECLINED = 4
/** The number of the node's pending tick in the tick line, plus one (0: none). */
export const TICK = 5
/** What the node's links not yet measured are shown at, whole bytes/s (0: nothing assumed; see typical.ts), kept as deliveries measure links. */
export const TYPICAL = 6
/** Float64 fields of the fetch side: when the pending policy call is due (while PLAN_PENDING), when the last one ran, completion (-1 before), when the download link is next free. */
export const PLAN_AT = 4
export const LAST_PLAN = 5
export const DONE_AT = 6
export const DOWN_FREE = 7
/** Float64 fields of the upload side: the shared-rate bookkeeping's last update, the upload rate, bytes uploaded. */
export const LAST_UPDATE = 8
export const RATE = 9
export const UPLOADED = 10
/**
 * Int32 fields of the upload side: chunks being sent, the first and last
 * session waiting for a slot (-1: none), chunks accepted and not yet sent
 * over all sessions and their bytes (the server's UploadBacklog), then the
 * requests being sent (and, Float64 at `remaining`, their bytes left).
 */
export const UP_COUNT = 22
export const WAIT_HEAD = 23
export const WAIT_TAIL = 24
export const BACKLOG = 25
export const BACKLOG_BYTES = 26
export const ACTIVE = 27

/** Bits of FLAGS that make a HAVE from a neighbour no reason to call the node's policy. */
export const PLAN_PENDING = 1
export const INFLIGHT_FULL = 2

/** The blocks of all nodes. */
export class NodeTable {
  readonly i32: Int32Array
  readonly f64: Float64Array
  /** Int32 units from one node's block to the next (a multiple of 16: blocks start on a cache line of the buffer). */
  readonly stride: number
  /**
   * Row offsets in a block (Int32 units): chunk words (k); the chunks in
   * flight in the order first asked (`cap`), and by the same position the
   * link slot of the chunk's first request and (Float64, at half the
   * offset) when its newest request was made, so that what a policy call
   * reads of a chunk asked once needs no request record; the first request
   * per chunk (k, 0: none).
   */
  readonly state: number
  readonly keys: number
  readonly keySlot: number
  readonly keySince: number
  readonly head: number
  readonly cap: number
  /** Float64 offset in a block of the bytes left of each request being sent, by its place in ACTIVE. */
  readonly remaining: number

  constructor (nodes: number, chunks: number, uploadSlots: number, maxInflight: number) {
    const line = (n: number): number => Math.ceil(n / 16) * 16
    this.cap = Math.min(chunks, maxInflight)
    this.remaining = Math.ceil((ACTIVE + uploadSlots) / 2)
    this.state = line(2 * (this.remaining + uploadSlots))
    this.keys = this.state + chunks
    this.keySlot = this.keys + this.cap
    this.keySince = Math.ceil((this.keySlot + this.cap) / 2) * 2
    this.head = this.keySince + 2 * this.cap
    this.stride = line(this.head + chunks)
    const buffer = new ArrayBuffer(nodes * this.stride * 4)
    this.i32 = new Int32Array(buffer)
    this.f64 = new Float64Array(buffer)
    for (let n = 0; n < nodes; n++) {
      const f = n * this.stride / 2
      this.f64[f + LAST_PLAN] = -Infinity
      this.f64[f + DONE_AT] = -1
      this.i32[n * this.stride + WAIT_HEAD] = -1
      this.i32[n * this.stride + WAIT_TAIL] = -1
    }
  }
}
