import { InvalidOptionError } from '../core/errors.ts'
import { MANIFEST_LIMITS } from '../core/manifest.ts'
import { CHUNKER_DEFAULTS } from '../constants.ts'
import { RabinCutter } from './rabin.ts'

/** Size bounds of the content-defined chunker. */
export interface ChunkerOptions {
  /** Smallest chunk cut, except the last one of a stream. At least 16 (rabin's window). */
  minChunkBytes: number
  /**
   * Target average chunk size. Rabin only honours powers of two: the mask is
   * `floor(log2(avgChunkBytes))` bits, so 300 KiB behaves like 256 KiB.
   */
  avgChunkBytes: number
  /** Largest chunk cut; at most `MANIFEST_LIMITS.maxChunkBytes`. */
  maxChunkBytes: number
}

/** Rabin's hard lower bound on the minimum chunk size (its window). */
const RABIN_MIN_CHUNK_BYTES = 16

/**
 * Fill in defaults from `CHUNKER_DEFAULTS` and validate.
 * @throws {InvalidOptionError} unless 16 <= min <= avg <= max <= `MANIFEST_LIMITS.maxChunkBytes`, all integers
 */
export function resolveChunkerOptions (options: Partial<ChunkerOptions> = {}): ChunkerOptions {
  const resolved: ChunkerOptions = {
    minChunkBytes: options.minChunkBytes ?? CHUNKER_DEFAULTS.minChunkBytes,
    avgChunkBytes: options.avgChunkBytes ?? CHUNKER_DEFAULTS.avgChunkBytes,
    maxChunkBytes: options.maxChunkBytes ?? CHUNKER_DEFAULTS.maxChunkBytes
  }
  const { minChunkBytes: min, avgChunkBytes: avg, maxChunkBytes: max } = resolved
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new InvalidOptionError(`chunker ${name} must be a positive integer, got ${String(value)}`)
    }
  }
  if (min < RABIN_MIN_CHUNK_BYTES) throw new InvalidOptionError(`chunker minChunkBytes must be at least ${RABIN_MIN_CHUNK_BYTES}, got ${min}`)
  if (!(min <= avg && avg <= max)) {
    throw new InvalidOptionError(`chunker sizes must satisfy min <= avg <= max, got ${min}/${avg}/${max}`)
  }
  if (max > MANIFEST_LIMITS.maxChunkBytes) {
    throw new InvalidOptionError(`chunker maxChunkBytes must be at most ${MANIFEST_LIMITS.maxChunkBytes}, got ${max}`)
  }
  return resolved
}

/** Chunker bounds around an average size: a quarter of it (at least rabin's 16 bytes) to four times it. */
export function chunkerForAverage (avgChunkBytes: number): ChunkerOptions {
  return { minChunkBytes: Math.max(RABIN_MIN_CHUNK_BYTES, Math.floor(avgChunkBytes / 4)), avgChunkBytes, maxChunkBytes: avgChunkBytes * 4 }
}

/**
 * Cut a byte stream into content-defined chunks (rabin fingerprinting, the
 * cuts of `rabin-wasm`: see {@link RabinCutter}), so an edit only changes the
 * chunks around it. The cut points depend only on the bytes, never on how the
 * source splits them into buffers. Holds at most about `maxChunkBytes` plus
 * one source buffer in memory.
 *
 * An empty source yields no chunks. Every yielded chunk is a fresh buffer
 * (the source may reuse its buffers once they are consumed).
 * @throws {InvalidOptionError} at call time, for invalid options
 */
export function chunkStream (source: AsyncIterable<Uint8Array>, options?: Partial<ChunkerOptions>): AsyncIterable<Uint8Array> {
  const { minChunkBytes, avgChunkBytes, maxChunkBytes } = resolveChunkerOptions(options)
  const cutter = new RabinCutter({ averageBits: Math.floor(Math.log2(avgChunkBytes)), minSize: minChunkBytes, maxSize: maxChunkBytes })
  return cut(source, cutter)
}

async function * cut (source: AsyncIterable<Uint8Array>, cutter: RabinCutter): AsyncGenerator<Uint8Array> {
  /** Copies of the bytes of the chunk in progress that arrived in earlier buffers. */
  let pending: Uint8Array[] = []
  let pendingBytes = 0
  for await (const buf of source) {
    let offset = 0
    for (const length of cutter.push(buf)) {
      const chunk = new Uint8Array(length)
      let at = 0
      for (const piece of pending) { chunk.set(piece, at); at += piece.byteLength }
      chunk.set(buf.subarray(offset, offset + length - pendingBytes), at)
      offset += length - pendingBytes
      pending = []
      pendingBytes = 0
      yield chunk
    }
    if (offset < buf.byteLength) {
      pending.push(buf.slice(offset))
      pendingBytes += buf.byteLength - offset
    }
  }
  if (pendingBytes === 0) return
  const last = new Uint8Array(pendingBytes)
  let at = 0
  for (const piece of pending) { last.set(piece, at); at += piece.byteLength }
  yield last
}
