import { FrameType, type Frame } from './frames.ts'
import type { FrameStream } from './frame-stream.ts'
import type { Share, ShareListener } from './share.ts'
import type { Chokeable } from './unchoke.ts'
import { Bitfield } from './bitfield.ts'
import type { ChunkStore } from './store.ts'
import type { TokenBucket } from './rate-limiter.ts'
import type { Semaphore } from './semaphore.ts'
import type { UploadBacklog } from './backlog.ts'
import { ProtocolError } from '../core/index.ts'

/** What a server session needs from the node that runs it. */
export interface ServerContext {
  readonly store: ChunkStore
  readonly bucket: TokenBucket
  readonly uploadSlots: Semaphore
  /** Requests one peer may have queued on one session. */
  readonly maxQueuedRequests: number
  /** Chunks accepted and not yet sent over all sessions of the node. */
  readonly backlog: UploadBacklog
  /** Count bytes uploaded (node-wide statistics). */
  readonly onUploaded: (bytes: number) => void
  /** Whether this peer is refused service (revoked, or caught cheating). */
  readonly isRefused: () => boolean
  /**
   * Manifests accepted and not yet sent, over all sessions. A request that
   * finds no room is not answered: its fetcher asks another holder after
   * `manifestTimeoutMs`. At the start of a deployment every agent asks the
   * origin, the only holder, at once: 50 manifests of 22 KB are 1.1 MB in
   * one burst, over a minute of a 16 KiB/s link.
   */
  readonly manifestBacklog: UploadBacklog
  /** Whether this peer is known to hold chunk `index` of package `cid` (what our own fetch of it heard). */
  readonly peerHas?: (cid: string, index: number) => boolean
}

/**
 * The serving end of one session: answers one peer's requests for the
 * chunks of one package, one chunk at a time, and keeps the peer's view of
 * what we have up to date.
 */
export class ServerSession implements ShareListener, Chokeable {
  readonly #frames: FrameStream
  readonly #share: Share
  readonly #ctx: ServerContext
  readonly #queue = new Set<number>()
  /** The chunk being sent; cleared by a CANCEL to stop it at the next piece. */
  #sending: number | undefined
  /** The next queued chunk's bytes, read while the current one goes out. */
  #prefetch: { index: number, bytes: Promise<Uint8Array> } | undefined
  readonly #abort = new AbortController()
  #pumping = false
  /** The origin serves this fetcher no chunks for now (see `Unchoker`). */
  #choked = false
  /** The chunks reserved for this fetcher's turn (Share.reserve); undefined: it is shown all we hold. */
  #offered: number[] | undefined

  constructor (frames: FrameStream, share: Share, ctx: ServerContext) {
    this.#frames = frames
    this.#share = share
    this.#ctx = ctx
  }

  /** Send our have-map, then serve until the peer closes or misbehaves. */
  async run (incoming: AsyncGenerator<Frame>): Promise<void> {
    this.#share.listeners.add(this)
    this.#choked = this.#share.unchoker?.join(this) === true
    if (this.#share.unchoker !== undefined && !this.#choked) this.#beginTurn()
    try {
      await this.#sendHaveMap()
      for await (const frame of incoming) this.#handle(frame)
    } finally {
      this.#share.listeners.delete(this)
      this.#endTurn()
      this.#share.unchoker?.leave(this)
      this.#abort.abort()
      for (const index of this.#queue) {
        this.#ctx.backlog.give(this.#sizeOf(index))
        this.#share.withdraw(index)
      }
      this.#queue.clear()
    }
  }

  get busy (): boolean {
    return this.#queue.size > 0 || this.#sending !== undefined
  }

  setChoked (choked: boolean): void {
    // A new turn after the first pass shows what the last one showed: nothing to say.
    if (!choked && !this.#choked && this.#offered === undefined && !this.#share.firstPass) return
    this.#choked = choked
    if (choked) this.#endTurn()
    else this.#beginTurn()
    this.#sendHaveMap().catch(err => { this.#frames.abort(err) })
  }

  onManifest (): void {
    this.#sendHaveMap().catch(err => { this.#frames.abort(err) })
  }

  onHave (share: Share, index: number): void {
    // A peer that holds the chunk gains nothing from hearing we have it, and on a slow
    // link each HAVE is a packet of its own (about 100 bytes on the wire).
    if (this.#ctx.peerHas?.(share.cid, index) === true) return
    this.#frames.send({ type: FrameType.HAVE, index }, this.#abort.signal).catch(err => { this.#frames.abort(err) })
  }

  #handle (frame: Frame): void {
    switch (frame.type) {
      case FrameType.REQUEST: this.#onRequest(frame.index); break
      case FrameType.CANCEL: this.#cancel(frame.index); break
      case FrameType.MANIFEST_REQUEST: this.#sendManifest().catch(err => { this.#frames.abort(err) }); break
      default: throw new ProtocolError(`frame type ${frame.type} not allowed from a fetcher`)
    }
  }

  #onRequest (index: number): void {
    const have = this.#share.have
    if (have === undefined || index >= have.length) throw new ProtocolError(`request for chunk ${index} out of range`)
    if (this.#queue.has(index)) return // asked twice: it is queued once, and holds one place in the backlog
    if (!have.has(index) || this.#choked || this.#ctx.isRefused() || this.#queue.size >= this.#ctx.maxQueuedRequests || this.#ctx.backlog.refuses() ||
        !this.#share.admit(index, performance.now())) {
      this.#reject(index)
      return
    }
    this.#ctx.backlog.take(this.#sizeOf(index))
    this.#queue.add(index)
    this.#share.unchoker?.asked(this)
    if (!this.#pumping) this.#pump().catch(err => { this.#frames.abort(err) })
  }

  /** Upload queued chunks in request order, holding one node-wide upload slot while sending. */
  async #pump (): Promise<void> {
    this.#pumping = true
    try {
      while (this.#queue.size > 0) {
        const index: number = this.#queue.values().next().value!
        const release = await this.#ctx.uploadSlots.acquire(this.#abort.signal)
        try {
          if (this.#queue.delete(index)) await this.#upload(index).finally(() => { this.#ctx.backlog.give(this.#sizeOf(index)) })
        } finally {
          release()
        }
      }
    } finally {
      this.#pumping = false
    }
  }

  async #upload (index: number): Promise<void> {
    let data: Uint8Array
    try {
      data = await this.#read(index)
    } catch {
      this.#share.withdraw(index)
      this.#reject(index)
      return
    }
    this.#prefetchNext()
    this.#sending = index
    let sent = 0
    try {
      sent = await this.#frames.sendData(index, data, this.#ctx.bucket, () => this.#sending !== index, this.#abort.signal)
    } finally {
      this.#sending = undefined
      if (sent < data.byteLength) this.#share.withdraw(index)
    }
    this.#share.uploadedBytes += sent
    this.#ctx.onUploaded(sent)
    if (sent === data.byteLength) this.#share.unchoker?.sent(this)
  }

  async #read (index: number): Promise<Uint8Array> {
    const prefetched = this.#prefetch
    this.#prefetch = undefined
    if (prefetched?.index === index) return await prefetched.bytes
    const ref = this.#share.manifest!.chunks[index]!
    return await this.#ctx.store.get(ref.cid, { signal: this.#abort.signal })
  }

  #prefetchNext (): void {
    const next: number | undefined = this.#queue.values().next().value
    if (next === undefined) return
    const bytes = this.#ctx.store.get(this.#share.manifest!.chunks[next]!.cid, { signal: this.#abort.signal })
    bytes.catch(() => {}) // a failed read is handled when the chunk's turn comes
    this.#prefetch = { index: next, bytes }
  }

  #cancel (index: number): void {
    if (this.#queue.delete(index)) {
      this.#ctx.backlog.give(this.#sizeOf(index))
      this.#share.withdraw(index)
    }
    if (this.#sending === index) this.#sending = undefined
  }

  #sizeOf (index: number): number {
    return this.#share.manifest!.chunks[index]!.size
  }

  #beginTurn (): void {
    this.#endTurn()
    this.#offered = this.#share.reserve(this.#share.unchoker!.turnChunks)
  }

  #endTurn (): void {
    if (this.#offered !== undefined) this.#share.release(this.#offered)
    this.#offered = undefined
  }

  /** What our HAVE_MAP shows: the chunks of this fetcher's turn, or all we hold. */
  #shown (): Bitfield | undefined {
    const have = this.#share.have
    if (have === undefined || this.#offered === undefined || this.#choked) return have
    const shown = new Bitfield(have.length)
    for (const index of this.#offered) shown.set(index)
    return shown
  }

  #reject (index: number): void {
    this.#frames.send({ type: FrameType.REJECT, index }, this.#abort.signal).catch(err => { this.#frames.abort(err) })
  }

  async #sendHaveMap (): Promise<void> {
    const have = this.#shown()
    const frame: Frame = have === undefined
      ? { type: FrameType.HAVE_MAP, known: false, bits: new Uint8Array(0) }
      : { type: FrameType.HAVE_MAP, known: true, bits: Uint8Array.from(have.bytes), origin: this.#share.origin, choked: this.#choked, reserved: this.#offered !== undefined && !this.#choked }
    await this.#frames.send(frame, this.#abort.signal)
  }

  async #sendManifest (): Promise<void> {
    if (this.#share.manifest === undefined) throw new ProtocolError('manifest requested before we announced it')
    const data = await this.#ctx.store.get(this.#share.cid, { signal: this.#abort.signal })
    const backlog = this.#ctx.manifestBacklog
    if (backlog.refuses()) return
    backlog.take(data.byteLength)
    try {
      await this.#ctx.bucket.take(data.byteLength, this.#abort.signal)
      await this.#frames.send({ type: FrameType.MANIFEST_DATA, data }, this.#abort.signal)
      this.#ctx.onUploaded(data.byteLength)
    } finally {
      backlog.give(data.byteLength)
    }
  }
}
