import { Bitfield } from './bitfield.ts'
import type { Manifest } from '../core/index.ts'
import type { Unchoker } from './unchoke.ts'

/** Something that wants to hear when a share learns its manifest or gains a chunk. */
export interface ShareListener {
  onManifest (share: Share): void
  onHave (share: Share, index: number): void
}

/**
 * What this node holds of one package: its manifest once known and which
 * chunks are present. Servers read it; the fetcher updates it; every update
 * reaches the listeners (the server sessions, which tell their peers).
 */
export class Share {
  readonly cid: string
  #manifest: Manifest | undefined
  #have: Bitfield | undefined
  readonly listeners = new Set<ShareListener>()
  /** Chunk bytes this node uploaded for this package. */
  uploadedBytes = 0
  /**
   * Initial-seeding mode (the origin of a package): when set, a chunk already
   * sent within `initialSeedHoldMs` is declined while some chunk has never
   * been sent, so the first copy of every chunk leaves the origin before any
   * second copy does and the swarm spreads the rest.
   */
  initialSeedHoldMs = 0
  /**
   * This node is the package's origin (it seeds it with `initial`): its
   * HAVE_MAP says so, and fetchers ask it only for chunks no other peer
   * they see holds (`PeerView.lastResort`).
   */
  origin = false
  /** The origin's turns among its fetchers (see {@link Unchoker}); undefined: every fetcher is served. */
  unchoker: Unchoker | undefined
  /**
   * Initial-seeding mode, once every chunk has left: a chunk sent within
   * `repeatSeedHoldMs` is declined, so a requester takes it from the peers
   * that already hold it. A fetcher cannot see how many others share the
   * origin's upload, so without this it keeps asking the origin for chunks
   * it has just sent elsewhere.
   */
  repeatSeedHoldMs = 0
  #lastSent: Float64Array | undefined
  /** `#lastSent` before the latest admission of each chunk, for {@link withdraw}. */
  #sentBefore: Float64Array | undefined
  #neverSent = 0
  /** How many served fetchers' turns hold each chunk (see {@link reserve}). */
  #reserved: Uint16Array | undefined
  /** Chunk indexes, largest first (ties in index order): the order {@link reserve} offers them in. */
  #bySize: Uint32Array | undefined
  /** Where the next search of `#bySize` starts: every chunk before it has been sent (a withdrawn first copy sets it back to 0). */
  #cursor = 0

  constructor (cid: string) {
    this.cid = cid
  }

  get manifest (): Manifest | undefined { return this.#manifest }
  get have (): Bitfield | undefined { return this.#have }

  /** Record the manifest and the chunks already present (once; later calls are ignored). */
  setManifest (manifest: Manifest, have: Bitfield): void {
    if (this.#manifest !== undefined) return
    this.#manifest = manifest
    this.#have = have
    this.#lastSent = new Float64Array(manifest.chunks.length).fill(-Infinity)
    this.#sentBefore = new Float64Array(manifest.chunks.length).fill(-Infinity)
    this.#neverSent = manifest.chunks.length
    this.#reserved = new Uint16Array(manifest.chunks.length)
    const sizes = manifest.chunks.map(chunk => chunk.size)
    this.#bySize = Uint32Array.from(sizes.keys()).sort((a, b) => sizes[b]! - sizes[a]! || a - b)
    for (const listener of this.listeners) listener.onManifest(this)
  }

  /** In initial seeding, some chunk was never sent yet. */
  get firstPass (): boolean {
    return this.initialSeedHoldMs > 0 && this.#lastSent !== undefined && this.#neverSent > 0
  }

  /**
   * During the first pass of initial seeding: reserve for one fetcher's
   * turn (see `Unchoker`) up to `count` chunks held and never sent, those
   * no other turn holds first, which is all that fetcher is shown of what
   * the origin holds, as in BitTorrent's super-seeding: served fetchers
   * shown the same chunks asked for the same ones, and all but the first
   * were declined and rested the origin. When every chunk left unsent is
   * another turn's, it shares theirs: a fetcher whose link went down keeps
   * its turn (its send never ends), and its chunks must not wait for it.
   * Undefined after the first pass (or outside initial seeding): everything
   * held is shown.
   *
   * The largest chunks go first. A chunk takes the swarm time in proportion
   * to its size at every hop, so the origin's last chunks set the tail of a
   * deployment: in index order, big chunks that a busy origin declined and
   * a turn gave back came round again only at the end. At N = 50 (32 KiB
   * chunks on average) the last fifth of the origin's first copies averaged
   * 80 KB against 23 KB for the first fifth, and the largest fifth of the
   * chunks took 31 s to reach every agent against 9 s for the smallest
   * (bench/RESULTS.md).
   */
  reserve (count: number): number[] | undefined {
    const have = this.#have
    const lastSent = this.#lastSent
    const reserved = this.#reserved
    const order = this.#bySize
    if (have === undefined || lastSent === undefined || reserved === undefined || order === undefined || !this.firstPass) return undefined
    while (this.#cursor < order.length && lastSent[order[this.#cursor]!] !== -Infinity) this.#cursor++
    const chosen = new Set<number>()
    for (const shared of [false, true]) {
      for (let position = this.#cursor; position < order.length && chosen.size < count; position++) {
        const index = order[position]!
        if ((shared || reserved[index] === 0) && lastSent[index] === -Infinity && have.has(index)) chosen.add(index)
      }
    }
    const list = [...chosen]
    for (const index of list) reserved[index]!++
    return list
  }

  /** End a turn's {@link reserve}: its chunks may be offered to others. */
  release (indexes: readonly number[]): void {
    for (const index of indexes) this.#reserved![index]!--
  }

  /** Whether to send chunk `index` now (see {@link initialSeedHoldMs}, {@link repeatSeedHoldMs}); records the upload when admitted. */
  admit (index: number, now: number): boolean {
    const lastSent = this.#lastSent
    if (lastSent === undefined) return false
    const previous = lastSent[index]!
    const hold = this.#neverSent > 0 ? this.initialSeedHoldMs : this.repeatSeedHoldMs
    if (now - previous < hold) return false
    if (previous === -Infinity) this.#neverSent--
    this.#sentBefore![index] = previous
    lastSent[index] = now
    return true
  }

  /**
   * Undo the latest {@link admit} of chunk `index`: it did not leave after
   * all (the fetcher cancelled it, the session ended or the send failed). A
   * first copy that never left counts as never sent, so the initial hold
   * does not keep it from everyone until every other chunk has gone.
   */
  withdraw (index: number): void {
    const lastSent = this.#lastSent
    if (lastSent === undefined || lastSent[index] === -Infinity) return
    const before = this.#sentBefore![index]!
    if (before === -Infinity) {
      this.#neverSent++
      this.#cursor = 0 // reserve skips the sent chunks ahead of this one again
    }
    lastSent[index] = before
    this.#sentBefore![index] = -Infinity
  }

  /** Record a newly stored chunk. */
  markHave (index: number): void {
    if (this.#have?.set(index) !== true) return
    for (const listener of this.listeners) listener.onHave(this, index)
  }
}
