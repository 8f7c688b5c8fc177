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

/** A task description (YAML/JSON) is malformed or breaks a rule; `field` names the offending path. */
export class InvalidTaskError extends PollenError {
  override name = 'InvalidTaskError'
  override readonly code = 'ERR_INVALID_TASK'
  /** JSON pointer-ish path of the offending field (`stages.install[0]`), when known. */
  readonly field: string | undefined
  constructor (message: string, options?: ErrorOptions & { field?: string }) {
    super(message, options)
    this.field = options?.field
  }
}

/** A package archive is refused: not a valid tar/tar.gz, or it holds an entry Pollen refuses (absolute path, `..`, escaping link, device file…). */
export class UnsafePackageError extends PollenError {
  override name = 'UnsafePackageError'
  override readonly code = 'ERR_UNSAFE_PACKAGE'
}

/** The manager's assemble stage failed (a command exited non-zero or timed out). */
export class AssembleFailedError extends PollenError {
  override name = 'AssembleFailedError'
  override readonly code = 'ERR_ASSEMBLE_FAILED'
  /** Output of the assemble commands, in order, for the operator. */
  readonly output: string
  constructor (message: string, output: string, options?: ErrorOptions) {
    super(message, options)
    this.output = output
  }
}

/** A signed message does not verify against the manager's public key. */
export class InvalidSignatureError extends PollenError {
  override name = 'InvalidSignatureError'
  override readonly code = 'ERR_INVALID_SIGNATURE'
}

/** A signed message is past its expiry. */
export class MessageExpiredError extends PollenError {
  override name = 'MessageExpiredError'
  override readonly code = 'ERR_MESSAGE_EXPIRED'
}

/** A signed message carries a sequence number not newer than one already seen (a replay). */
export class ReplayedMessageError extends PollenError {
  override name = 'ReplayedMessageError'
  override readonly code = 'ERR_REPLAYED_MESSAGE'
}

/** A message or connection comes from a member the manager revoked. */
export class RevokedPeerError extends PollenError {
  override name = 'RevokedPeerError'
  override readonly code = 'ERR_REVOKED_PEER'
}

/** An enrollment token is unknown, expired or already used, or a target presents none where one is required. */
export class EnrollmentRefusedError extends PollenError {
  override name = 'EnrollmentRefusedError'
  override readonly code = 'ERR_ENROLLMENT_REFUSED'
}

/** A gossip or wire message does not match its schema. */
export class InvalidMessageError extends PollenError {
  override name = 'InvalidMessageError'
  override readonly code = 'ERR_INVALID_MESSAGE'
}

/** A task id is unknown. */
export class TaskNotFoundError extends PollenError {
  override name = 'TaskNotFoundError'
  override readonly code = 'ERR_TASK_NOT_FOUND'
}

/** A target id is unknown. */
export class TargetNotFoundError extends PollenError {
  override name = 'TargetNotFoundError'
  override readonly code = 'ERR_TARGET_NOT_FOUND'
}

/** A target with that id already exists. */
export class TargetExistsError extends PollenError {
  override name = 'TargetExistsError'
  override readonly code = 'ERR_TARGET_EXISTS'
}

/** A request carries no credentials, or credentials that match no token. */
export class UnauthorizedError extends PollenError {
  override name = 'UnauthorizedError'
  override readonly code = 'ERR_UNAUTHORIZED'
}

/** A token is valid but lacks the scope the request needs. */
export class ForbiddenError extends PollenError {
  override name = 'ForbiddenError'
  override readonly code = 'ERR_FORBIDDEN'
}

/** swarm.json is missing, malformed or too permissive. */
export class SwarmFileError extends PollenError {
  override name = 'SwarmFileError'
  override readonly code = 'ERR_SWARM_FILE'
}

/** A file Pollen would create already exists (it never overwrites keys). */
export class FileExistsError extends PollenError {
  override name = 'FileExistsError'
  override readonly code = 'ERR_FILE_EXISTS'
}

/** A component was used while stopped. */
export class NotStartedError extends PollenError {
  override name = 'NotStartedError'
  override readonly code = 'ERR_NOT_STARTED'
}

/** A release manifest file (the recorded tree of an installed release) is malformed. */
export class InvalidReleaseManifestError extends PollenError {
  override name = 'InvalidReleaseManifestError'
  override readonly code = 'ERR_INVALID_RELEASE_MANIFEST'
}

/** A release directory (`<data>/releases/<name>`) does not exist. */
export class ReleaseNotFoundError extends PollenError {
  override name = 'ReleaseNotFoundError'
  override readonly code = 'ERR_RELEASE_NOT_FOUND'
}

/** The manager's REST API answered a request with an error status; the message is the API's own (with the offending field, when it names one). */
export class ApiRequestError extends PollenError {
  override name = 'ApiRequestError'
  override readonly code = 'ERR_API_REQUEST'
  /** HTTP status of the answer. */
  readonly status: number
  /** The API's machine-readable code (`ERR_INVALID_TASK`…), when it sent one. */
  readonly apiCode: string | undefined
  /** Offending field named by the API, when it named one. */
  readonly field: string | undefined
  /** Output of the assemble commands (a 422), when sent. */
  readonly output: string | undefined
  constructor (message: string, details: { status: number, apiCode?: string, field?: string, output?: string }, options?: ErrorOptions) {
    super(message, options)
    this.status = details.status
    this.apiCode = details.apiCode
    this.field = details.field
    this.output = details.output
  }
}

/** The manager's REST API could not be reached (connection refused, unknown host, no answer in time). */
export class ManagerUnreachableError extends PollenError {
  override name = 'ManagerUnreachableError'
  override readonly code = 'ERR_MANAGER_UNREACHABLE'
}

/** `pollen deploy --wait`: a target failed, declined or was stopped, or the targets did not all complete in time. */
export class DeployFailedError extends PollenError {
  override name = 'DeployFailedError'
  override readonly code = 'ERR_DEPLOY_FAILED'
}
