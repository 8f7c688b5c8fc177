import { ProtocolError } from '../core/index.ts'

/** A fixed-length set of chunk indices, one bit each (bit 7 of byte 0 is index 0). */
export class Bitfield {
  readonly length: number
  readonly bytes: Uint8Array
  #count = 0

  constructor (length: number, bytes?: Uint8Array) {
    this.length = length
    this.bytes = bytes ?? new Uint8Array(Math.ceil(length / 8))
    if (bytes !== undefined) this.#count = countBits(bytes, length)
  }

  /**
   * Decode a bitfield received from a peer.
   * @throws {ProtocolError} when the byte length does not match or padding bits are set
   */
  static decode (length: number, bytes: Uint8Array): Bitfield {
    if (bytes.byteLength !== Math.ceil(length / 8)) {
      throw new ProtocolError(`bitfield of ${bytes.byteLength} bytes for ${length} chunks`)
    }
    const padding = bytes.byteLength * 8 - length
    if (padding > 0 && (bytes[bytes.byteLength - 1]! & ((1 << padding) - 1)) !== 0) {
      throw new ProtocolError('bitfield has padding bits set')
    }
    return new Bitfield(length, Uint8Array.from(bytes))
  }

  /** A bitfield with every index set. */
  static full (length: number): Bitfield {
    const field = new Bitfield(length)
    for (let i = 0; i < length; i++) field.set(i)
    return field
  }

  get count (): number { return this.#count }
  get complete (): boolean { return this.#count === this.length }

  has (index: number): boolean {
    if (index < 0 || index >= this.length) return false
    return (this.bytes[index >> 3]! & (0x80 >> (index & 7))) !== 0
  }

  /** Set an index; returns false when it was already set. */
  set (index: number): boolean {
    this.#checkIndex(index)
    if (this.has(index)) return false
    this.bytes[index >> 3]! |= 0x80 >> (index & 7)
    this.#count++
    return true
  }

  #checkIndex (index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) {
      throw new ProtocolError(`chunk index ${index} out of range 0..${this.length - 1}`)
    }
  }
}

function countBits (bytes: Uint8Array, length: number): number {
  let count = 0
  for (let i = 0; i < length; i++) {
    if ((bytes[i >> 3]! & (0x80 >> (i & 7))) !== 0) count++
  }
  return count
}
