/**
 * Enrollment tokens: one-time secrets an operator hands to a device so that
 * the manager lets it into the registry. The token never travels: an agent
 * advertises a proof, an HMAC keyed by the token's SHA-256 over its own peer
 * id and target id, so a member that overhears the proof on gossip cannot
 * use it for any other peer or target. The manager stores only the hash.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'

/** Prefix of every enrollment token, so one is recognised on sight. */
export const ENROLLMENT_TOKEN_PREFIX = 'pollen_enroll_'

/** A proof is base64url of an HMAC-SHA256: 43 characters. */
export const ENROLLMENT_PROOF = /^[A-Za-z0-9_-]{43}$/

/** hex SHA-256 of a token: what the manager stores. */
export function enrollmentTokenHash (token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

/** The proof an agent with `token` advertises as peer `peerId` for target `targetId`. */
export function enrollmentProof (token: string, peerId: string, targetId: string): string {
  return proofFromHash(enrollmentTokenHash(token), peerId, targetId)
}

/** Does `proof` show knowledge of the token whose hash is `tokenHash`, for this peer and target? */
export function verifyEnrollmentProof (tokenHash: string, proof: string, peerId: string, targetId: string): boolean {
  const expected = Buffer.from(proofFromHash(tokenHash, peerId, targetId))
  const given = Buffer.from(proof)
  return given.length === expected.length && timingSafeEqual(given, expected)
}

function proofFromHash (tokenHash: string, peerId: string, targetId: string): string {
  return createHmac('sha256', Buffer.from(tokenHash, 'hex')).update(`pollen-enroll-v1\n${peerId}\n${targetId}`).digest('base64url')
}
