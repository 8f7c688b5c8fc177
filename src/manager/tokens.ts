/**
 * API tokens. Only their SHA-256 is stored, in `<data>/tokens.json` (0600),
 * so `pollen token` can add or revoke one while the manager runs: the
 * manager re-reads the file when it changes. The operator token given at
 * start (`--token` / `POLLEN_TOKEN`) is kept in memory, hashed, too.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { InvalidOptionError, KeyFileError } from '../core/index.ts'

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

interface TokenFile { readonly version: 1, readonly tokens: readonly TokenRecord[] }

/** File name of the token store inside the manager's data directory. */
export const TOKENS_FILE = 'tokens.json'

const hashOf = (token: string): string => createHash('sha256').update(token).digest('hex')

/** Create a token with `scope`; the token is returned once and only its hash stored. */
export async function createToken (dataDir: string, scope: TokenScope, name = ''): Promise<{ token: string, record: TokenRecord }> {
  if (scope !== 'read' && scope !== 'deploy') throw new InvalidOptionError(`token scope must be read or deploy, got ${JSON.stringify(scope)}`)
  const token = `pollen_${randomBytes(32).toString('base64url')}`
  const record: TokenRecord = { id: randomUUID().slice(0, 8), name, scope, hash: hashOf(token), createdAt: new Date().toISOString() }
  const file = await readTokenFile(dataDir)
  await writeTokenFile(dataDir, { version: 1, tokens: [...file.tokens, record] })
  return { token, record }
}

/** The stored tokens (hashes only). */
export async function listTokens (dataDir: string): Promise<readonly TokenRecord[]> {
  return (await readTokenFile(dataDir)).tokens
}

/** Revoke a token by id; false when there was none. */
export async function revokeToken (dataDir: string, id: string): Promise<boolean> {
  const file = await readTokenFile(dataDir)
  const tokens = file.tokens.filter(t => t.id !== id)
  if (tokens.length === file.tokens.length) return false
  await writeTokenFile(dataDir, { version: 1, tokens })
  return true
}

/** Checks bearer tokens against the operator token and the token file (re-read when it changes). */
export interface TokenChecker {
  scopeOf (token: string): Promise<TokenScope | undefined>
}

/** A checker for the manager in `dataDir`; `operatorToken` (if any) has scope `deploy`. */
export function createTokenChecker (dataDir: string, operatorToken?: string): TokenChecker {
  const operator = operatorToken == null ? undefined : Buffer.from(hashOf(operatorToken), 'hex')
  let cached: { mtimeMs: number, size: number, byHash: Map<string, TokenScope> } | undefined
  const load = async (): Promise<Map<string, TokenScope>> => {
    const info = await stat(join(dataDir, TOKENS_FILE)).catch(() => undefined)
    if (info == null) return new Map()
    if (cached?.mtimeMs !== info.mtimeMs || cached.size !== info.size) {
      const file = await readTokenFile(dataDir)
      cached = { mtimeMs: info.mtimeMs, size: info.size, byHash: new Map(file.tokens.map(t => [t.hash, t.scope])) }
    }
    return cached.byHash
  }
  return {
    async scopeOf (token) {
      const hash = hashOf(token)
      if (operator != null && timingSafeEqual(operator, Buffer.from(hash, 'hex'))) return 'deploy'
      return (await load()).get(hash)
    }
  }
}

async function readTokenFile (dataDir: string): Promise<TokenFile> {
  const path = join(dataDir, TOKENS_FILE)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, tokens: [] }
    throw err
  }
  try {
    const file = JSON.parse(text) as TokenFile
    if (file.version !== 1 || !Array.isArray(file.tokens)) throw new Error('unexpected shape')
    return file
  } catch (err) {
    throw new KeyFileError(`token file ${path} is corrupt: ${(err as Error).message}`, { cause: err })
  }
}

/** Write through a temporary file and rename, so a reader never sees half a file. */
async function writeTokenFile (dataDir: string, file: TokenFile): Promise<void> {
  const path = join(dataDir, TOKENS_FILE)
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`
  await writeFile(tmp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 })
  await rename(tmp, path)
}
