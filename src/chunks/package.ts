import { createReadStream } from 'node:fs'
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises'
import { AbortError, ChunkHashMismatchError, InvalidManifestError } from '../core/errors.ts'
import { bytesMatchCid, parseCid } from '../core/cid.ts'
import { MANIFEST_LIMITS, type ChunkRef, type Manifest } from '../core/manifest.ts'
import { chunkStream, type ChunkerOptions } from './chunker.ts'
import type { ChunkStore } from './store.ts'

/** Progress of an import or export, in bytes of package content. */
export interface PackageProgress {
  bytes: number
  totalBytes: number
}

/** Options of {@link importFile} and {@link importBytes}. */
export interface ImportOptions {
  signal?: AbortSignal
  chunker?: Partial<ChunkerOptions>
  /** Called after each chunk is stored. */
  onProgress?: (progress: PackageProgress) => void
}

/** Options of {@link exportFile}. */
export interface ExportOptions {
  signal?: AbortSignal
  /** Called after each chunk is written. */
  onProgress?: (progress: PackageProgress) => void
}

/** Result of an import: the package's manifest and its CID. */
export interface ImportResult {
  manifest: Manifest
  cid: string
}

/** Read size of the file stream during import. */
const READ_BUFFER_BYTES = 1024 * 1024
/** Chunk writes in flight during import: overlaps disk writes and fsyncs with chunking. */
const PUT_CONCURRENCY = 8

/**
 * Chunk a file into the store and store its manifest. Streams: memory stays
 * O(max chunk size) whatever the file size.
 */
export async function importFile (store: ChunkStore, path: string, options: ImportOptions = {}): Promise<ImportResult> {
  throwIfAborted(options.signal)
  const { size } = await stat(path)
  const stream = createReadStream(path, { highWaterMark: READ_BUFFER_BYTES, signal: options.signal })
  try {
    return await importStream(store, stream, size, options)
  } finally {
    stream.destroy()
  }
}

/**
 * Chunk a byte stream into the store and store its manifest, as it arrives
 * (no file in between). `totalBytes`, if known, is only for progress.
 */
export async function importSource (store: ChunkStore, source: AsyncIterable<Uint8Array>, options: ImportOptions & { totalBytes?: number } = {}): Promise<ImportResult> {
  return importStream(store, source, options.totalBytes ?? 0, options)
}

/** Chunk an in-memory package into the store and store its manifest. */
export async function importBytes (store: ChunkStore, bytes: Uint8Array, options: ImportOptions = {}): Promise<ImportResult> {
  return importStream(store, [bytes], bytes.byteLength, options)
}

async function importStream (store: ChunkStore, source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, totalBytes: number, options: ImportOptions): Promise<ImportResult> {
  throwIfAborted(options.signal)
  const chunks = chunkStream(toAsync(source), options.chunker)
  const refs = await storeChunks(store, chunks, totalBytes, options)
  const manifest: Manifest = { version: 1, size: refs.reduce((sum, ref) => sum + ref.size, 0), chunks: refs }
  throwIfAborted(options.signal)
  const cid = await store.putManifest(manifest)
  return { manifest, cid }
}

/**
 * Hash and put every chunk, a few at a time (the hashing runs on the thread
 * pool while the chunker cuts the next), and return their refs in order.
 */
async function storeChunks (store: ChunkStore, chunks: AsyncIterable<Uint8Array>, totalBytes: number, options: ImportOptions): Promise<ChunkRef[]> {
  const { signal, onProgress } = options
  const refs: ChunkRef[] = []
  const inflight: Array<Promise<void>> = []
  let stored = 0
  try {
    for await (const chunk of chunks) {
      throwIfAborted(signal)
      if (refs.length >= MANIFEST_LIMITS.maxChunks) throw new InvalidManifestError(`package needs more than ${MANIFEST_LIMITS.maxChunks} chunks`)
      const ref = { cid: '', size: chunk.byteLength }
      refs.push(ref)
      const put = store.add(chunk, { signal }).then(cid => {
        ref.cid = cid
        stored += chunk.byteLength
        onProgress?.({ bytes: stored, totalBytes })
      })
      put.catch(() => {}) // observed below; avoids an unhandled rejection while the chunker runs
      inflight.push(put)
      if (inflight.length >= PUT_CONCURRENCY) await inflight.shift()
    }
    await Promise.all(inflight)
  } finally {
    await Promise.allSettled(inflight)
  }
  return refs
}

/**
 * Reassemble a package from the store into `path`, verifying every chunk's
 * hash as it is read. Writes `<path>.partial` and renames it when complete, so
 * `path` never holds a partial package. A corrupt block is deleted from the
 * store (it must not be served to peers) so that it can be fetched again.
 * @throws {ChunkNotFoundError} when the manifest or a chunk is missing
 * @throws {ChunkHashMismatchError} when a stored chunk is corrupt
 */
export async function exportFile (store: ChunkStore, manifestOrCid: Manifest | string, path: string, options: ExportOptions = {}): Promise<void> {
  throwIfAborted(options.signal)
  const manifest = typeof manifestOrCid === 'string' ? await store.getManifest(manifestOrCid) : manifestOrCid
  const partial = `${path}.partial`
  try {
    const handle = await open(partial, 'w')
    try {
      await writeChunks(store, manifest, handle, options)
      await handle.sync()
    } finally {
      await handle.close()
    }
    throwIfAborted(options.signal)
    await rename(partial, path)
  } catch (err) {
    await rm(partial, { force: true })
    throw err
  }
}

async function writeChunks (store: ChunkStore, manifest: Manifest, handle: FileHandle, options: ExportOptions): Promise<void> {
  for await (const bytes of readPackage(store, manifest, options)) await writeAll(handle, bytes)
}

/**
 * A package's bytes from the store, chunk by chunk in order, each verified
 * against its CID as it is read (as {@link exportFile} does, without a file).
 * @throws {ChunkNotFoundError} when the manifest or a chunk is missing
 * @throws {ChunkHashMismatchError} when a stored chunk is corrupt (it is removed)
 */
export async function * readPackage (store: ChunkStore, manifestOrCid: Manifest | string, options: ExportOptions = {}): AsyncGenerator<Uint8Array> {
  throwIfAborted(options.signal)
  const manifest = typeof manifestOrCid === 'string' ? await store.getManifest(manifestOrCid) : manifestOrCid
  const ahead: Array<Promise<Uint8Array>> = []
  let next = 0
  const readAhead = (): void => {
    while (ahead.length < READ_AHEAD && next < manifest.chunks.length) {
      const reading = readVerified(store, manifest.chunks[next++]!, options.signal)
      reading.catch(() => {}) // observed when its turn comes
      ahead.push(reading)
    }
  }
  let read = 0
  for (readAhead(); ahead.length > 0; readAhead()) {
    throwIfAborted(options.signal)
    const bytes = await ahead.shift()!
    yield bytes
    read += bytes.byteLength
    options.onProgress?.({ bytes: read, totalBytes: manifest.size })
  }
}

/**
 * Chunks {@link readPackage} reads and verifies ahead of the one it yields.
 * Each read and each hash waits a turn of the event loop; in a busy process
 * one at a time made unpacking a 10 MiB package take some 80 turns.
 */
const READ_AHEAD = 4

async function readVerified (store: ChunkStore, ref: ChunkRef, signal: AbortSignal | undefined): Promise<Uint8Array> {
  const bytes = await store.get(ref.cid, { signal })
  // Hashed here rather than by WebCrypto on the thread pool: for chunks of this size
  // node:crypto is 3-4 times faster, and WebCrypto copies the bytes on this thread first.
  if (!bytesMatchCid(bytes, parseCid(ref.cid))) {
    await store.delete(ref.cid)
    throw new ChunkHashMismatchError(`stored chunk ${ref.cid} is corrupt; removed from the store`)
  }
  if (bytes.byteLength !== ref.size) {
    throw new InvalidManifestError(`manifest says chunk ${ref.cid} has ${ref.size} bytes, it has ${bytes.byteLength}`)
  }
  return bytes
}

async function writeAll (handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let offset = 0
  while (offset < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.byteLength - offset)
    offset += bytesWritten
  }
}

/** Indices (in manifest order) of the chunks not present in the store. */
export function missingChunks (store: ChunkStore, manifest: Manifest): number[] {
  const missing: number[] = []
  manifest.chunks.forEach((ref, index) => {
    if (!store.has(ref.cid)) missing.push(index)
  })
  return missing
}

async function * toAsync (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield * source
}

function throwIfAborted (signal: AbortSignal | undefined): void {
  if (signal?.aborted !== true) return
  throw signal.reason ?? new AbortError('operation aborted')
}
