import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises'
import { randomUUID } from 'node:crypto'
import { dirname, join } from 'node:path'
import { Level } from 'level'
import { ChunkHashMismatchError, ChunkNotFoundError, InvalidCidError, PollenError } from '../core/errors.ts'
import { bytesMatchCidAsync, parseCid, RAW_CODEC, JSON_CODEC, type CID } from '../core/cid.ts'
import { decodeManifest, manifestBlock, type Manifest } from '../core/manifest.ts'

/** Options of {@link createChunkStore}. */
export interface ChunkStoreOptions {
  /** Directory that holds `blocks/`, `tmp/` and the `index` database. Created on start. */
  dir: string
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
   * @throws {ChunkHashMismatchError} when `bytes` do not hash to `cid` (nothing is stored)
   * @throws {InvalidCidError}
   */
  put(cid: string, bytes: Uint8Array, options?: { signal?: AbortSignal }): Promise<void>
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
 * Crash safety. A block is written to tmp/, fsynced, renamed to blocks/xx/<cid>,
 * then recorded in the index, then added to memory. Only indexed blocks whose
 * file exists with the indexed size are loaded on start, so a crash between any
 * two steps leaves either a stray temp file or an unindexed block file, both
 * removed on start. The fsync before the rename means a file at its final path
 * always has its complete content, even after power loss.
 */

/** Index entries whose block file is checked at once on start. */
const STAT_BATCH = 64

/** Create a chunk store rooted at `options.dir`. Call `start()` before use. */
export function createChunkStore (options: ChunkStoreOptions): ChunkStore {
  return new DiskChunkStore(options.dir)
}

class DiskChunkStore implements ChunkStore {
  readonly dir: string
  readonly #blocksDir: string
  readonly #tmpDir: string
  /** Canonical CID string → block size, of every block present. */
  readonly #present = new Map<string, number>()
  /** Tail of the operation chain of each CID, so put/delete of one CID never interleave. */
  readonly #locks = new Map<string, Promise<void>>()
  readonly #pending = new Set<Promise<unknown>>()
  #db: Level<string, number> | undefined
  #starting: Promise<void> | undefined
  #stopping: Promise<void> | undefined
  #bytes = 0
  /** Shard directories known to exist (saves a mkdir per block). */
  readonly #shards = new Set<string>()

  constructor (dir: string) {
    this.dir = dir
    this.#blocksDir = join(dir, 'blocks')
    this.#tmpDir = join(dir, 'tmp')
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
    if (!this.#present.has(key)) throw new ChunkNotFoundError(`block ${key} is not in the store`)
    try {
      const buf = await readFile(this.#blockPath(key), { signal: options.signal })
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
    } catch (err) {
      if (!isNotFound(err)) throw err
      await this.#forgetIfMissing(key)
      throw new ChunkNotFoundError(`block ${key} vanished from disk`, { cause: err })
    }
  }

  async put (cid: string, bytes: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
    const parsed = parseBlockCid(cid)
    const key = parsed.toString()
    this.#checkOpen()
    options.signal?.throwIfAborted()
    return this.#track((async () => {
      if (!await bytesMatchCidAsync(bytes, parsed)) throw new ChunkHashMismatchError(`bytes do not hash to ${key}`)
      if (this.#present.has(key)) return
      await this.#locked(key, async () => {
        if (this.#present.has(key)) return
        await this.#writeBlock(key, bytes, options.signal)
        await this.#db?.put(key, bytes.byteLength)
        this.#add(key, bytes.byteLength)
      })
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
    return this.#track(this.#locked(key, async () => {
      this.#remove(key)
      // Index first: a crash after it leaves an unindexed file, which start removes.
      await this.#db?.del(key)
      await rm(this.#blockPath(key), { force: true })
    }))
  }

  size (): number {
    return this.#present.size
  }

  bytesStored (): number {
    return this.#bytes
  }

  async #open (): Promise<void> {
    await mkdir(this.#blocksDir, { recursive: true })
    const db = new Level<string, number>(join(this.dir, 'index'), { valueEncoding: 'json' })
    await db.open()
    try {
      // The index's lock makes this the only store on `dir`, so everything in tmp/ is stale.
      await rm(this.#tmpDir, { recursive: true, force: true })
      await mkdir(this.#tmpDir, { recursive: true })
      await this.#loadIndex(db)
      await this.#removeUnindexedFiles()
    } catch (err) {
      await db.close()
      throw err
    }
    this.#db = db
  }

  async #close (): Promise<void> {
    await Promise.allSettled(this.#pending)
    await this.#starting?.catch(() => {})
    await this.#closeDb()
    this.#present.clear()
    this.#shards.clear()
    this.#bytes = 0
    this.#starting = undefined
    this.#stopping = undefined
  }

  async #closeDb (): Promise<void> {
    const db = this.#db
    this.#db = undefined
    await db?.close()
  }

  /** Load index entries whose block file is intact; drop (and delete) the others. */
  async #loadIndex (db: Level<string, number>): Promise<void> {
    const entries = await db.iterator().all()
    const dropped: string[] = []
    for (let i = 0; i < entries.length; i += STAT_BATCH) {
      await Promise.all(entries.slice(i, i + STAT_BATCH).map(async ([key, size]) => {
        if (await this.#isIntact(key, size)) this.#add(key, size)
        else dropped.push(key)
      }))
    }
    await db.batch(dropped.map(key => ({ type: 'del' as const, key })))
    for (const key of dropped) {
      if (isCanonicalBlockCid(key)) await rm(this.#blockPath(key), { force: true })
    }
  }

  async #isIntact (key: string, size: unknown): Promise<boolean> {
    if (!isCanonicalBlockCid(key) || typeof size !== 'number') return false
    try {
      const info = await stat(this.#blockPath(key))
      return info.isFile() && info.size === size
    } catch (err) {
      if (isNotFound(err)) return false
      throw err
    }
  }

  /** Block files without an index entry are left by a crash between rename and index write. */
  async #removeUnindexedFiles (): Promise<void> {
    for (const shard of await readdir(this.#blocksDir)) {
      const shardDir = join(this.#blocksDir, shard)
      const names = await readdir(shardDir).catch(() => [])
      for (const name of names) {
        if (!this.#present.has(name) && isCanonicalBlockCid(name)) await rm(join(shardDir, name), { force: true })
      }
    }
  }

  async #writeBlock (key: string, bytes: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    const tmp = join(this.#tmpDir, `${key}.${randomUUID()}`)
    const target = this.#blockPath(key)
    try {
      const handle = await open(tmp, 'wx')
      try {
        await handle.writeFile(bytes, { signal })
        await handle.datasync()
      } finally {
        await handle.close()
      }
      signal?.throwIfAborted()
      await this.#ensureShard(dirname(target))
      await rename(tmp, target)
    } catch (err) {
      await rm(tmp, { force: true })
      throw err
    }
  }

  async #ensureShard (shard: string): Promise<void> {
    if (this.#shards.has(shard)) return
    await mkdir(shard, { recursive: true })
    this.#shards.add(shard)
  }

  /** A block file deleted behind the store's back is forgotten (so it can be fetched again); start drops its index entry. */
  async #forgetIfMissing (key: string): Promise<void> {
    await this.#locked(key, async () => {
      const present = await stat(this.#blockPath(key)).then(() => true, () => false)
      if (!present) this.#remove(key)
    })
  }

  #blockPath (key: string): string {
    return join(this.#blocksDir, key.slice(-2), key)
  }

  #add (key: string, size: number): void {
    if (this.#present.has(key)) return
    this.#present.set(key, size)
    this.#bytes += size
  }

  #remove (key: string): void {
    const size = this.#present.get(key)
    if (size === undefined) return
    this.#present.delete(key)
    this.#bytes -= size
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

function isNotFound (err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT'
}
