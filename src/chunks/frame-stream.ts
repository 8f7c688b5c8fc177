import * as lp from 'it-length-prefixed'
import * as varint from 'uint8-varint'
import type { Stream } from '@libp2p/interface'
import { encodeFrame, decodeFrame, encodeDataHeader, type Frame } from './frames.ts'
import type { TokenBucket } from './rate-limiter.ts'
import { MessageTooLargeError } from '../core/index.ts'

/** Bytes of a DATA payload sent per rate-limiter grant, so concurrent uploads interleave smoothly. */
const SLICE_BYTES = 64 * 1024

/**
 * Frame-level view of a libp2p stream: serialised writes with backpressure
 * (and an optional upload rate limit for chunk data), and an async iterator
 * of decoded frames bounded by `maxFrameBytes`.
 */
export class FrameStream {
  readonly stream: Stream
  readonly #maxFrameBytes: number
  #writing: Promise<void> = Promise.resolve()

  constructor (stream: Stream, maxFrameBytes: number) {
    this.stream = stream
    this.#maxFrameBytes = maxFrameBytes
  }

  /** Decoded frames until the remote closes; throws on malformed or oversized frames. */
  async * frames (): AsyncGenerator<Frame> {
    try {
      for await (const buf of lp.decode(this.stream, { maxDataLength: this.#maxFrameBytes })) {
        yield decodeFrame(buf.subarray())
      }
    } catch (err) {
      if ((err as Error).name === 'InvalidDataLengthError') throw new MessageTooLargeError('frame over the size limit', { cause: err })
      throw err
    }
  }

  /** Queue a control frame; resolves once handed to the muxer. */
  async send (frame: Frame, signal?: AbortSignal): Promise<void> {
    const body = encodeFrame(frame)
    await this.#enqueue(async () => { await this.#write(lp.encode.single(body).subarray(), signal) })
  }

  /**
   * Send a DATA frame, taking `bucket` tokens slice by slice.
   * Resolves with the payload bytes sent.
   */
  async sendData (index: number, data: Uint8Array, bucket: TokenBucket, signal?: AbortSignal): Promise<number> {
    const header = encodeDataHeader(index)
    await this.#enqueue(async () => {
      await this.#write(concat(varint.encode(header.byteLength + data.byteLength), header), signal)
      for (let offset = 0; offset < data.byteLength; offset += SLICE_BYTES) {
        const slice = data.subarray(offset, offset + SLICE_BYTES)
        await bucket.take(slice.byteLength, signal)
        await this.#write(slice, signal)
      }
    })
    return data.byteLength
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

function concat (a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength)
  out.set(a, 0)
  out.set(b, a.byteLength)
  return out
}
