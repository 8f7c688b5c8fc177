import { ProtocolError } from '../core/index.ts'
import type { Bitfield } from './bitfield.ts'
import type { Uint8ArrayList } from 'uint8arraylist'
import type { ClientSession } from './client-session.ts'
import type { PeerView } from './policy.ts'
import { hashId } from './locality.ts'
import { chunkBuffers } from './buffer-pool.ts'

/** What one fetch knows about one remote peer. */
export class PeerState implements PeerView {
  readonly id: string
  session: ClientSession | undefined
  /** A session is being opened (avoid opening two). */
  opening = false
  /** Whether the peer knows the manifest (it said so in HAVE_MAP). */
  knowsManifest = false
  /** Raw have-map received before we knew the manifest (decoded once we do). */
  pendingBits: Uint8Array | undefined
  remoteHave: Bitfield | undefined
  /** Chunks the peer refused, with when: not asked again for `rejectBackoffMs` or until it announces them anew. */
  readonly rejected = new Map<number, number>()
  readonly requested = new Set<number>()
  /** Chunks arriving piece by piece: the buffer and how many bytes are in. */
  readonly partials = new Map<number, { buffer: Uint8Array, received: number }>()
  throughput: number | undefined
  rttMs: number | undefined
  lastArrival = 0
  /** Timeouts since the last suspension (or delivery, which takes one off). */
  penalty = 0
  /** Refused for the rest of this fetch: it sent bad data or broke the protocol. */
  bannedForGood = false
  /** Too slow lately: not asked for chunks until then (ms, on the fetch clock). */
  suspendedUntil = 0
  /** How often it was suspended; each suspension lasts twice the one before. */
  suspensions = 0
  /** When it was last suspended (ms, fetch clock). */
  suspendedAt = -Infinity
  /** Declined a request: not asked for anything until then (ms, fetch clock; see {@link declined}). */
  busyUntil = 0
  /** Requests declined in a row (a delivery ends the run). */
  declines = 0
  bytesReceived = 0
  /** On one of our links (see locality.ts); far peers are asked only for chunks no near peer has. */
  near = true
  /** The package's origin, by its HAVE_MAP: asked only for chunks no other peer holds (see {@link PeerView.lastResort}). */
  lastResort = false
  /** It serves us no chunks for now (its HAVE_MAP said so; see `Unchoker`): only its manifest may be asked for. */
  choked = false
  /** Its HAVE_MAP shows chunks reserved for our turn (see `Share.reserve`), which it shows no other fetcher meanwhile. */
  reserved = false
  /** When it last announced a chunk or its have-map (ms, fetch clock): a near peer silent for long is not waited for. */
  lastHeard = -Infinity
  /** Hash of the id, for the designation of far chunks. */
  readonly idHash: number

  readonly #now: () => number
  readonly #rejectBackoffMs: number

  constructor (id: string, now: () => number, rejectBackoffMs: number) {
    this.id = id
    this.idHash = hashId(id)
    this.#now = now
    this.#rejectBackoffMs = rejectBackoffMs
  }

  get inflight (): number { return this.requested.size }

  /** Rested for timing out, and nothing has arrived from it since (see {@link PeerView.doubtful}). */
  get doubtful (): boolean {
    return this.suspensions > 0 && this.lastArrival < this.suspendedAt
  }

  /** Not to be asked for chunks now: choked, or {@link resting}. */
  get banned (): boolean {
    return this.choked || this.resting
  }

  /** Not to be asked for anything now, the manifest included: banned for good, suspended for slowness, or busy (it declined lately). */
  get resting (): boolean {
    const now = this.#now()
    return this.bannedForGood || now < this.suspendedUntil || now < this.busyUntil
  }

  /**
   * The peer declined a request: ask it for nothing for `firstMs`, doubling
   * with each decline in a row up to `maxMs`. A busy peer (the origin, every
   * fetcher's first choice) otherwise gets a request, and answers with a
   * decline, for chunk after chunk: at N = 50 on a 16 KiB/s link those
   * packets outnumbered the data. A peer still holding requests of ours is
   * asked nothing more until it delivers one (or for `maxMs`): it has room
   * again only once it sent something, so asking on a timer meanwhile only
   * bought more declines, each a request in and a packet out on its link.
   */
  declined (firstMs: number, maxMs: number): void {
    this.busyUntil = this.#now() + (this.requested.size > 0 ? maxMs : Math.min(maxMs, firstMs * 2 ** this.declines))
    this.declines++
  }

  has = (index: number): boolean =>
    this.session !== undefined && this.remoteHave?.has(index) === true && !this.#recentlyRejected(index)

  #recentlyRejected (index: number): boolean {
    const at = this.rejected.get(index)
    if (at === undefined) return false
    if (this.#now() - at < this.#rejectBackoffMs) return true
    this.rejected.delete(index)
    return false
  }

  /** Fold one delivery into the throughput estimate (bytes/s, EWMA). */
  recordDelivery (bytes: number, requestedAt: number, now: number, alpha: number): void {
    const elapsed = Math.max(1, now - Math.max(requestedAt, this.lastArrival))
    const sample = bytes * 1000 / elapsed
    this.throughput = this.throughput === undefined ? sample : alpha * sample + (1 - alpha) * this.throughput
    this.lastArrival = now
    this.bytesReceived += bytes
    this.penalty = Math.max(0, this.penalty - 1)
    this.declines = 0
    this.busyUntil = 0
  }

  /**
   * Add one DATA piece; returns the whole chunk once its last piece is in.
   * A piece past offset 0 with no chunk under way is the tail of a cancelled
   * send and is dropped.
   * @throws {ProtocolError} when pieces are out of order or overrun the chunk size
   */
  assemble (index: number, offset: number, piece: Uint8Array | Uint8ArrayList, size: number): Uint8Array | undefined {
    // Not zero-filled: pieces overwrite every byte before the chunk is used.
    if (offset === 0) this.partials.set(index, { buffer: chunkBuffers.take(size), received: 0 })
    const partial = this.partials.get(index)
    if (partial === undefined) return undefined
    if (offset !== partial.received) throw new ProtocolError(`chunk ${index}: piece at ${offset}, expected ${partial.received}`)
    if (offset + piece.byteLength > size) throw new ProtocolError(`chunk ${index}: pieces overrun its ${size} bytes`)
    copyInto(partial.buffer, piece, offset)
    partial.received += piece.byteLength
    if (partial.received < size) return undefined
    this.partials.delete(index)
    return partial.buffer
  }

  /** Forget the session and everything it told us. */
  disconnect (): void {
    this.session = undefined
    this.remoteHave = undefined
    this.pendingBits = undefined
    this.knowsManifest = false
    this.requested.clear()
    this.rejected.clear()
    this.partials.clear()
  }
}

function copyInto (target: Uint8Array, source: Uint8Array | Uint8ArrayList, offset: number): void {
  if (source instanceof Uint8Array) {
    target.set(source, offset)
    return
  }
  for (const buf of source) {
    target.set(buf, offset)
    offset += buf.byteLength
  }
}
