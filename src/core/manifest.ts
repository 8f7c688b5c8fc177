import { InvalidManifestError } from './errors.ts'
import { parseCid, manifestCidOf, JSON_CODEC, type CID } from './cid.ts'

/** One content-addressed piece of a package. */
export interface ChunkRef {
  /** CIDv1 (raw, sha2-256) of the chunk bytes, base32 string form. */
  readonly cid: string
  /** Byte length of the chunk. */
  readonly size: number
}

/**
 * The ordered list of chunks that make up a package. Its own CID (see
 * {@link encodeManifest}) names the package.
 */
export interface Manifest {
  readonly version: 1
  /** Total package size in bytes (sum of chunk sizes). */
  readonly size: number
  readonly chunks: readonly ChunkRef[]
}

/** Hard limits that a decoded manifest must respect (DoS guard at the boundary). */
export const MANIFEST_LIMITS = {
  /** Largest accepted encoded manifest. @default 16 MiB */
  maxEncodedBytes: 16 * 1024 * 1024,
  /** Largest accepted single chunk. @default 8 MiB */
  maxChunkBytes: 8 * 1024 * 1024,
  /** Most chunks in one manifest. @default 200_000 */
  maxChunks: 200_000
} as const

/**
 * Canonical encoding: JSON with keys in fixed order and no whitespace, so
 * equal manifests always produce equal bytes and hence equal CIDs.
 */
export function encodeManifest (manifest: Manifest): Uint8Array {
  const chunks = manifest.chunks.map(c => ({ cid: c.cid, size: c.size }))
  const text = JSON.stringify({ version: manifest.version, size: manifest.size, chunks })
  return new TextEncoder().encode(text)
}

/** Encode a manifest and compute its CID. */
export function manifestBlock (manifest: Manifest): { bytes: Uint8Array, cid: CID } {
  const bytes = encodeManifest(manifest)
  return { bytes, cid: manifestCidOf(bytes) }
}

/**
 * Decode and validate manifest bytes received from anywhere.
 * @throws {InvalidManifestError}
 */
export function decodeManifest (bytes: Uint8Array): Manifest {
  if (bytes.byteLength > MANIFEST_LIMITS.maxEncodedBytes) {
    throw new InvalidManifestError(`manifest is ${bytes.byteLength} bytes, limit ${MANIFEST_LIMITS.maxEncodedBytes}`)
  }
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (err) {
    throw new InvalidManifestError('manifest is not valid UTF-8 JSON', { cause: err })
  }
  return validateManifest(value)
}

function validateManifest (value: unknown): Manifest {
  if (typeof value !== 'object' || value === null) throw new InvalidManifestError('manifest is not an object')
  const { version, size, chunks } = value as Record<string, unknown>
  if (version !== 1) throw new InvalidManifestError(`unsupported manifest version ${String(version)}`)
  if (!isSize(size)) throw new InvalidManifestError('manifest size must be a non-negative integer')
  if (!Array.isArray(chunks)) throw new InvalidManifestError('manifest chunks must be an array')
  if (chunks.length > MANIFEST_LIMITS.maxChunks) throw new InvalidManifestError(`manifest has ${chunks.length} chunks, limit ${MANIFEST_LIMITS.maxChunks}`)
  let total = 0
  const refs = chunks.map((chunk, index) => {
    const ref = validateChunkRef(chunk, index)
    total += ref.size
    return ref
  })
  if (total !== size) throw new InvalidManifestError(`chunk sizes add up to ${total}, manifest says ${size}`)
  return { version: 1, size, chunks: refs }
}

function validateChunkRef (chunk: unknown, index: number): ChunkRef {
  if (typeof chunk !== 'object' || chunk === null) throw new InvalidManifestError(`chunks[${index}] is not an object`)
  const { cid, size } = chunk as Record<string, unknown>
  if (typeof cid !== 'string') throw new InvalidManifestError(`chunks[${index}].cid must be a string`)
  try {
    parseCid(cid)
  } catch (err) {
    throw new InvalidManifestError(`chunks[${index}].cid: ${(err as Error).message}`, { cause: err })
  }
  if (!isSize(size) || size === 0 || size > MANIFEST_LIMITS.maxChunkBytes) {
    throw new InvalidManifestError(`chunks[${index}].size must be an integer in 1..${MANIFEST_LIMITS.maxChunkBytes}`)
  }
  return { cid, size }
}

function isSize (n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
}

/** Parse a manifest CID string (v1, json codec, sha2-256). */
export function parseManifestCid (text: string): CID {
  try {
    return parseCid(text, JSON_CODEC)
  } catch (err) {
    throw new InvalidManifestError((err as Error).message, { cause: err })
  }
}
