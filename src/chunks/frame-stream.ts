import * as lp from 'it-length-prefixed'
import * as varint from 'uint8-varint'
import type { Stream } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import { encodeFrame, decodeFrameList, encodeDataHeader, type Frame } from './frames.ts'
import type { TokenBucket } from './rate-limiter.ts'
import { MessageTooLargeError } from '../core/index.ts'

/**
 * Bytes of chunk data per DATA piece: the grain at which the rate limiter
 * shares the link, control frames overtake data, and a CANCEL takes effect.
 * Under an upload limit a piece is at most the limiter's burst (see `sendData`).
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
  /** Control frames not yet written: waiting for their queued write, or for the chunk being sent to reach a piece boundary. */
  #controls: Uint8Array[] = []
  #sendingData = false
  /** The queued write that will carry the control frames sent meanwhile (undefined once it started). */
  #flush: Promise<void> | undefined

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
   * Control frames sent in the same turn (the requests of one policy run,
   * the HAVEs of one group commit) leave in one write: each write costs a
   * muxer frame, an encryption pass and a system call on both ends. A batch
   * is written under the signal of its first frame (a session passes the
   * same signal with every frame).
   */
  async send (frame: Frame, signal?: AbortSignal): Promise<void> {
    this.#controls.push(lp.encode.single(encodeFrame(frame)).subarray())
    if (this.#sendingData) return
    this.#flush ??= this.#enqueue(async () => {
      this.#flush = undefined
      if (this.#controls.length > 0) await this.#write(this.#takeControls(), signal)
    })
    await this.#flush
  }

  /**
   * Send one chunk as DATA pieces, taking `bucket` tokens for each, and stop
   * early when `cancelled()` turns true. Resolves with the chunk bytes sent.
   *
   * A piece is at most the bucket's burst: a whole 64 KiB chunk let through
   * at once leaves at the socket's pace and overflows a slow link's queue
   * (a 32 KiB/s link with a 64 KiB queue dropped 21 % of its packets, and
   * ACKs and pings queued seconds behind data), although the limit holds on
   * average.
   */
  async sendData (index: number, data: Uint8Array, bucket: TokenBucket, cancelled: () => boolean, signal?: AbortSignal): Promise<number> {
    const step = Math.min(PIECE_BYTES, bucket.burstBytes)
    let sent = 0
    await this.#enqueue(async () => {
      this.#sendingData = true
      try {
        for (let offset = 0; offset < data.byteLength && !cancelled(); offset += step) {
          const piece = data.subarray(offset, offset + step)
          await bucket.take(piece.byteLength, signal)
          await this.#write(pieceFrame(this.#takeControls(), index, offset, piece), signal)
          sent += piece.byteLength
        }
      } finally {
        this.#sendingData = false
      }
      if (this.#controls.length > 0) await this.#write(this.#takeControls(), signal)
    })
    return sent
  }

  /** The control frames waiting, in one buffer (empty when none). */
  #takeControls (): Uint8Array {
    const controls = this.#controls
    this.#controls = []
    if (controls.length === 1) return controls[0]!
    return concat(controls)
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

  async #write (bytes: Uint8Array | Uint8ArrayList, signal?: AbortSignal): Promise<void> {
    if (!this.stream.send(bytes)) await this.stream.onDrain({ signal })
  }
}

/**
 * Waiting control frames and a length-prefixed DATA frame, without copying
 * the piece: the muxer and the encryption layer below slice what they are
 * given as one byte stream, so the small head and the piece still leave in
 * the same encrypted messages.
 */
function pieceFrame (controls: Uint8Array, index: number, offset: number, piece: Uint8Array): Uint8ArrayList {
  const header = encodeDataHeader(index, offset)
  const length = varint.encode(header.byteLength + piece.byteLength)
  return new Uint8ArrayList(concat([controls, length, header]), piece)
}

function concat (parts: Uint8Array[]): Uint8Array {
  let size = 0
  for (const part of parts) size += part.byteLength
  const out = new Uint8Array(size)
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.byteLength
  }
  return out
}
