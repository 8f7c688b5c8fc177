import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as json from 'multiformats/codecs/json'
import { sha256 } from 'multiformats/hashes/sha2'
import { createHash } from 'node:crypto'
import { create as createDigest } from 'multiformats/hashes/digest'
import { InvalidCidError } from './errors.ts'

/** Multicodec of chunk blocks: raw bytes. */
export const RAW_CODEC = raw.code
/** Multicodec of manifest blocks: canonical JSON. */
export const JSON_CODEC = json.code

/**
 * SHA-256 digest wrapped as a multihash. Node's native hash is used directly
 * (synchronous, no copy) because chunk hashing sits on the transfer hot path.
 */
function sha256Digest (bytes: Uint8Array): ReturnType<typeof createDigest> {
  const hash = createHash('sha256').update(bytes).digest()
  return createDigest(sha256.code, new Uint8Array(hash.buffer, hash.byteOffset, hash.byteLength))
}

/** CIDv1 (raw, sha2-256) naming a chunk's bytes. */
export function chunkCid (bytes: Uint8Array): CID {
  return CID.createV1(RAW_CODEC, sha256Digest(bytes))
}

/** CIDv1 (json, sha2-256) naming an encoded manifest. */
export function manifestCidOf (bytes: Uint8Array): CID {
  return CID.createV1(JSON_CODEC, sha256Digest(bytes))
}

/**
 * Parse a CID string and check it is one Pollen produces: v1, sha2-256, and
 * the expected codec.
 * @throws {InvalidCidError}
 */
export function parseCid (text: string, codec: number = RAW_CODEC): CID {
  let cid: CID
  try {
    cid = CID.parse(text)
  } catch (err) {
    throw new InvalidCidError(`not a CID: ${JSON.stringify(text.slice(0, 100))}`, { cause: err })
  }
  if (cid.version !== 1 || cid.multihash.code !== sha256.code || cid.code !== codec) {
    throw new InvalidCidError(`unsupported CID ${text}: want v1, sha2-256, codec 0x${codec.toString(16)}`)
  }
  return cid
}

/**
 * Like {@link bytesMatchCid}, but hashes on libuv's thread pool (WebCrypto)
 * so verifying received chunks does not hold up the event loop.
 */
export async function bytesMatchCidAsync (bytes: Uint8Array, cid: CID): Promise<boolean> {
  if (cid.multihash.code !== sha256.code) return false
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes))
  return CID.createV1(cid.code, createDigest(sha256.code, digest)).equals(cid)
}

/** True when `bytes` hash to exactly `cid` (same codec and digest). */
export function bytesMatchCid (bytes: Uint8Array, cid: CID): boolean {
  const expected = cid.code === JSON_CODEC ? manifestCidOf(bytes) : chunkCid(bytes)
  return expected.equals(cid)
}

export { CID }
