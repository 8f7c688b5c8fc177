import { rabin } from 'ipfs-unixfs-importer/chunker'
import { InvalidOptionError } from '../core/errors.ts'
import { MANIFEST_LIMITS } from '../core/manifest.ts'
import { CHUNKER_DEFAULTS } from '../constants.ts'

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

/** Rabin's hard lower bound on the minimum chunk size. */
const RABIN_MIN_CHUNK_BYTES = 16

/**
 * Largest piece handed to rabin at once. Rabin copies each piece into its wasm
 * heap, which never shrinks, so a huge source buffer is fed in slices.
 */
const FEED_SLICE_BYTES = 1024 * 1024

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

/**
 * Cut a byte stream into content-defined chunks (rabin fingerprinting), so an
 * edit only changes the chunks around it. The cut points depend only on the
 * bytes, never on how the source splits them into buffers. Holds at most about
 * `maxChunkBytes` plus one source buffer (≤ 1 MiB slice) in memory.
 *
 * An empty source yields no chunks. Yielded chunks may be views into the
 * source's buffers.
 * @throws {InvalidOptionError} at call time, for invalid options
 */
export function chunkStream (source: AsyncIterable<Uint8Array>, options?: Partial<ChunkerOptions>): AsyncIterable<Uint8Array> {
  const { minChunkBytes, avgChunkBytes, maxChunkBytes } = resolveChunkerOptions(options)
  const chunker = rabin({ minChunkSize: minChunkBytes, avgChunkSize: avgChunkBytes, maxChunkSize: maxChunkBytes })
  return chunker(sliced(source))
}

async function * sliced (source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  for await (const buf of source) {
    for (let offset = 0; offset < buf.byteLength; offset += FEED_SLICE_BYTES) {
      yield buf.subarray(offset, offset + FEED_SLICE_BYTES)
    }
  }
}
