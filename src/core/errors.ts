/**
 * Named errors. Every error Pollen throws on purpose is a `PollenError` with a
 * stable `name` (tests and the API's error mapping rely on it) and a `code`.
 */
export class PollenError extends Error {
  override name = 'PollenError'
  readonly code: string = 'ERR_POLLEN'
}

/** A chunk's bytes do not hash to the CID they were offered under. */
export class ChunkHashMismatchError extends PollenError {
  override name = 'ChunkHashMismatchError'
  override readonly code = 'ERR_CHUNK_HASH_MISMATCH'
}

/** A chunk (or manifest block) is not in the local store. */
export class ChunkNotFoundError extends PollenError {
  override name = 'ChunkNotFoundError'
  override readonly code = 'ERR_CHUNK_NOT_FOUND'
}

/** A manifest could not be decoded or breaks an invariant (sizes, CIDs, limits). */
export class InvalidManifestError extends PollenError {
  override name = 'InvalidManifestError'
  override readonly code = 'ERR_INVALID_MANIFEST'
}

/** A CID string could not be parsed, or uses a codec/hash Pollen does not accept. */
export class InvalidCidError extends PollenError {
  override name = 'InvalidCidError'
  override readonly code = 'ERR_INVALID_CID'
}

/** A peer sent a frame that breaks the wire protocol (unknown type, bad length, out of range). */
export class ProtocolError extends PollenError {
  override name = 'ProtocolError'
  override readonly code = 'ERR_PROTOCOL'
}

/** A frame or message is larger than the limit for its kind. */
export class MessageTooLargeError extends PollenError {
  override name = 'MessageTooLargeError'
  override readonly code = 'ERR_MESSAGE_TOO_LARGE'
}

/** A fetch could not complete: every peer that had a needed chunk failed or left. */
export class FetchFailedError extends PollenError {
  override name = 'FetchFailedError'
  override readonly code = 'ERR_FETCH_FAILED'
}

/** An operation ran past its deadline. */
export class TimeoutError extends PollenError {
  override name = 'TimeoutError'
  override readonly code = 'ERR_TIMEOUT'
}

/** An operation was cancelled through its AbortSignal. */
export class AbortError extends PollenError {
  override name = 'AbortError'
  override readonly code = 'ERR_ABORTED'
}

/** A key file is missing, malformed, or readable by users other than its owner. */
export class KeyFileError extends PollenError {
  override name = 'KeyFileError'
  override readonly code = 'ERR_KEY_FILE'
}

/** A command-line or option value is invalid (bad size, rate, address…). */
export class InvalidOptionError extends PollenError {
  override name = 'InvalidOptionError'
  override readonly code = 'ERR_INVALID_OPTION'
}
