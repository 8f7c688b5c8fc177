/**
 * swarm.json: what every member of a swarm needs — its name, the manager's
 * public key (the only key whose orders agents obey) and the pre-shared key
 * of the libp2p private network.
 */
import { SwarmFileError } from './errors.ts'
import { decodePublicKey } from './signing.ts'

/** The contents of swarm.json. */
export interface SwarmFile {
  readonly version: 1
  /** Swarm name: letters, digits, `-`, `_`, `.`; 1 to 64 characters. */
  readonly name: string
  /** The manager's Ed25519 public key, base64 of its libp2p protobuf encoding. */
  readonly managerPublicKey: string
  /** libp2p private network key in the `/key/swarm/psk/1.0.0/` text format. */
  readonly psk: string
}

export const SWARM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const PSK = /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n?$/

/** Build the text of a private-network key from 32 random bytes. */
export function encodePsk (key: Uint8Array): string {
  if (key.byteLength !== 32) throw new SwarmFileError(`a swarm key is 32 bytes, got ${key.byteLength}`)
  return `/key/swarm/psk/1.0.0/\n/base16/\n${Buffer.from(key).toString('hex')}`
}

/**
 * Parse and check swarm.json text.
 * @throws {SwarmFileError} it is not JSON or a field is missing or malformed.
 */
export function decodeSwarmFile (text: string): SwarmFile {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new SwarmFileError('swarm file is not valid JSON', { cause: err })
  }
  if (typeof value !== 'object' || value === null) throw new SwarmFileError('swarm file is not a JSON object')
  const { version, name, managerPublicKey, psk } = value as Record<string, unknown>
  if (version !== 1) throw new SwarmFileError(`swarm file version ${String(version)} is not supported (expected 1)`)
  if (typeof name !== 'string' || !SWARM_NAME.test(name)) throw new SwarmFileError('swarm file: name must be 1-64 letters, digits, ".", "_" or "-"')
  if (typeof managerPublicKey !== 'string') throw new SwarmFileError('swarm file: managerPublicKey is missing')
  try {
    decodePublicKey(managerPublicKey)
  } catch (err) {
    throw new SwarmFileError('swarm file: managerPublicKey is not a base64 Ed25519 public key', { cause: err })
  }
  if (typeof psk !== 'string' || !PSK.test(psk)) throw new SwarmFileError('swarm file: psk is not a /key/swarm/psk/1.0.0/ base16 key of 32 bytes')
  return { version: 1, name, managerPublicKey, psk }
}

/** swarm.json text (pretty, newline-terminated). */
export function encodeSwarmFile (file: SwarmFile): string {
  return `${JSON.stringify({ version: file.version, name: file.name, managerPublicKey: file.managerPublicKey, psk: file.psk }, null, 2)}\n`
}
