/**
 * Rabin fingerprinting over a sliding window, cut for cut the algorithm of
 * `rabin-wasm` (polynomial 0x3DA3358B4DC173, degree 53), in plain
 * JavaScript. The 53-bit digest is kept as two 32-bit halves, so every step
 * is integer arithmetic the JIT compiles to machine code: about 3 times the
 * speed of the WebAssembly module with its per-call copies into the module's
 * memory. Same bytes, same cuts, same package CIDs as before.
 */

const POLYNOMIAL_HI = 0x3DA335
const POLYNOMIAL_LO = 0x8B4DC173
const DEGREE = 53
/** Bit of the digest's high half that starts the top byte (`digest >> 45`). */
const INDEX_SHIFT = DEGREE - 8 - 32

/** Tables of the polynomial: what a byte leaving the window, and a byte overflowing the degree, XOR into the digest. */
interface Tables { outHi: Int32Array, outLo: Int32Array, modHi: Int32Array, modLo: Int32Array }

const tablesByWindow = new Map<number, Tables>()

function tablesFor (window: number): Tables {
  let tables = tablesByWindow.get(window)
  if (tables === undefined) {
    tables = computeTables(window)
    tablesByWindow.set(window, tables)
  }
  return tables
}

/** Built once with BigInt (1,024 values); the hot loop never touches BigInt. */
function computeTables (window: number): Tables {
  const pol = (BigInt(POLYNOMIAL_HI) << 32n) | BigInt(POLYNOMIAL_LO)
  const degree = (x: bigint): number => x === 0n ? -1 : x.toString(2).length - 1
  const mod = (x: bigint): bigint => {
    for (let shift = degree(x) - DEGREE; shift >= 0; shift = degree(x) - DEGREE) x ^= pol << BigInt(shift)
    return x
  }
  const appendByte = (hash: bigint, b: number): bigint => mod((hash << 8n) | BigInt(b))
  const t: Tables = { outHi: new Int32Array(256), outLo: new Int32Array(256), modHi: new Int32Array(256), modLo: new Int32Array(256) }
  for (let b = 0; b < 256; b++) {
    let hash = appendByte(0n, b)
    for (let i = 0; i < window - 1; i++) hash = appendByte(hash, 0)
    t.outHi[b] = Number(hash >> 32n)
    t.outLo[b] = Number(hash & 0xffffffffn) | 0
    const bk = BigInt(b) << BigInt(DEGREE)
    const m = mod(bk) | bk
    t.modHi[b] = Number(m >> 32n) | 0
    t.modLo[b] = Number(m & 0xffffffffn) | 0
  }
  return t
}

/** Bounds of a {@link RabinCutter}. */
export interface RabinOptions {
  /** log2 of the average chunk size (the digest mask's width), 1..30. */
  readonly averageBits: number
  readonly minSize: number
  readonly maxSize: number
  /** Bytes in the sliding window. @default 16 */
  readonly window?: number
}

/**
 * Finds cut points in a byte stream fed in any pieces: the cuts depend only
 * on the bytes. Holds no bytes, only the window and the digest.
 */
export class RabinCutter {
  readonly #t: Tables
  readonly #window: Uint8Array
  readonly #mask: number
  readonly #min: number
  readonly #max: number
  #wpos = 0
  #hi = 0
  #lo = 0
  #count = 0

  constructor (options: RabinOptions) {
    const window = options.window ?? 16
    if (!Number.isInteger(options.averageBits) || options.averageBits < 1 || options.averageBits > 30) throw new RangeError(`averageBits must be an integer in 1..30, got ${options.averageBits}`)
    this.#t = tablesFor(window)
    this.#window = new Uint8Array(window)
    this.#mask = (1 << options.averageBits) - 1
    this.#min = options.minSize
    this.#max = options.maxSize
    this.#reset()
  }

  /**
   * Feed `bytes`; returns the length of each chunk that ends inside them (a
   * chunk may have begun in earlier pieces). Bytes after the last cut belong
   * to the chunk in progress.
   *
   * The digest is a fingerprint of the window's bytes alone (sliding takes a
   * leaving byte's share out exactly, the reset's seed byte included), and
   * no cut is tested before `minSize`: so the first `minSize - window` bytes
   * of a chunk are skipped, and the window restarts from zeros there.
   */
  push (bytes: Uint8Array): number[] {
    const cuts: number[] = []
    const size = this.#window.length
    const skipTo = this.#min - size
    let i = 0
    while (i < bytes.length) {
      if (this.#count < skipTo) {
        const skip = Math.min(skipTo - this.#count, bytes.length - i)
        i += skip
        this.#count += skip
        if (this.#count === skipTo) this.#clear()
        continue
      }
      const end = this.#scan(bytes, i)
      if (end < 0) break
      cuts.push(this.#count)
      this.#reset()
      i = end
    }
    return cuts
  }

  /** Slide bytes from `from` until a cut (returns the index after it) or the end of `bytes` (returns -1). */
  #scan (bytes: Uint8Array, from: number): number {
    const { outHi, outLo, modHi, modLo } = this.#t
    const window = this.#window
    const size = window.length
    const mask = this.#mask
    const min = this.#min
    let wpos = this.#wpos
    let hi = this.#hi
    let lo = this.#lo
    let count = this.#count
    const stop = Math.min(bytes.length, from + (this.#max - count))
    let i = from
    let cut = -1
    for (; i < stop; i++) {
      const b = bytes[i]!
      const out = window[wpos]!
      window[wpos] = b
      wpos = wpos + 1 === size ? 0 : wpos + 1
      hi ^= outHi[out]!
      lo ^= outLo[out]!
      const index = hi >>> INDEX_SHIFT
      hi = ((hi << 8) | (lo >>> 24)) ^ modHi[index]!
      lo = ((lo << 8) | b) ^ modLo[index]!
      if ((lo & mask) === 0 && count + (i - from) + 1 >= min) { cut = i + 1; break }
    }
    count += (cut < 0 ? i : cut) - from
    if (cut < 0 && count >= this.#max) cut = i
    this.#wpos = wpos
    this.#hi = hi
    this.#lo = lo
    this.#count = count
    return cut
  }

  /** Bytes of the chunk in progress (the last chunk of the stream when it ends). */
  get pending (): number {
    return this.#count
  }

  /** After a cut: rabin-wasm's reset slides a 1 into a zero window and digest, which leaves the digest at 1. */
  #reset (): void {
    this.#clear()
    this.#count = 0
    this.#window[0] = 1
    this.#wpos = this.#window.length === 1 ? 0 : 1
    this.#lo = 1
  }

  /** A zero window and digest, the count kept. */
  #clear (): void {
    this.#window.fill(0)
    this.#wpos = 0
    this.#hi = 0
    this.#lo = 0
  }
}
