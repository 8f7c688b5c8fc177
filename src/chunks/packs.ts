import { constants } from 'node:fs'
import { mkdir, open, readdir, rm, stat, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'

/** Where a block lives: pack file number, byte offset, length. */
export interface BlockLocation {
  readonly pack: number
  readonly offset: number
  readonly size: number
}

/**
 * Append-only pack files holding block bytes back to back. Writes go to the
 * active pack at offsets reserved synchronously, so concurrent appends never
 * overlap; `sync()` makes every finished write durable with one fdatasync
 * per dirty pack (the store's group commit). A pack rolls over at
 * `maxPackBytes`; a pack whose blocks are all released is deleted.
 */
export class PackFiles {
  readonly #dir: string
  readonly #maxPackBytes: number
  readonly #handles = new Map<number, FileHandle>()
  readonly #live = new Map<number, number>()
  readonly #dirty = new Set<number>()
  #active = 0
  #end = 0

  constructor (dir: string, maxPackBytes: number) {
    this.#dir = dir
    this.#maxPackBytes = maxPackBytes
  }

  /**
   * Open the packs and reconcile them with the index: returns the locations
   * that are intact (inside an existing pack). Bytes past the last intact
   * block of the newest pack (a write that was never indexed) are trimmed,
   * and packs holding no intact block are deleted.
   */
  async open (locations: ReadonlyMap<string, BlockLocation>): Promise<Map<string, BlockLocation>> {
    await mkdir(this.#dir, { recursive: true })
    const sizes = await this.#packSizes()
    const intact = new Map<string, BlockLocation>()
    for (const [key, loc] of locations) {
      const size = sizes.get(loc.pack)
      if (size !== undefined && loc.offset + loc.size <= size) intact.set(key, loc)
    }
    const ends = new Map<number, number>()
    for (const loc of intact.values()) {
      this.#live.set(loc.pack, (this.#live.get(loc.pack) ?? 0) + 1)
      ends.set(loc.pack, Math.max(ends.get(loc.pack) ?? 0, loc.offset + loc.size))
    }
    this.#active = Math.max(0, ...sizes.keys())
    for (const pack of sizes.keys()) {
      if (pack !== this.#active && !this.#live.has(pack)) await rm(this.#path(pack), { force: true })
    }
    this.#end = ends.get(this.#active) ?? 0
    const active = await this.#handle(this.#active)
    await active.truncate(this.#end)
    return intact
  }

  /** Write `bytes` at the end of the active pack (not yet durable: see {@link sync}). */
  async append (bytes: Uint8Array, signal?: AbortSignal): Promise<BlockLocation> {
    if (this.#end > 0 && this.#end + bytes.byteLength > this.#maxPackBytes) this.#rollOver()
    const loc = { pack: this.#active, offset: this.#end, size: bytes.byteLength }
    this.#end += bytes.byteLength
    signal?.throwIfAborted()
    const handle = await this.#handle(loc.pack)
    await handle.write(bytes, 0, bytes.byteLength, loc.offset)
    this.#dirty.add(loc.pack)
    this.#live.set(loc.pack, (this.#live.get(loc.pack) ?? 0) + 1)
    return loc
  }

  /** Make every append that has finished durable. */
  async sync (): Promise<void> {
    const packs = [...this.#dirty]
    this.#dirty.clear()
    await Promise.all(packs.map(async pack => { await (await this.#handle(pack)).datasync() }))
  }

  /** Read a block; resolves with fewer bytes than asked if the pack was cut short or removed. */
  async read (loc: BlockLocation): Promise<Uint8Array> {
    // Not zero-filled: every byte is overwritten by the read (or cut off below).
    const bytes = new Uint8Array(Buffer.allocUnsafeSlow(loc.size).buffer, 0, loc.size)
    const handle = await this.#handle(loc.pack, false)
    if (handle === undefined) return bytes.subarray(0, 0)
    const { bytesRead } = await handle.read(bytes, 0, loc.size, loc.offset)
    return bytesRead === loc.size ? bytes : bytes.subarray(0, bytesRead)
  }

  /** A block is gone from the index: delete its pack once it holds no live block. */
  async release (loc: BlockLocation): Promise<void> {
    const live = (this.#live.get(loc.pack) ?? 1) - 1
    if (live > 0 || loc.pack === this.#active) {
      this.#live.set(loc.pack, live)
      return
    }
    this.#live.delete(loc.pack)
    await this.#handles.get(loc.pack)?.close()
    this.#handles.delete(loc.pack)
    await rm(this.#path(loc.pack), { force: true })
  }

  async close (): Promise<void> {
    await Promise.allSettled([...this.#handles.values()].map(async h => { await h.close() }))
    this.#handles.clear()
    this.#live.clear()
    this.#dirty.clear()
  }

  #rollOver (): void {
    this.#active++
    this.#end = 0
  }

  async #handle (pack: number): Promise<FileHandle>
  async #handle (pack: number, create: false): Promise<FileHandle | undefined>
  async #handle (pack: number, create = true): Promise<FileHandle | undefined> {
    let handle = this.#handles.get(pack)
    if (handle === undefined) {
      // Read-write, never O_APPEND: Linux ignores the offset of positional writes under O_APPEND.
      // Readers do not create: a pack deleted under a read must stay deleted.
      const flags = constants.O_RDWR | (create ? constants.O_CREAT : 0)
      handle = await open(this.#path(pack), flags, 0o600).catch((err: NodeJS.ErrnoException) => {
        if (!create && err.code === 'ENOENT') return undefined
        throw err
      })
      if (handle === undefined) return undefined
      const raced = this.#handles.get(pack)
      if (raced !== undefined) { await handle.close(); return raced }
      this.#handles.set(pack, handle)
    }
    return handle
  }

  async #packSizes (): Promise<Map<number, number>> {
    const sizes = new Map<number, number>()
    for (const name of await readdir(this.#dir)) {
      const match = /^(\d+)\.pack$/.exec(name)
      if (match !== null) sizes.set(Number(match[1]), (await stat(join(this.#dir, name))).size)
    }
    return sizes
  }

  #path (pack: number): string {
    return join(this.#dir, `${pack}.pack`)
  }
}
