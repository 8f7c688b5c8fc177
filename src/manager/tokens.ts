/**
 * API tokens. Only their SHA-256 is stored, in `<data>/tokens.json` (0600),
 * so `pollen token` can add or revoke one while the manager runs: the
 * manager re-reads the file when it changes. The operator token given at
 * start (`--token` / `POLLEN_TOKEN`) is kept in memory, hashed, too.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import { InvalidOptionError } from '../core/index.ts'
import { secretFile, type SecretFile } from './secret-file.ts'

/** Token scopes: `deploy` includes `read`. */
export type TokenScope = 'read' | 'deploy'

/** A stored token (never the token itself). */
export interface TokenRecord {
  readonly id: string
  readonly name: string
  readonly scope: TokenScope
  /** hex SHA-256 of the token. */
  readonly hash: string
  readonly createdAt: string
}

/** File name of the token store inside the manager's data directory. */
export const TOKENS_FILE = 'tokens.json'

const hashOf = (token: string): string => createHash('sha256').update(token).digest('hex')

/** Create a token with `scope`; the token is returned once and only its hash stored. */
export async function createToken (dataDir: string, scope: TokenScope, name = ''): Promise<{ token: string, record: TokenRecord }> {
  if (scope !== 'read' && scope !== 'deploy') throw new InvalidOptionError(`token scope must be read or deploy, got ${JSON.stringify(scope)}`)
  const token = `pollen_${randomBytes(32).toString('base64url')}`
  const record: TokenRecord = { id: randomUUID().slice(0, 8), name, scope, hash: hashOf(token), createdAt: new Date().toISOString() }
  const file = tokenFile(dataDir)
  await file.write([...await file.read(), record])
  return { token, record }
}

/** The stored tokens (hashes only). */
export async function listTokens (dataDir: string): Promise<readonly TokenRecord[]> {
  return await tokenFile(dataDir).read()
}

/** Revoke a token by id; false when there was none. */
export async function revokeToken (dataDir: string, id: string): Promise<boolean> {
  const file = tokenFile(dataDir)
  const all = await file.read()
  const tokens = all.filter(t => t.id !== id)
  if (tokens.length === all.length) return false
  await file.write(tokens)
  return true
}

/** Checks bearer tokens against the operator token and the token file (re-read when it changes). */
export interface TokenChecker {
  scopeOf (token: string): Promise<TokenScope | undefined>
}

/** A checker for the manager in `dataDir`; `operatorToken` (if any) has scope `deploy`. */
export function createTokenChecker (dataDir: string, operatorToken?: string): TokenChecker {
  const operator = operatorToken == null ? undefined : Buffer.from(hashOf(operatorToken), 'hex')
  const file = tokenFile(dataDir)
  return {
    async scopeOf (token) {
      const hash = hashOf(token)
      if (operator != null && timingSafeEqual(operator, Buffer.from(hash, 'hex'))) return 'deploy'
      return (await file.cached()).find(t => t.hash === hash)?.scope
    }
  }
}

function tokenFile (dataDir: string): SecretFile<TokenRecord> {
  return secretFile<TokenRecord>(dataDir, TOKENS_FILE, 'tokens')
}
