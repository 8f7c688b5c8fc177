/**
 * The simulator's event queue: a binary min-heap on time whose events are
 * plain numbers (a kind and three integer arguments) in typed arrays, so
 * tens of millions of events cost no closures and little garbage.
 */

/** An event as popped: kind and arguments are read from the queue's fields. */
export class EventQueue {
  #time = new Float64Array(1024)
  #kind = new Uint8Array(1024)
  #a = new Int32Array(1024)
  #b = new Int32Array(1024)
  #c = new Int32Array(1024)
  #size = 0
  /** Time of the last popped event. */
  time = 0
  /** Kind and arguments of the last popped event. */
  kind = 0
  a = 0
  b = 0
  c = 0

  get size (): number { return this.#size }

  /** Time of the earliest event; Infinity when empty (a field, so reading it boxes nothing). */
  nextTime = Infinity

  push (time: number, kind: number, a: number, b = 0, c = 0): void {
    if (this.#size === this.#time.length) this.#grow()
    let i = this.#size++
    const t = this.#time
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (t[parent]! <= time) break
      this.#move(parent, i)
      i = parent
    }
    this.#set(i, time, kind, a, b, c)
    this.nextTime = this.#time[0]!
  }

  /** Remove the earliest event into `time`, `kind`, `a`, `b`, `c`; false when empty. */
  pop (): boolean {
    if (this.#size === 0) return false
    const t = this.#time
    this.time = t[0]!
    this.kind = this.#kind[0]!
    this.a = this.#a[0]!
    this.b = this.#b[0]!
    this.c = this.#c[0]!
    const last = --this.#size
    if (last === 0) { this.nextTime = Infinity; return true }
    const lastTime = t[last]!
    const lastKind = this.#kind[last]!
    const la = this.#a[last]!
    const lb = this.#b[last]!
    const lc = this.#c[last]!
    let i = 0
    for (;;) {
      const left = 2 * i + 1
      if (left >= last) break
      const child = left + 1 < last && t[left + 1]! < t[left]! ? left + 1 : left
      if (t[child]! >= lastTime) break
      this.#move(child, i)
      i = child
    }
    this.#set(i, lastTime, lastKind, la, lb, lc)
    this.nextTime = t[0]!
    return true
  }

  #move (from: number, to: number): void {
    this.#time[to] = this.#time[from]!
    this.#kind[to] = this.#kind[from]!
    this.#a[to] = this.#a[from]!
    this.#b[to] = this.#b[from]!
    this.#c[to] = this.#c[from]!
  }

  #set (i: number, time: number, kind: number, a: number, b: number, c: number): void {
    this.#time[i] = time
    this.#kind[i] = kind
    this.#a[i] = a
    this.#b[i] = b
    this.#c[i] = c
  }

  #grow (): void {
    const n = this.#time.length * 2
    const grow = <T extends Float64Array | Uint8Array | Int32Array>(old: T, make: (n: number) => T): T => {
      const next = make(n)
      next.set(old)
      return next
    }
    this.#time = grow(this.#time, n => new Float64Array(n))
    this.#kind = grow(this.#kind, n => new Uint8Array(n))
    this.#a = grow(this.#a, n => new Int32Array(n))
    this.#b = grow(this.#b, n => new Int32Array(n))
    this.#c = grow(this.#c, n => new Int32Array(n))
  }
}
