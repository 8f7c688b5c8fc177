/**
 * Chunk buffers for reuse. A fresh buffer of a few hundred KiB costs more
 * than the bytes put in it: the kernel maps and zeroes every page on first
 * touch (measured here: 0.9 ms per MiB, against 0.01 ms to fill a buffer
 * already used), and each received chunk needs one. Buffers come in
 * power-of-two capacities from {@link MIN_CAPACITY}; `take` hands out a view
 * of the size asked for, and `give` takes it back once nothing reads it.
 */

/** Smallest capacity handed out. */
const MIN_CAPACITY = 64 * 1024

export class BufferPool {
  readonly #maxBytes: number
  readonly #free = new Map<number, ArrayBuffer[]>()
  #pooledBytes = 0

  /** @param maxBytes most bytes kept for reuse; buffers given back beyond it are left to the collector */
  constructor (maxBytes: number) {
    this.#maxBytes = maxBytes
  }

  /** Bytes held for reuse. */
  get pooledBytes (): number { return this.#pooledBytes }

  /** A buffer of `size` bytes, not zero-filled, never a view of Node's shared pool. */
  take (size: number): Uint8Array {
    const capacity = capacityFor(size)
    const buffer = this.#free.get(capacity)?.pop()
    if (buffer === undefined) return new Uint8Array(Buffer.allocUnsafeSlow(capacity).buffer, 0, size)
    this.#pooledBytes -= capacity
    return new Uint8Array(buffer, 0, size)
  }

  /** Return a buffer from {@link take}; the caller must not touch it (or any view of it) afterwards. */
  give (view: Uint8Array): void {
    const buffer = view.buffer
    const capacity = buffer.byteLength
    if (!(buffer instanceof ArrayBuffer) || view.byteOffset !== 0 || capacity !== capacityFor(capacity)) return
    if (this.#pooledBytes + capacity > this.#maxBytes) return
    let list = this.#free.get(capacity)
    if (list === undefined) {
      list = []
      this.#free.set(capacity, list)
    }
    list.push(buffer)
    this.#pooledBytes += capacity
  }
}

function capacityFor (size: number): number {
  return Math.max(MIN_CAPACITY, 2 ** Math.ceil(Math.log2(Math.max(1, size))))
}

/** The chunk buffers of every fetch in this process: a received chunk is assembled in one and given back once stored. */
export const chunkBuffers = new BufferPool(16 * 1024 * 1024)
