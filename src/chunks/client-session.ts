import { FrameType, type Frame } from './frames.ts'
import type { FrameStream } from './frame-stream.ts'
import { ProtocolError } from '../core/index.ts'
import type { Uint8ArrayList } from 'uint8arraylist'

/** What a HAVE_MAP says (see `Frame`). */
export interface HaveMap {
  readonly known: boolean
  readonly bits: Uint8Array
  readonly origin: boolean
  readonly choked: boolean
  /** The chunks shown are reserved for this fetcher (see `Frame`). */
  readonly reserved: boolean
}

/** Callbacks through which a client session reports what its server says. */
export interface ClientSessionHandler {
  onHaveMap (peer: string, map: HaveMap): void
  onHave (peer: string, index: number): void
  /** One DATA piece: `data` holds bytes `offset…` of chunk `index`. */
  onData (peer: string, index: number, offset: number, data: Uint8Array | Uint8ArrayList): void
  onReject (peer: string, index: number): void
  onManifestData (peer: string, data: Uint8Array): void
  onClose (peer: string, err?: Error): void
}

/**
 * The fetching end of one session: sends WANT, then requests; reports every
 * frame from the server to the handler (the fetcher).
 */
export class ClientSession {
  readonly peer: string
  readonly #frames: FrameStream
  readonly #abort = new AbortController()

  constructor (peer: string, frames: FrameStream) {
    this.peer = peer
    this.#frames = frames
  }

  /** Say which package we want, then read until the stream ends. Never throws: errors end in `onClose`. */
  async run (manifestCid: string, handler: ClientSessionHandler): Promise<void> {
    let error: Error | undefined
    try {
      await this.#frames.send({ type: FrameType.WANT, manifestCid }, this.#abort.signal)
      for await (const frame of this.#frames.frames()) this.#dispatch(frame, handler)
    } catch (err) {
      error = err as Error
      this.#frames.abort(error)
    } finally {
      this.#abort.abort()
      handler.onClose(this.peer, error)
    }
  }

  request (index: number): void { this.#send({ type: FrameType.REQUEST, index }) }
  cancel (index: number): void { this.#send({ type: FrameType.CANCEL, index }) }
  requestManifest (): void { this.#send({ type: FrameType.MANIFEST_REQUEST }) }

  /** End the session politely (the server finishes what it is sending). */
  async close (): Promise<void> {
    await this.#frames.close()
  }

  /** End the session at once. */
  abort (err: Error): void {
    this.#frames.abort(err)
  }

  #send (frame: Frame): void {
    this.#frames.send(frame, this.#abort.signal).catch(err => { this.#frames.abort(err) })
  }

  #dispatch (frame: Frame, handler: ClientSessionHandler): void {
    switch (frame.type) {
      case FrameType.HAVE_MAP: handler.onHaveMap(this.peer, { known: frame.known, bits: frame.bits, origin: frame.origin === true, choked: frame.choked === true, reserved: frame.reserved === true }); break
      case FrameType.HAVE: handler.onHave(this.peer, frame.index); break
      case FrameType.DATA: handler.onData(this.peer, frame.index, frame.offset, frame.data); break
      case FrameType.REJECT: handler.onReject(this.peer, frame.index); break
      case FrameType.MANIFEST_DATA: handler.onManifestData(this.peer, frame.data); break
      default: throw new ProtocolError(`frame type ${frame.type} not allowed from a server`)
    }
  }
}
