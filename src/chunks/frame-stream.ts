import * as lp from 'it-length-prefixed'
import * as varint from 'uint8-varint'
import type { Stream } from '@libp2p/interface'
import { encodeFrame, decodeFrameList, encodeDataHeader, type Frame } from './frames.ts'
import type { TokenBucket } from './rate-limiter.ts'
import { MessageTooLargeError } from '../core/index.ts'

/**
 * Bytes of chunk data per DATA piece: the grain at which the rate limiter
 * shares the link, control frames overtake data, and a CANCEL takes effect.
 */
export const PIECE_BYTES = 256 * 1024

/**
 * Frame-level view of a libp2p stream: serialised writes with backpressure
 * (and an optional upload rate limit for chunk data), and an async iterator
 * of decoded frames bounded by `maxFrameBytes`.
 */
export class FrameStream {
  readonly stream: Stream
  readonly #maxFrameBytes: number
  #writing: Promise<void> = Promise.resolve()
  /** Control frames waiting for the chunk being sent to reach a piece boundary. */
  #controls: Uint8Array[] = []
  #sendingData = false

  constructor (stream: Stream, maxFrameBytes: number) {
    this.stream = stream
    this.#maxFrameBytes = maxFrameBytes
  }

  /** Decoded frames until the remote closes; throws on malformed or oversized frames. */
  async * frames (): AsyncGenerator<Frame> {
    try {
      for await (const buf of lp.decode(this.stream, { maxDataLength: this.#maxFrameBytes })) {
        yield decodeFrameList(buf)
      }
    } catch (err) {
      if ((err as Error).name === 'InvalidDataLengthError') throw new MessageTooLargeError('frame over the size limit', { cause: err })
      throw err
    }
  }

  /**
   * Send a control frame. While a chunk is going out it jumps the queue and
   * leaves at the next piece boundary; otherwise it is queued in order.
   */
  async send (frame: Frame, signal?: AbortSignal): Promise<void> {
    const encoded = lp.encode.single(encodeFrame(frame)).subarray()
    if (this.#sendingData) {
      this.#controls.push(encoded)
      return
    }
    await this.#enqueue(async () => { await this.#write(encoded, signal) })
  }

  /**
   * Send one chunk as DATA pieces, taking `bucket` tokens for each, and stop
   * early when `cancelled()` turns true. Resolves with the chunk bytes sent.
   */
  async sendData (index: number, data: Uint8Array, bucket: TokenBucket, cancelled: () => boolean, signal?: AbortSignal): Promise<number> {
    let sent = 0
    await this.#enqueue(async () => {
      this.#sendingData = true
      try {
        for (let offset = 0; offset < data.byteLength && !cancelled(); offset += PIECE_BYTES) {
          const piece = data.subarray(offset, offset + PIECE_BYTES)
          await bucket.take(piece.byteLength, signal)
          await this.#flushControls(signal)
          await this.#write(pieceFrame(index, offset, piece), signal)
          sent += piece.byteLength
        }
      } finally {
        this.#sendingData = false
      }
      await this.#flushControls(signal)
    })
    return sent
  }

  async #flushControls (signal?: AbortSignal): Promise<void> {
    while (this.#controls.length > 0) await this.#write(this.#controls.shift()!, signal)
  }

  /** Close our writing end once queued frames are out. */
  async close (): Promise<void> {
    await this.#writing.catch(() => {})
    await this.stream.close().catch(() => { this.stream.abort(new Error('close failed')) })
  }

  abort (err: Error): void {
    this.stream.abort(err)
  }

  async #enqueue (job: () => Promise<void>): Promise<void> {
    const turn = this.#writing.then(job)
    this.#writing = turn.catch(() => {})
    await turn
  }

  async #write (bytes: Uint8Array, signal?: AbortSignal): Promise<void> {
    if (!this.stream.send(bytes)) await this.stream.onDrain({ signal })
  }
}

/**
 * A length-prefixed DATA frame in one buffer. The copy is cheaper than it
 * looks: handing the muxer a list of buffers instead makes the encryption
 * layer seal the tiny prefix and header as frames of their own.
 */
function pieceFrame (index: number, offset: number, piece: Uint8Array): Uint8Array {
  const header = encodeDataHeader(index, offset)
  const length = varint.encode(header.byteLength + piece.byteLength)
  const out = new Uint8Array(length.byteLength + header.byteLength + piece.byteLength)
  out.set(length, 0)
  out.set(header, length.byteLength)
  out.set(piece, length.byteLength + header.byteLength)
  return out
}
