import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Level } from 'level'
import { STORE_DEFAULTS } from '../constants.ts'
import { PackFiles, type BlockLocation } from './packs.ts'
import { ChunkHashMismatchError, ChunkNotFoundError, InvalidCidError, PollenError } from '../core/errors.ts'
import { create as createDigest } from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import { bytesMatchCidAsync, CID, parseCid, RAW_CODEC, JSON_CODEC } from '../core/cid.ts'
import { decodeManifest, manifestBlock, type Manifest } from '../core/manifest.ts'

/** Options of {@link createChunkStore}. */
export interface ChunkStoreOptions {
  /** Directory that holds `packs/` and the `index` database. Created on start. */
  dir: string
  /** A pack file rolls over at this size. @default STORE_DEFAULTS.maxPackBytes */
  maxPackBytes?: number
}

/**
 * Content-addressed block store on disk: chunks (raw CIDs) and manifests
 * (json CIDs). Every block is verified against its CID before it is stored,
 * and a block is reported present only once it is complete on disk.
 */
export interface ChunkStore {
  readonly dir: string
  /** Open the index, load the present CIDs, repair what a crash left behind. Idempotent. */
  start(): Promise<void>
  /** Wait for writes in progress, then close the index. Idempotent. */
  stop(): Promise<void>
  /** Whether the block is present (synchronous, from memory). @throws {InvalidCidError} */
  has(cid: string): boolean
  /** Read a block. @throws {ChunkNotFoundError} @throws {InvalidCidError} */
  get(cid: string, options?: { signal?: AbortSignal }): Promise<Uint8Array>
  /**
   * Verify and store a block atomically; a no-op when already present.
   * Keeps no reference to `bytes` once the promise settles (the fetcher
   * reuses the buffer for the next chunk).
   * @throws {ChunkHashMismatchError} when `bytes` do not hash to `cid` (nothing is stored)
   * @throws {InvalidCidError}
   */
  put(cid: string, bytes: Uint8Array, options?: { signal?: AbortSignal }): Promise<void>
  /**
   * Hash a chunk (off the main thread) and store it under the raw CID of its
   * bytes, which it returns: the import path, where no CID is known before
   * the hash, so each chunk is hashed once, not once to name it and again to
   * check the name. Same commit and sharing of buffers as {@link put}.
   */
  add(bytes: Uint8Array, options?: { signal?: AbortSignal }): Promise<string>
  /** Store a manifest block; returns its CID. @throws {InvalidManifestError} */
  putManifest(manifest: Manifest): Promise<string>
  /** Read and decode a manifest block. @throws {ChunkNotFoundError} @throws {InvalidManifestError} @throws {InvalidCidError} */
  getManifest(cid: string): Promise<Manifest>
  /** Remove a block; a no-op when absent. @throws {InvalidCidError} */
  delete(cid: string): Promise<void>
  /** Number of blocks present. */
  size(): number
  /** Total bytes of the blocks present. */
  bytesStored(): number
}

/*
 * Layout and crash safety. Block bytes are appended to pack files
 * (`packs/<n>.pack`, rolled over at `maxPackBytes`); a `level` index maps each
 * CID to its pack, offset and size. The index is the commit point: a put
 * writes the bytes, waits for the next group commit (one fdatasync covering
 * every write finished before it), and only then records the block in the
 * index and in memory. On start, entries pointing past the end of their pack
 * are dropped and unindexed bytes at the tail of the newest pack are trimmed,
 * so a crash at any point leaves nothing reported present that is not
 * complete on disk. Measured against one file per block (temp file, fsync,
 * rename): 1.7x the single-fetch throughput, and a 1 GiB package is a handful
 * of files rather than four thousand.
 */

/** Create a chunk store rooted at `options.dir`. Call `start()` before use. */
export function createChunkStore (options: ChunkStoreOptions): ChunkStore {
  return new DiskChunkStore(options.dir, options.maxPackBytes ?? STORE_DEFAULTS.maxPackBytes)
}

class DiskChunkStore implements ChunkStore {
  readonly dir: string
  readonly #packs: PackFiles
  /** Canonical CID string → where the block is, for every block present. */
  readonly #present = new Map<string, BlockLocation>()
  /** Tail of the operation chain of each CID, so put/delete of one CID never interleave. */
  readonly #locks = new Map<string, Promise<void>>()
  readonly #pending = new Set<Promise<unknown>>()
  /** Puts whose bytes are written and wait for the next group commit. */
  #waiting: Array<{ key: string, loc: BlockLocation, done: PromiseWithResolvers<void> }> = []
  #committing = false
  #db: Level<string, BlockLocation> | undefined
  #starting: Promise<void> | undefined
  #stopping: Promise<void> | undefined
  #bytes = 0

  constructor (dir: string, maxPackBytes: number) {
    this.dir = dir
    this.#packs = new PackFiles(join(dir, 'packs'), maxPackBytes)
  }

  async start (): Promise<void> {
    // Awaiting only when needed keeps `start(); stop()` ordered: stop sees the start.
    if (this.#stopping !== undefined) await this.#stopping
    this.#starting ??= this.#open().catch((err: unknown) => {
      this.#starting = undefined
      this.#present.clear()
      this.#bytes = 0
      throw err
    })
    return this.#starting
  }

  async stop (): Promise<void> {
    if (this.#starting === undefined) return this.#stopping
    this.#stopping ??= this.#close()
    return this.#stopping
  }

  has (cid: string): boolean {
    return this.#present.has(cid) || this.#present.has(canonical(cid))
  }

  async get (cid: string, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    const key = canonical(cid)
    this.#checkOpen()
    options.signal?.throwIfAborted()
    const loc = this.#present.get(key)
    if (loc === undefined) throw new ChunkNotFoundError(`block ${key} is not in the store`)
    const bytes = await this.#packs.read(loc)
    if (bytes.byteLength === loc.size) return bytes
    await this.#forget(key)
    throw new ChunkNotFoundError(`block ${key} vanished from disk`)
  }

  async put (cid: string, bytes: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
    const parsed = parseBlockCid(cid)
    const key = parsed.toString()
    this.#checkOpen()
    options.signal?.throwIfAborted()
    return this.#track((async () => {
      if (!await bytesMatchCidAsync(bytes, parsed)) throw new ChunkHashMismatchError(`bytes do not hash to ${key}`)
      await this.#store(key, bytes, options.signal)
    })())
  }

  /** Append and commit bytes already checked against `key`, unless present. */
  async #store (key: string, bytes: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    if (this.#present.has(key)) return
    await this.#locked(key, async () => {
      if (this.#present.has(key)) return
      const loc = await this.#packs.append(bytes, signal)
      await this.#commit(key, loc)
    })
  }

  async add (bytes: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<string> {
    this.#checkOpen()
    options.signal?.throwIfAborted()
    return this.#track((async () => {
      const key = (await rawCidAsync(bytes)).toString()
      await this.#store(key, bytes, options.signal)
      return key
    })())
  }

  async putManifest (manifest: Manifest): Promise<string> {
    const { bytes, cid } = manifestBlock(manifest)
    decodeManifest(bytes) // refuse to store a manifest that could never be read back
    await this.put(cid.toString(), bytes)
    return cid.toString()
  }

  async getManifest (cid: string): Promise<Manifest> {
    parseCid(cid, JSON_CODEC)
    return decodeManifest(await this.get(cid))
  }

  async delete (cid: string): Promise<void> {
    const key = canonical(cid)
    this.#checkOpen()
    return this.#track(this.#locked(key, async () => { await this.#forget(key) }))
  }

  size (): number {
    return this.#present.size
  }

  bytesStored (): number {
    return this.#bytes
  }

  /** Wait for the group commit that covers `loc`, then index the block. */
  async #commit (key: string, loc: BlockLocation): Promise<void> {
    const done = Promise.withResolvers<void>()
    this.#waiting.push({ key, loc, done })
    void this.#runCommits()
    await done.promise
  }

  /** One fdatasync and one index batch for every write waiting; repeats while more arrive. */
  async #runCommits (): Promise<void> {
    if (this.#committing) return
    this.#committing = true
    try {
      while (this.#waiting.length > 0) {
        const batch = this.#waiting
        this.#waiting = []
        try {
          await this.#packs.sync()
          await this.#db!.batch(batch.map(({ key, loc }) => ({ type: 'put' as const, key, value: loc })))
          for (const { key, loc, done } of batch) { this.#add(key, loc); done.resolve() }
        } catch (err) {
          for (const { done } of batch) done.reject(err)
        }
      }
    } finally {
      this.#committing = false
    }
  }

  async #forget (key: string): Promise<void> {
    const loc = this.#present.get(key)
    if (loc === undefined) return
    this.#remove(key)
    await this.#db?.del(key)
    await this.#packs.release(loc)
  }

  async #open (): Promise<void> {
    await mkdir(this.dir, { recursive: true })
    const db = new Level<string, BlockLocation>(join(this.dir, 'index'), { valueEncoding: 'json' })
    await db.open()
    try {
      await this.#loadIndex(db)
    } catch (err) {
      await this.#packs.close()
      await db.close()
      throw err
    }
    this.#db = db
  }

  async #close (): Promise<void> {
    await Promise.allSettled(this.#pending)
    await this.#starting?.catch(() => {})
    await this.#packs.close()
    const db = this.#db
    this.#db = undefined
    await db?.close()
    this.#present.clear()
    this.#bytes = 0
    this.#starting = undefined
    this.#stopping = undefined
  }

  /** Load index entries that point at intact bytes; drop the others (see the crash-safety note). */
  async #loadIndex (db: Level<string, BlockLocation>): Promise<void> {
    const entries = new Map<string, BlockLocation>()
    const dropped: string[] = []
    for (const [key, value] of await db.iterator().all()) {
      if (isCanonicalBlockCid(key) && isLocation(value)) entries.set(key, value)
      else dropped.push(key)
    }
    const intact = await this.#packs.open(entries)
    for (const key of entries.keys()) if (!intact.has(key)) dropped.push(key)
    await db.batch(dropped.map(key => ({ type: 'del' as const, key })))
    for (const [key, loc] of intact) this.#add(key, loc)
  }

  #add (key: string, loc: BlockLocation): void {
    if (this.#present.has(key)) return
    this.#present.set(key, loc)
    this.#bytes += loc.size
  }

  #remove (key: string): void {
    const loc = this.#present.get(key)
    if (loc === undefined) return
    this.#present.delete(key)
    this.#bytes -= loc.size
  }

  #checkOpen (): void {
    if (this.#db === undefined || this.#stopping !== undefined) throw new PollenError(`chunk store ${this.dir} is not started`)
  }

  async #locked (key: string, fn: () => Promise<void>): Promise<void> {
    const previous = this.#locks.get(key) ?? Promise.resolve()
    const current = previous.then(fn, fn)
    const tail = current.catch(() => {})
    this.#locks.set(key, tail)
    try {
      await current
    } finally {
      if (this.#locks.get(key) === tail) this.#locks.delete(key)
    }
  }

  async #track<T> (promise: Promise<T>): Promise<T> {
    this.#pending.add(promise)
    try {
      return await promise
    } finally {
      this.#pending.delete(promise)
    }
  }
}

/** The raw CID of a chunk, hashed on libuv's thread pool (WebCrypto), as {@link bytesMatchCidAsync} does. */
async function rawCidAsync (bytes: Uint8Array): Promise<CID> {
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes))
  return CID.createV1(RAW_CODEC, createDigest(sha256.code, digest))
}

function isLocation (value: unknown): value is BlockLocation {
  const { pack, offset, size } = (value ?? {}) as Record<string, unknown>
  return [pack, offset, size].every(n => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0)
}

/**
 * Parse a block CID (raw chunk or json manifest).
 * @throws {InvalidCidError}
 */
function parseBlockCid (text: string): CID {
  if (typeof text !== 'string') throw new InvalidCidError('CID must be a string')
  try {
    return parseCid(text, RAW_CODEC)
  } catch (err) {
    try {
      return parseCid(text, JSON_CODEC)
    } catch {
      throw err
    }
  }
}

/** The canonical (base32) string of a valid block CID: the only form used as key and file name. */
function canonical (text: string): string {
  return parseBlockCid(text).toString()
}

function isCanonicalBlockCid (text: string): boolean {
  try {
    return canonical(text) === text
  } catch {
    return false
  }
}
