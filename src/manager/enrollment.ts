/**
 * Enrollment tokens of a manager run with `--enrollment token`: one-time,
 * expiring secrets created with `pollen token enroll`, stored hashed in
 * `<data>/enrollments.json`. A target enters the registry only when its
 * advert carries a proof of an unused, unexpired token (see
 * `src/core/enrollment.ts`); the token is then used up (recorded in the
 * registry) and the target id pinned to the peer that presented it.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { ENROLLMENT_TOKEN_PREFIX, enrollmentTokenHash, InvalidOptionError, verifyEnrollmentProof } from '../core/index.ts'
import { secretFile, type SecretFile } from './secret-file.ts'

/** A stored enrollment token (never the token itself). */
export interface EnrollmentTokenRecord {
  readonly id: string
  readonly name: string
  /** hex SHA-256 of the token. */
  readonly hash: string
  readonly createdAt: string
  /** ms since the epoch. */
  readonly expiresAt: number
}

/** File name of the enrollment token store inside the manager's data directory. */
export const ENROLLMENTS_FILE = 'enrollments.json'

function enrollmentFile (dataDir: string): SecretFile<EnrollmentTokenRecord> {
  return secretFile<EnrollmentTokenRecord>(dataDir, ENROLLMENTS_FILE, 'enrollments')
}

/** Create a token valid for `ttlMs`; the token is returned once and only its hash stored. */
export async function createEnrollmentToken (dataDir: string, options: { ttlMs: number, name?: string, now?: number }): Promise<{ token: string, record: EnrollmentTokenRecord }> {
  if (!Number.isFinite(options.ttlMs) || options.ttlMs <= 0) throw new InvalidOptionError(`an enrollment token's lifetime must be positive, got ${options.ttlMs} ms`)
  const now = options.now ?? Date.now()
  const token = `${ENROLLMENT_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`
  const record: EnrollmentTokenRecord = {
    id: randomUUID().slice(0, 8), name: options.name ?? '', hash: enrollmentTokenHash(token), createdAt: new Date(now).toISOString(), expiresAt: now + options.ttlMs
  }
  const file = enrollmentFile(dataDir)
  await file.write([...await file.read(), record])
  return { token, record }
}

/** The stored enrollment tokens (hashes only). */
export async function listEnrollmentTokens (dataDir: string): Promise<readonly EnrollmentTokenRecord[]> {
  return await enrollmentFile(dataDir).read()
}

/** Finds the token an advert's proof was made with. */
export interface EnrollmentTokens {
  /** The unexpired token whose proof for this peer and target `proof` is, if any (used or not: the caller checks). */
  match (proof: string, peerId: string, targetId: string, now: number): Promise<EnrollmentTokenRecord | undefined>
}

/** The tokens of the manager in `dataDir` (the file is re-read when it changes). */
export function enrollmentTokens (dataDir: string): EnrollmentTokens {
  const file = enrollmentFile(dataDir)
  return {
    async match (proof, peerId, targetId, now) {
      return (await file.cached()).find(t => t.expiresAt > now && verifyEnrollmentProof(t.hash, proof, peerId, targetId))
    }
  }
}
