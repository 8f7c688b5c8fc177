/**
 * Events due a fixed delay after they are made (a message one latency
 * away, a policy call the coalescing time later, the fetcher's tick).
 * Simulated time only goes forward, so such events come due in the order
 * they were made: a ring buffer holds them in order, and pushing and
 * popping cost O(1) with sequential memory instead of a heap's scattered
 * sifting over hundreds of thousands of pending events.
 */
export class DelayLine {
  readonly delayMs: number
  #time = new Float64Array(1024)
  #a = new Int32Array(1024)
  #b = new Int32Array(1024)
  #c = new Int32Array(1024)
  #head = 0
  #size = 0
  /** Events pushed and popped so far: an event's number is the count of those pushed before it. */
  #pushed = 0
  #popped = 0
  /**
   * When the first event is due; Infinity when none is pending. A field
   * rather than a getter: a number returned from a call that is not
   * inlined is boxed, one allocation per look.
   */
  nextTime = Infinity
  /** Arguments of the last popped event. */
  a = 0
  b = 0
  c = 0

  constructor (delayMs: number) { this.delayMs = delayMs }

  get size (): number { return this.#size }

  /** An event due `delayMs` after `now`, which must not be earlier than the `now` of any earlier push; returns its number. */
  push (now: number, a: number, b = 0, c = 0): number {
    if (this.#size === this.#time.length) this.#grow()
    const at = (this.#head + this.#size++) & (this.#time.length - 1)
    this.#time[at] = now + this.delayMs
    this.#a[at] = a
    this.#b[at] = b
    this.#c[at] = c
    if (this.#size === 1) this.nextTime = this.#time[at]!
    return this.#pushed++
  }

  /** Mark event number `n`, if still pending, as void: it pops with `a` = -1 (so its owner need not be looked at to tell). */
  cancel (n: number): void {
    if (n < this.#popped || n >= this.#pushed) return
    this.#a[(this.#head + n - this.#popped) & (this.#time.length - 1)] = -1
  }

  /** Remove the first event into `a`, `b`, `c` (the line must not be empty); returns its time. */
  pop (): number {
    const at = this.#head
    this.#head = (at + 1) & (this.#time.length - 1)
    this.#size--
    this.#popped++
    this.a = this.#a[at]!
    this.b = this.#b[at]!
    this.c = this.#c[at]!
    this.nextTime = this.#size === 0 ? Infinity : this.#time[this.#head]!
    return this.#time[at]!
  }

  /** Double the ring, unrolled so the events stay in order from 0. */
  #grow (): void {
    const n = this.#time.length
    const unroll = <T extends Float64Array | Int32Array>(old: T, next: T): T => {
      next.set(old.subarray(this.#head))
      next.set(old.subarray(0, this.#head), n - this.#head)
      return next
    }
    this.#time = unroll(this.#time, new Float64Array(2 * n))
    this.#a = unroll(this.#a, new Int32Array(2 * n))
    this.#b = unroll(this.#b, new Int32Array(2 * n))
    this.#c = unroll(this.#c, new Int32Array(2 * n))
    this.#head = 0
  }
}
