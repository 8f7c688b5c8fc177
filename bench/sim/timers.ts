/**
 * Timers by key for the simulator: at most one pending time per key (an
 * uploader's next completion), kept in a binary min-heap with each key's
 * position, so moving a timer updates it in place instead of leaving a
 * stale event behind. Times sit in the heap beside their keys, so sifting
 * compares neighbouring slots rather than chasing keys across memory.
 */
export class TimerHeap {
  /** Heap position of each key; -1 when the key has no timer. */
  readonly #pos: Int32Array
  readonly #key: Int32Array
  readonly #time: Float64Array
  #size = 0

  constructor (keys: number) {
    this.#pos = new Int32Array(keys).fill(-1)
    this.#key = new Int32Array(keys)
    this.#time = new Float64Array(keys)
  }

  get size (): number { return this.#size }

  /** The key due first (the heap must not be empty). */
  get topKey (): number { return this.#key[0]! }

  /** When the first timer is due; Infinity when none is set (a field, so reading it boxes nothing). */
  topTime = Infinity

  /** When `key` is due; Infinity when it has no timer. */
  timeOf (key: number): number {
    const at = this.#pos[key]!
    return at < 0 ? Infinity : this.#time[at]!
  }

  /** Set or move the timer of `key`. */
  set (key: number, time: number): void {
    const at = this.#pos[key]!
    if (at < 0) this.#up(this.#size++, key, time)
    else if (time < this.#time[at]!) this.#up(at, key, time)
    else this.#down(at, key, time)
    this.topTime = this.#time[0]!
  }

  /** Remove the timer of `key`, if any. */
  remove (key: number): void {
    const at = this.#pos[key]!
    if (at < 0) return
    this.#pos[key] = -1
    const last = --this.#size
    if (at !== last) {
      const lastKey = this.#key[last]!
      const lastTime = this.#time[last]!
      if (lastTime < this.#time[at]!) this.#up(at, lastKey, lastTime)
      else this.#down(at, lastKey, lastTime)
    }
    this.topTime = last === 0 ? Infinity : this.#time[0]!
  }

  /** Place `key` due at `t` at or above heap position `i`. */
  #up (i: number, key: number, t: number): void {
    const keys = this.#key
    const times = this.#time
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (times[parent]! <= t) break
      this.#put(i, keys[parent]!, times[parent]!)
      i = parent
    }
    this.#put(i, key, t)
  }

  /** Place `key` due at `t` at or below heap position `i`. */
  #down (i: number, key: number, t: number): void {
    const keys = this.#key
    const times = this.#time
    const size = this.#size
    for (;;) {
      const left = 2 * i + 1
      if (left >= size) break
      const child = left + 1 < size && times[left + 1]! < times[left]! ? left + 1 : left
      if (times[child]! >= t) break
      this.#put(i, keys[child]!, times[child]!)
      i = child
    }
    this.#put(i, key, t)
  }

  #put (i: number, key: number, t: number): void {
    this.#key[i] = key
    this.#time[i] = t
    this.#pos[key] = i
  }
}
