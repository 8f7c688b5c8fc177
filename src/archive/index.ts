/**
 * Package archives: checking an uploaded or received tar (or tar.gz) entry by
 * entry before anything is unpacked, unpacking it (from a file, or as it
 * streams in: {@link unpackStream}), and packing a directory
 * into a deterministic tar (same files, modes and bytes → same tar → same
 * package CID).
 */
import { lstat, readdir } from 'node:fs/promises'
import { join, posix } from 'node:path'
import * as tar from 'tar'
import { UnsafePackageError } from '../core/index.ts'
import { entryGuard, SAFE_UNPACK, type ArchiveSummary, type GuardLimits } from './guard.ts'

export type { ArchiveSummary } from './guard.ts'

export { unpackStream, removeUnpacked, type UnpackLimits } from './unpack.ts'

/**
 * Bytes node-tar reads from an archive at a time. Its default (16 MiB) reads
 * any smaller archive whole into one buffer: a 10 MiB package cost each of
 * 100 agents unpacking at once 10 MiB (1 GiB of buffers in the bench).
 */
const READ_BYTES = 256 * 1024

/** Limits of {@link checkArchive}. */
export type CheckArchiveOptions = GuardLimits

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

const UNPACK = { ...SAFE_UNPACK, maxReadSize: READ_BYTES } as const

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
