/**
 * Unpacking an uploaded archive while it arrives: every entry header is
 * checked (and counted against the limits) before anything of it is
 * written, so the upload is never stored whole and read back twice (once to
 * check, once to unpack) as with a file.
 */
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { rename, rm } from 'node:fs/promises'
import * as tar from 'tar'
import { checkArchiveEntry, UnsafePackageError, type ArchiveEntry } from '../core/index.ts'

/** Limits of {@link unpackStream}. */
export interface UnpackLimits {
  /** Most entries accepted. */
  readonly maxEntries: number
  /** Most content bytes (sum of entry sizes) accepted. */
  readonly maxBytes: number
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
export async function unpackStream (source: AsyncIterable<Uint8Array>, dir: string, limits: UnpackLimits): Promise<void> {
  let entries = 0
  let bytes = 0
  let refusal: Error | undefined
  const filter = (_path: string, entry: unknown): boolean => {
    if (refusal != null) return false
    try {
      checkArchiveEntry(entry as ArchiveEntry)
      entries += 1
      bytes += (entry as ArchiveEntry).size ?? 0
      if (entries > limits.maxEntries) throw new UnsafePackageError(`package has more than ${limits.maxEntries} entries`)
      if (bytes > limits.maxBytes) throw new UnsafePackageError(`package content exceeds ${limits.maxBytes} bytes`)
      return true
    } catch (err) {
      refusal = err as Error
      return false
    }
  }
  const unpack = tar.x({ cwd: dir, strict: true, preservePaths: false, preserveOwner: false, filter })
  const finished = new Promise<void>((resolve, reject) => {
    unpack.on('close', resolve)
    unpack.on('error', reject)
  })
  finished.catch(() => {}) // observed below, after the source is drained or has failed
  const pieces = source[Symbol.asyncIterator]()
  try {
    for (;;) {
      const next = await pieces.next().catch((err: unknown) => { throw new SourceFailure(err) })
      if (next.done === true || refusal != null) break
      limits.signal?.throwIfAborted()
      if (!unpack.write(next.value)) await Promise.race([once(unpack, 'drain'), finished])
    }
    unpack.end()
    await finished
  } catch (err) {
    unpack.abort(err as Error)
    if (refusal != null) throw refusal
    if (err instanceof SourceFailure) throw err.cause
    if (limits.signal?.aborted === true) throw limits.signal.reason
    throw new UnsafePackageError(`package could not be unpacked: ${(err as Error).message}`, { cause: err })
  } finally {
    await pieces.return?.()?.catch(() => {})
  }
  if (refusal != null) throw refusal
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

