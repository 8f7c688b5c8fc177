/**
 * Wire codecs of the two gossip topics: canonical JSON out, size check,
 * strict UTF-8 JSON parse and schema validation in. Encoders check what they
 * send against the same rules, so a bug in the sender surfaces as an error
 * there instead of as every peer rejecting (and scoring down) the sender.
 */
import { GOSSIP_DEFAULTS } from '../constants.ts'
import { canonicalBytes } from '../core/canonical.ts'
import { InvalidMessageError, MessageTooLargeError } from '../core/errors.ts'
import type { StatusBody } from '../core/status.ts'
import type { ManagerBody, Signed } from '../core/task.ts'
import { validateSigned, validateStatus } from './validate.ts'

/** Size limit of a decode or encode. */
export interface CodecOptions {
  /** Largest accepted encoding in bytes. */
  readonly maxBytes?: number
}

/**
 * Encode a signed manager message (canonical JSON).
 * @throws {InvalidMessageError} it breaks the schema.
 * @throws {MessageTooLargeError} its encoding exceeds `maxBytes` (default `GOSSIP_DEFAULTS.maxManagerMessageBytes`).
 */
export function encodeManagerMessage<T extends ManagerBody> (signed: Signed<T>, options: CodecOptions = {}): Uint8Array {
  const bytes = encode(signed, options.maxBytes ?? GOSSIP_DEFAULTS.maxManagerMessageBytes, 'manager message')
  validateSigned(JSON.parse(new TextDecoder().decode(bytes)))
  return bytes
}

/**
 * Decode and strictly validate a signed manager message received from anywhere.
 * Does not check the signature (see `checkManagerMessage`).
 * @throws {MessageTooLargeError} more than `maxBytes` (default `GOSSIP_DEFAULTS.maxManagerMessageBytes`).
 * @throws {InvalidMessageError} not UTF-8 JSON, or it breaks the schema.
 */
export function decodeManagerMessage (bytes: Uint8Array, options: CodecOptions = {}): Signed {
  return validateSigned(parse(bytes, options.maxBytes ?? GOSSIP_DEFAULTS.maxManagerMessageBytes, 'manager message'))
}

/**
 * Encode a status message (canonical JSON).
 * @throws {InvalidMessageError} it breaks the schema.
 * @throws {MessageTooLargeError} its encoding exceeds `maxBytes` (default `GOSSIP_DEFAULTS.maxStatusMessageBytes`).
 */
export function encodeStatus (body: StatusBody, options: CodecOptions = {}): Uint8Array {
  const bytes = encode(body, options.maxBytes ?? GOSSIP_DEFAULTS.maxStatusMessageBytes, `${body.kind} message`)
  validateStatus(JSON.parse(new TextDecoder().decode(bytes)))
  return bytes
}

/**
 * Decode and strictly validate a status message.
 * @throws {MessageTooLargeError} more than `maxBytes` (default `GOSSIP_DEFAULTS.maxStatusMessageBytes`).
 * @throws {InvalidMessageError} not UTF-8 JSON, or it breaks the schema.
 */
export function decodeStatus (bytes: Uint8Array, options: CodecOptions = {}): StatusBody {
  return validateStatus(parse(bytes, options.maxBytes ?? GOSSIP_DEFAULTS.maxStatusMessageBytes, 'status message'))
}

function encode (value: unknown, maxBytes: number, what: string): Uint8Array {
  let bytes: Uint8Array
  try {
    bytes = canonicalBytes(value)
  } catch (err) {
    throw new InvalidMessageError(`${what} cannot be encoded: ${(err as Error).message}`, { cause: err })
  }
  if (bytes.byteLength > maxBytes) throw new MessageTooLargeError(`${what} is ${bytes.byteLength} bytes, limit ${maxBytes}`)
  return bytes
}

function parse (bytes: Uint8Array, maxBytes: number, what: string): unknown {
  if (bytes.byteLength > maxBytes) throw new MessageTooLargeError(`${what} is ${bytes.byteLength} bytes, limit ${maxBytes}`)
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (err) {
    throw new InvalidMessageError(`${what} is not valid UTF-8 JSON`, { cause: err })
  }
}
