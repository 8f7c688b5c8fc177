/**
 * Every request in flight in a simulated swarm, as 64-byte records in one
 * buffer (struct of fields, one cache line per request): the fetcher's
 * entry in its in-flight table and the uploader's queue entry at once.
 * Records are numbered from 1 (0 means none) and reused as soon as neither
 * side holds them, most recently freed first, so the live ones stay few
 * and close together. Nothing is allocated per request.
 *
 * Fields: `f64[8r + SINCE]`, `i32[16r + FETCHER | …]`.
 */

/** Float64 field, at `8 * r + field`: when the request was made. */
export const SINCE = 0
/** Int32 fields, at `16 * r + field`. */
export const FETCHER = 4
export const UPLOADER = 5
/** The link's slot in the fetcher's row and in the uploader's row. */
export const FETCHER_SLOT = 6
export const UPLOADER_SLOT = 7
export const INDEX = 8
/** Next request of the same fetcher for the same chunk (the fetcher's list, in the order made). */
export const NEXT_COPY = 9
/** Next request in the same uploader session's queue. */
export const NEXT_QUEUED = 10
export const BITS = 11

/** Bits of `BITS`. */
export const STARTED = 1
/** It found a free upload slot on arrival: sent one latency later than modelled (see Uploads.request). */
export const DIRECT = 2
/** The fetcher still counts it as in flight; the uploader still queues or sends it. */
export const AT_FETCHER = 4
export const AT_UPLOADER = 8

/** The record pool. */
export class RequestTable {
  /** Views of the records; replaced when the pool grows (only {@link alloc} grows it: re-read them after a call). */
  f64: Float64Array
  i32: Int32Array
  #free: Int32Array
  #freeCount = 0
  /** Records handed out at least once: 1 .. used - 1. */
  #used = 1

  constructor (capacity = 1024) {
    const buffer = new ArrayBuffer(64 * Math.max(2, capacity))
    this.f64 = new Float64Array(buffer)
    this.i32 = new Int32Array(buffer)
    this.#free = new Int32Array(Math.max(2, capacity))
  }

  /** Records in use. */
  get live (): number { return this.#used - 1 - this.#freeCount }

  /** A record, its fields as a previous holder left them. */
  alloc (): number {
    if (this.#freeCount > 0) return this.#free[--this.#freeCount]!
    if (this.#used * 16 === this.i32.length) this.#grow()
    return this.#used++
  }

  free (r: number): void { this.#free[this.#freeCount++] = r }

  #grow (): void {
    const buffer = new ArrayBuffer(2 * this.i32.length * 4)
    const i32 = new Int32Array(buffer)
    i32.set(this.i32)
    this.i32 = i32
    this.f64 = new Float64Array(buffer)
    const free = new Int32Array(2 * this.#free.length)
    free.set(this.#free)
    this.#free = free
  }
}
