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
    for (const listener of this.listeners) listener.onManifest(this)
  }

  /**
   * What to show a fetcher whose turn it is (see `Unchoker`): during the
   * initial seeding's first pass only the chunks held and never sent, so
   * it asks for a chunk nobody has rather than one already given out, which
   * would be declined; after it, or outside initial seeding, all held.
   */
  offer (): Bitfield | undefined {
    const have = this.#have
    const lastSent = this.#lastSent
    if (have === undefined || lastSent === undefined || this.#neverSent === 0 || this.initialSeedHoldMs <= 0) return have
    const offer = new Bitfield(have.length)
    for (let i = 0; i < have.length; i++) if (lastSent[i] === -Infinity && have.has(i)) offer.set(i)
    return offer
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
    if (before === -Infinity) this.#neverSent++
    lastSent[index] = before
    this.#sentBefore![index] = -Infinity
  }

  /** Record a newly stored chunk. */
  markHave (index: number): void {
    if (this.#have?.set(index) !== true) return
    for (const listener of this.listeners) listener.onHave(this, index)
  }
}
