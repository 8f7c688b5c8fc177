/**
 * Releases on disk: `<data>/releases/<name>` holds one installed task, and
 * `<data>/current` is a relative symlink to the running one, switched
 * atomically. A release's tree is recorded after install ({@link hashTree})
 * so that, before the agent resumes it, it can check that nothing it
 * installed was removed or altered ({@link verifyTree}).
 */
import { createHash, randomBytes } from 'node:crypto'
import type { Stats } from 'node:fs'
import { lstat, open, readdir, readFile, readlink, rename, rm, stat, symlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { AGENT_DEFAULTS } from '../constants.ts'
import { AbortError, InvalidOptionError, InvalidReleaseManifestError, ReleaseNotFoundError } from '../core/index.ts'

/** One file, directory or symlink of a release tree. */
export interface ReleaseEntry {
  /** Relative to the release directory, `/`-separated, never `.`/`..`/empty segments. */
  readonly path: string
  readonly type: 'file' | 'dir' | 'symlink'
  /** Permission bits (`mode & 0o7777`). */
  readonly mode: number
  /** Bytes of a file, bytes of a symlink's target, 0 for a directory. */
  readonly size: number
  /** Hex SHA-256 of a file's content. */
  readonly sha256?: string
  /** A symlink's target, as stored (never followed). */
  readonly target?: string
}

/** Every entry under a release directory, sorted by path (code unit order). */
export type ReleaseManifest = readonly ReleaseEntry[]

/** Outcome of {@link verifyTree}. */
export type VerifyResult = { readonly ok: true } | { readonly ok: false, readonly problems: string[] }

/** Cancellation of the longer file-system operations. */
export interface ReleaseIoOptions {
  readonly signal?: AbortSignal
}

const ENTRY_TYPES = ['file', 'dir', 'symlink'] as const

function checkAborted (signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new AbortError('release file operation was aborted')
}

function typeOf (stats: Stats): ReleaseEntry['type'] | undefined {
  return stats.isFile() ? 'file' : stats.isDirectory() ? 'dir' : stats.isSymbolicLink() ? 'symlink' : undefined
}

/**
 * Read size when hashing a release file. Each read is one turn of the event
 * loop: with 64 KiB reads a 10 MiB file took 160, and an agent sharing a
 * loaded process (the in-process bench) waited for each.
 */
const HASH_READ_BYTES = 1024 * 1024

/**
 * SHA-256 of a file, read into one buffer over and over (a read stream
 * allocates fresh memory for every read: 11 % of a busy bench worker's CPU
 * went to that while 500 agents hashed their releases). `size` (from the
 * caller's lstat) only sizes the buffer; the file is read to its end.
 */
async function sha256File (path: string, size: number, signal: AbortSignal | undefined): Promise<string> {
  const hash = createHash('sha256')
  const handle = await open(path, 'r')
  try {
    const buffer = Buffer.allocUnsafe(Math.min(HASH_READ_BYTES, Math.max(4096, size)))
    for (;;) {
      checkAborted(signal)
      const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, null)
      if (bytesRead === 0) break
      hash.update(buffer.subarray(0, bytesRead))
    }
  } finally {
    await handle.close()
  }
  return hash.digest('hex')
}

async function describe (dir: string, path: string, stats: Stats, signal: AbortSignal | undefined): Promise<ReleaseEntry | undefined> {
  const type = typeOf(stats)
  const mode = stats.mode & 0o7777
  const full = join(dir, path)
  if (type === 'file') return { path, type, mode, size: stats.size, sha256: await sha256File(full, stats.size, signal) }
  if (type === 'symlink') {
    const target = await readlink(full)
    return { path, type, mode, size: Buffer.byteLength(target), target }
  }
  return type === 'dir' ? { path, type, mode, size: 0 } : undefined
}

async function walk (dir: string, rel: string, out: ReleaseEntry[], signal: AbortSignal | undefined): Promise<void> {
  for (const name of await readdir(rel === '' ? dir : join(dir, rel))) {
    checkAborted(signal)
    const path = rel === '' ? name : `${rel}/${name}`
    const stats = await lstat(join(dir, path))
    const entry = await describe(dir, path, stats, signal)
    if (entry !== undefined) out.push(entry)
    if (entry?.type === 'dir') await walk(dir, path, out, signal)
  }
}

/**
 * Record everything under `dir` (not `dir` itself): files with their
 * SHA-256, directories, symlinks with their target. Symlinks are never
 * followed. Sockets, FIFOs and devices are left out (they have no content to
 * check; a safe package holds none).
 * @throws {AbortError}
 */
export async function hashTree (dir: string, options: ReleaseIoOptions = {}): Promise<ReleaseManifest> {
  const out: ReleaseEntry[] = []
  await walk(dir, '', out, options.signal)
  return out.sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
}

const octal = (mode: number): string => mode.toString(8).padStart(4, '0')

async function checkEntry (dir: string, entry: ReleaseEntry, signal: AbortSignal | undefined): Promise<string[]> {
  let stats: Stats
  try {
    stats = await lstat(join(dir, entry.path))
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    return [code === 'ENOENT' || code === 'ENOTDIR' ? `${entry.path}: missing` : `${entry.path}: ${(err as Error).message}`]
  }
  const type = typeOf(stats) ?? 'special file'
  if (type !== entry.type) return [`${entry.path}: is a ${type}, expected a ${entry.type}`]
  const problems: string[] = []
  if ((stats.mode & 0o7777) !== entry.mode) problems.push(`${entry.path}: mode ${octal(stats.mode & 0o7777)}, expected ${octal(entry.mode)}`)
  const full = join(dir, entry.path)
  if (entry.type === 'file' && (stats.size !== entry.size || await sha256File(full, stats.size, signal) !== entry.sha256)) {
    problems.push(`${entry.path}: content changed`)
  }
  if (entry.type === 'symlink') {
    const target = await readlink(full)
    if (target !== entry.target) problems.push(`${entry.path}: link target ${JSON.stringify(target)}, expected ${JSON.stringify(entry.target)}`)
  }
  return problems
}

/**
 * Check `dir` against a manifest from {@link hashTree}: every recorded entry
 * must still exist with the same type, mode, content (files) and target
 * (symlinks). Entries ADDED since are allowed, and directories are not
 * listed: a running program may write logs, caches or sockets in its release
 * directory, and that does not make the release unsafe to resume.
 * @throws {AbortError}
 */
export async function verifyTree (dir: string, manifest: ReleaseManifest, options: ReleaseIoOptions = {}): Promise<VerifyResult> {
  const problems: string[] = []
  for (const entry of manifest) {
    checkAborted(options.signal)
    problems.push(...await checkEntry(dir, entry, options.signal))
  }
  return problems.length === 0 ? { ok: true } : { ok: false, problems }
}

/** fsync a directory, so a rename or link inside it is durable. Best effort: some file systems refuse. */
async function syncDir (dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r')
    try { await handle.sync() } finally { await handle.close() }
  } catch {}
}

/**
 * Write a manifest as JSON (`{"v":1,"entries":[…]}`) through a temporary file
 * in the same directory: write, fsync, rename over `path`, fsync the directory.
 * A reader sees the old file or the new one, never a partial one.
 * @throws {AbortError}
 */
export async function writeReleaseManifest (path: string, manifest: ReleaseManifest, options: ReleaseIoOptions = {}): Promise<void> {
  checkAborted(options.signal)
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`
  try {
    const handle = await open(tmp, 'wx', 0o644)
    try {
      await handle.writeFile(`${JSON.stringify({ v: 1, entries: manifest })}\n`, { signal: options.signal })
      await handle.sync()
    } finally {
      await handle.close()
    }
    checkAborted(options.signal)
    await rename(tmp, path)
  } finally {
    await rm(tmp, { force: true })
  }
  await syncDir(dirname(path))
}

/** Whether `path` is a clean relative path: no leading `/`, no empty, `.` or `..` segment, no NUL. */
function isCleanPath (path: unknown): path is string {
  return typeof path === 'string' && path !== '' && !path.includes('\0') &&
    path.split('/').every(part => part !== '' && part !== '.' && part !== '..')
}

function isEntry (value: unknown): value is ReleaseEntry {
  if (typeof value !== 'object' || value === null) return false
  const e = value as Record<string, unknown>
  const natural = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 0
  if (!isCleanPath(e.path) || !ENTRY_TYPES.includes(e.type as ReleaseEntry['type'])) return false
  if (!natural(e.mode) || (e.mode as number) > 0o7777 || !natural(e.size)) return false
  if (e.type === 'file') return typeof e.sha256 === 'string' && /^[0-9a-f]{64}$/.test(e.sha256)
  return e.type === 'symlink' ? typeof e.target === 'string' : true
}

/**
 * Read a manifest written by {@link writeReleaseManifest}, checking its shape
 * (clean relative paths, strictly sorted, known types, hashes of files).
 * @throws {InvalidReleaseManifestError} malformed.
 * @throws {AbortError}
 */
export async function readReleaseManifest (path: string, options: ReleaseIoOptions = {}): Promise<ReleaseManifest> {
  const text = await readFile(path, { encoding: 'utf8', signal: options.signal }).catch((err: Error) => {
    throw err.name === 'AbortError' ? new AbortError('release file operation was aborted', { cause: err }) : err
  })
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    throw new InvalidReleaseManifestError(`release manifest ${path} is not JSON: ${(err as Error).message}`, { cause: err })
  }
  const entries = (doc as { v?: unknown, entries?: unknown } | null)?.entries
  if ((doc as { v?: unknown } | null)?.v !== 1 || !Array.isArray(entries)) {
    throw new InvalidReleaseManifestError(`release manifest ${path} is not a version 1 manifest`)
  }
  entries.forEach((entry: unknown, i) => {
    if (!isEntry(entry)) throw new InvalidReleaseManifestError(`release manifest ${path}: entry ${i} is malformed`)
    if (i > 0 && !((entries[i - 1] as ReleaseEntry).path < entry.path)) {
      throw new InvalidReleaseManifestError(`release manifest ${path}: entries are not sorted by path (entry ${i})`)
    }
  })
  return entries as ReleaseEntry[]
}

/** Whether `name` can name a directory of `releases/`: one path segment. */
export function isReleaseName (name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0') && Buffer.byteLength(name) <= 255
}

/**
 * Point `<dataDir>/current` at `releases/<name>` atomically: a symlink is
 * created at a temporary name, then renamed over `current` (a reader sees
 * the old target or the new one, never no link). The target is relative, so
 * the data directory may be moved. The directory is fsynced afterwards.
 * @throws {InvalidOptionError} `name` is not a single path segment.
 * @throws {ReleaseNotFoundError} `releases/<name>` is not a directory.
 */
export async function switchCurrent (dataDir: string, releaseDirName: string): Promise<void> {
  if (!isReleaseName(releaseDirName)) throw new InvalidOptionError(`invalid release name ${JSON.stringify(releaseDirName)}`)
  const target = `${AGENT_DEFAULTS.releasesDir}/${releaseDirName}`
  const stats = await stat(join(dataDir, target)).catch(() => undefined)
  if (stats?.isDirectory() !== true) throw new ReleaseNotFoundError(`release directory ${join(dataDir, target)} does not exist`)
  const tmp = join(dataDir, `.${AGENT_DEFAULTS.currentLink}.${randomBytes(6).toString('hex')}.tmp`)
  await symlink(target, tmp)
  try {
    await rename(tmp, join(dataDir, AGENT_DEFAULTS.currentLink))
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
  await syncDir(dataDir)
}

/**
 * The release `<dataDir>/current` points at, or undefined when there is no
 * such link or it does not point at `releases/<name>`.
 */
export async function readCurrent (dataDir: string): Promise<string | undefined> {
  let target: string
  try {
    target = await readlink(join(dataDir, AGENT_DEFAULTS.currentLink))
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'EINVAL') return undefined
    throw err
  }
  const prefix = `${AGENT_DEFAULTS.releasesDir}/`
  const name = target.startsWith(prefix) ? target.slice(prefix.length) : ''
  return isReleaseName(name) ? name : undefined
}
