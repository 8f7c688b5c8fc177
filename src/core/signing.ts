/**
 * Ed25519 signatures over the canonical encoding of manager messages, with a
 * domain prefix so a signature made for Pollen can never be replayed as
 * something else signed by the same key.
 */
import { publicKeyFromProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { canonicalBytes } from './canonical.ts'
import { InvalidSignatureError } from './errors.ts'
import type { ManagerBody, Signed } from './task.ts'

const DOMAIN = new TextEncoder().encode('pollen/manager-message/v1\n')

function signedBytes (body: ManagerBody): Uint8Array {
  const payload = canonicalBytes(body)
  const out = new Uint8Array(DOMAIN.byteLength + payload.byteLength)
  out.set(DOMAIN, 0)
  out.set(payload, DOMAIN.byteLength)
  return out
}

/** Sign a manager message body with the manager key. */
export async function signBody<T extends ManagerBody> (key: PrivateKey, body: T): Promise<Signed<T>> {
  const sig = await key.sign(signedBytes(body))
  return { body, sig: Buffer.from(sig).toString('base64url') }
}

/**
 * Check a signed message against the manager's public key.
 * @throws {InvalidSignatureError} the signature is malformed or does not verify.
 */
export async function verifySigned<T extends ManagerBody> (publicKey: PublicKey, signed: Signed<T>): Promise<Signed<T>> {
  let valid = false
  try {
    const sig = Buffer.from(signed.sig, 'base64url')
    valid = sig.byteLength === 64 && await publicKey.verify(signedBytes(signed.body), sig)
  } catch (err) {
    throw new InvalidSignatureError(`${signed.body.kind} signature does not verify`, { cause: err })
  }
  if (!valid) throw new InvalidSignatureError(`${signed.body.kind} signature does not verify with the manager key`)
  return signed
}

/** The text form of a public key in swarm.json: base64 of its libp2p protobuf encoding. */
export function encodePublicKey (key: PublicKey): string {
  return Buffer.from(publicKeyToProtobuf(key)).toString('base64')
}

/**
 * Parse the text form of a public key.
 * @throws {InvalidSignatureError} it does not decode as an Ed25519 public key.
 */
export function decodePublicKey (text: string): PublicKey {
  try {
    const key = publicKeyFromProtobuf(Buffer.from(text, 'base64'))
    if (key.type !== 'Ed25519') throw new Error(`key type ${key.type}`)
    return key
  } catch (err) {
    throw new InvalidSignatureError('the manager public key is not a base64 Ed25519 key', { cause: err })
  }
}
