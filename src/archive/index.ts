/**
 * Package archives: checking an uploaded or received tar (or tar.gz) entry by
 * entry before anything is unpacked, unpacking it, and packing a directory
 * into a deterministic tar (same files, modes and bytes → same tar → same
 * package CID).
 */
import { lstat, readdir } from 'node:fs/promises'
import { join, posix } from 'node:path'
import { once } from 'node:events'
import * as tar from 'tar'
import { checkArchiveEntry, UnsafePackageError, type ArchiveEntry } from '../core/index.ts'

/**
 * Bytes node-tar reads from an archive at a time. Its default (16 MiB) reads
 * any smaller archive whole into one buffer: a 10 MiB package cost each of
 * 100 agents unpacking at once 10 MiB (1 GiB of buffers in the bench).
 */
const READ_BYTES = 256 * 1024

/** Limits of {@link checkArchive}. */
export interface CheckArchiveOptions {
  /** Most entries accepted. @default 100_000 */
  readonly maxEntries?: number
  /** Most content bytes (sum of entry sizes) accepted. @default Infinity */
  readonly maxBytes?: number
}

/** What an archive holds. */
export interface ArchiveSummary {
  readonly entries: number
  readonly bytes: number
}

/**
 * Read every entry header of a tar or tar.gz (detected by content) and check it.
 * @throws {UnsafePackageError} not a valid archive, an unsafe entry (named), or over a limit.
 */
export async function checkArchive (file: string, options: CheckArchiveOptions = {}): Promise<ArchiveSummary> {
  const guard = entryGuard(options)
  const onReadEntry = (entry: tar.ReadEntry): void => {
    entry.resume()
    guard.admit(entry)
  }
  try {
    await tar.t({ file, strict: true, onReadEntry, maxReadSize: READ_BYTES })
  } catch (err) {
    throw new UnsafePackageError(`package is not a valid tar or tar.gz archive: ${(err as Error).message}`, { cause: err })
  }
  return guard.summary()
}

/**
 * Check, then unpack an archive into `dir` (which must exist). Ownership is
 * not restored; modes are (less the umask).
 * @throws {UnsafePackageError} see {@link checkArchive}.
 */
export async function extractArchive (file: string, dir: string, options: CheckArchiveOptions = {}): Promise<ArchiveSummary> {
  const summary = await checkArchive(file, options)
  try {
    await tar.x({ file, cwd: dir, ...UNPACK })
  } catch (err) {
    throw new UnsafePackageError(`package could not be unpacked: ${(err as Error).message}`, { cause: err })
  }
  return summary
}

/**
 * Unpack a tar or tar.gz arriving as a byte stream into `dir` (which must
 * exist), in one pass: each entry is checked as its header arrives and an
 * unsafe one is never written. On an error, entries before it may already be
 * in `dir`: unpack into a scratch directory and discard it on failure.
 * Errors of `source` (a corrupt chunk, an abort) are thrown as they are.
 * @throws {UnsafePackageError} not a valid archive, an unsafe entry (named), or over a limit.
 */
export async function extractArchiveFrom (source: AsyncIterable<Uint8Array>, dir: string, options: CheckArchiveOptions = {}): Promise<ArchiveSummary> {
  const guard = entryGuard(options)
  const unpack = new tar.Unpack({ cwd: dir, ...UNPACK, filter: (_path, entry) => guard.admit(entry as tar.ReadEntry) })
  const closed = new Promise<void>((resolve, reject) => {
    unpack.on('error', reject)
    unpack.on('close', resolve)
  })
  closed.catch(() => {}) // observed below, after the source is read
  const unpacked = async (): Promise<void> => {
    try {
      await closed
    } catch (err) {
      // After a refusal the input ends early: the refusal is the error to report.
      if (!guard.refused()) throw new UnsafePackageError(`package could not be unpacked: ${(err as Error).message}`, { cause: err })
    }
  }
  try {
    for await (const bytes of source) {
      if (guard.refused()) break
      // node-tar parses headers with Buffer methods: a plain Uint8Array would not checksum.
      if (!unpack.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))) await Promise.race([once(unpack, 'drain'), unpacked()])
    }
  } catch (err) {
    unpack.abort(err as Error)
    throw err
  }
  unpack.end()
  await unpacked()
  return guard.summary()
}

const UNPACK = { strict: true, preservePaths: false, preserveOwner: false, maxReadSize: READ_BYTES } as const

/** Counts and checks entries; remembers the first refusal, which {@link summary} throws. */
function entryGuard (options: CheckArchiveOptions): { admit: (entry: ArchiveEntry & { size: number }) => boolean, refused: () => boolean, summary: () => ArchiveSummary } {
  const maxEntries = options.maxEntries ?? 100_000
  const maxBytes = options.maxBytes ?? Infinity
  let entries = 0
  let bytes = 0
  let refusal: Error | undefined
  return {
    admit: entry => {
      if (refusal != null) return false
      try {
        checkArchiveEntry(entry)
        entries += 1
        bytes += entry.size
        if (entries > maxEntries) throw new UnsafePackageError(`package has more than ${maxEntries} entries`)
        if (bytes > maxBytes) throw new UnsafePackageError(`package content exceeds ${maxBytes} bytes`)
        return true
      } catch (err) {
        refusal = err as Error
        return false
      }
    },
    refused: () => refusal != null,
    summary: () => {
      if (refusal != null) throw refusal
      return { entries, bytes }
    }
  }
}

/**
 * Pack `paths` (relative to `root`; directories recursively) into `outFile`
 * as a plain tar with every entry in sorted order, mtimes zeroed and no owner
 * or host details, so equal content always gives equal bytes.
 */
export async function packDeterministic (root: string, paths: readonly string[], outFile: string): Promise<void> {
  await tar.c({ ...DETERMINISTIC, file: outFile, cwd: root }, await sortedEntries(root, paths))
}

/** The bytes {@link packDeterministic} writes, as a stream (read to the end, or destroyed). */
export async function packDeterministicStream (root: string, paths: readonly string[]): Promise<AsyncIterable<Uint8Array>> {
  return tar.c({ ...DETERMINISTIC, cwd: root }, await sortedEntries(root, paths))
}

const DETERMINISTIC = { portable: true, mtime: new Date(0), noDirRecurse: true, follow: false, gzip: false } as const

async function sortedEntries (root: string, paths: readonly string[]): Promise<string[]> {
  const entries = new Set<string>()
  for (const path of paths) await collect(root, posix.normalize(path).replace(/\/+$/, ''), entries)
  return [...entries].sort()
}

/** Add `path` and, for a directory, everything below it. Links are not followed. */
async function collect (root: string, path: string, into: Set<string>): Promise<void> {
  into.add(path)
  const info = await lstat(join(root, path))
  if (!info.isDirectory()) return
  for (const name of await readdir(join(root, path))) await collect(root, path === '.' ? name : `${path}/${name}`, into)
}
