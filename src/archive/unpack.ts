/**
 * Unpacking an archive while it arrives (an upload at the manager, a package
 * read from the chunk store at an agent): every entry header is checked (and
 * counted against the limits) before anything of it is written, so the
 * archive is never stored whole and read back twice (once to check, once to
 * unpack) as with a file.
 */
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { rename, rm } from 'node:fs/promises'
import * as tar from 'tar'
import { UnsafePackageError, type ArchiveEntry } from '../core/index.ts'
import { entryGuard, SAFE_UNPACK, type ArchiveSummary, type GuardLimits } from './guard.ts'

/** Limits of {@link unpackStream}. */
export interface UnpackLimits extends GuardLimits {
  readonly signal?: AbortSignal
}

/**
 * Unpack a tar or tar.gz (detected by content) from `source` into `dir`
 * (which must exist and be private). Ownership is not restored; modes are
 * (less the umask), as `extractArchive` does. On a failure, files of entries
 * accepted before it may still be landing: remove `dir` with
 * {@link removeUnpacked}.
 * @throws {UnsafePackageError} not a valid archive, an unsafe entry (named), or over a limit.
 * @throws the source's own error (a client gone, an upload over its limit).
 */
export async function unpackStream (source: AsyncIterable<Uint8Array>, dir: string, limits: UnpackLimits = {}): Promise<ArchiveSummary> {
  const guard = entryGuard(limits)
  const filter = (_path: string, entry: unknown): boolean => guard.admit(entry as ArchiveEntry & { size: number })
  const unpack = tar.x({ cwd: dir, ...SAFE_UNPACK, filter })
  const finished = new Promise<void>((resolve, reject) => {
    unpack.on('close', resolve)
    unpack.on('error', reject)
  })
  finished.catch(() => {}) // observed below, after the source is drained or has failed
  const pieces = source[Symbol.asyncIterator]()
  try {
    for (;;) {
      const next = await pieces.next().catch((err: unknown) => { throw new SourceFailure(err) })
      if (next.done === true || guard.refused()) break
      limits.signal?.throwIfAborted()
      // node-tar parses headers with Buffer methods: a plain Uint8Array (a chunk from the store) would not checksum.
      if (!unpack.write(asBuffer(next.value))) await Promise.race([once(unpack, 'drain'), finished])
    }
    unpack.end()
    await finished
  } catch (err) {
    unpack.abort(err as Error)
    guard.summary() // throws the refusal, if any
    if (err instanceof SourceFailure) throw err.cause
    if (limits.signal?.aborted === true) throw limits.signal.reason
    throw new UnsafePackageError(`package could not be unpacked: ${(err as Error).message}`, { cause: err })
  } finally {
    await pieces.return?.()?.catch(() => {})
  }
  return guard.summary()
}

function asBuffer (bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** The upload itself failed (the client went, it is over its limit): its error, not the archive's. */
class SourceFailure extends Error {
  constructor (cause: unknown) {
    super('the source failed', { cause })
  }
}

/**
 * Remove a directory {@link unpackStream} wrote to, even while writes it
 * started are still landing: renamed first, so that nothing new can be
 * created under its path (the unpacker never creates its root), then removed.
 */
export async function removeUnpacked (dir: string): Promise<void> {
  const doomed = `${dir}.removing-${randomUUID()}`
  await rename(dir, doomed).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err })
  await rm(doomed, { recursive: true, force: true, maxRetries: 5 })
}

