import { ProtocolError } from '../core/index.ts'
import type { Uint8ArrayList } from 'uint8arraylist'

/**
 * Frames of `/pollen/chunks/1.0.0`. Each is length-prefixed (unsigned varint)
 * on the stream; the first byte is the frame type.
 *
 * A session is one stream per (fetcher, server, manifest), opened by the
 * fetcher. The fetcher sends WANT first; the server answers with HAVE_MAP
 * (`known: false` while it does not know the manifest) and keeps the fetcher informed
 * with HAVE / HAVE_MAP as it gets more. The fetcher sends REQUEST / CANCEL /
 * MANIFEST_REQUEST; the server sends DATA / REJECT / MANIFEST_DATA.
 *
 * A chunk goes out as consecutive DATA pieces (offset 0 first, in order, no
 * other chunk's pieces in between), so control frames can slip in between
 * pieces and a CANCEL can stop a chunk half-way.
 */
export const FrameType = {
  WANT: 1,
  HAVE_MAP: 2,
  HAVE: 3,
  REQUEST: 4,
  CANCEL: 5,
  DATA: 6,
  REJECT: 7,
  MANIFEST_REQUEST: 8,
  MANIFEST_DATA: 9
} as const

export type Frame =
  | { type: typeof FrameType.WANT, manifestCid: string }
  /**
   * `origin`: the sender is the package's origin (see `PeerView.lastResort`).
   * `choked`: it serves this fetcher no chunks for now (see `Unchoker`); a
   * later HAVE_MAP without the flag lets it ask again.
   * `reserved`: the chunks shown are reserved for this fetcher's turn (see
   * `Share.reserve`): the sender shows them to no other fetcher meanwhile.
   */
  | { type: typeof FrameType.HAVE_MAP, known: boolean, bits: Uint8Array, origin?: boolean, choked?: boolean, reserved?: boolean }
  | { type: typeof FrameType.HAVE, index: number }
  | { type: typeof FrameType.REQUEST, index: number }
  | { type: typeof FrameType.CANCEL, index: number }
  | { type: typeof FrameType.DATA, index: number, offset: number, data: Uint8Array | Uint8ArrayList }
  | { type: typeof FrameType.REJECT, index: number }
  | { type: typeof FrameType.MANIFEST_REQUEST }
  | { type: typeof FrameType.MANIFEST_DATA, data: Uint8Array }

/** Longest CID string accepted in a WANT frame. */
const MAX_CID_CHARS = 128

/** Encode a frame without its length prefix. */
export function encodeFrame (frame: Frame): Uint8Array {
  switch (frame.type) {
    case FrameType.WANT: return withType(frame.type, new TextEncoder().encode(frame.manifestCid))
    case FrameType.HAVE_MAP: return withType(frame.type, concat(Uint8Array.of(haveMapFlags(frame)), frame.bits))
    case FrameType.MANIFEST_DATA: return withType(frame.type, frame.data)
    case FrameType.MANIFEST_REQUEST: return Uint8Array.of(frame.type)
    case FrameType.DATA: return concat(encodeDataHeader(frame.index, frame.offset), frame.data.subarray())
    default: return encodeIndexFrame(frame.type, frame.index)
  }
}

/** The first 9 bytes of a DATA frame (type, chunk index, offset in the chunk); the piece's bytes follow. */
export function encodeDataHeader (index: number, offset: number): Uint8Array {
  const bytes = new Uint8Array(9)
  bytes[0] = FrameType.DATA
  const view = new DataView(bytes.buffer)
  view.setUint32(1, index)
  view.setUint32(5, offset)
  return bytes
}

/**
 * Decode a frame straight from the received buffer list. A DATA frame keeps
 * its payload as a view into the list (no copy: the receiver copies it once,
 * into the chunk being assembled); other frames are decoded by {@link decodeFrame}.
 */
export function decodeFrameList (list: Uint8ArrayList): Frame {
  if (list.byteLength === 0 || list.get(0) !== FrameType.DATA) return decodeFrame(list.subarray())
  if (list.byteLength <= 9) throw new ProtocolError('malformed DATA frame')
  const header = list.subarray(1, 9)
  const view = new DataView(header.buffer, header.byteOffset, 8)
  return { type: FrameType.DATA, index: view.getUint32(0), offset: view.getUint32(4), data: list.sublist(9) }
}

/**
 * Decode one frame (without its length prefix).
 * @throws {ProtocolError} on an unknown type or a malformed body
 */
export function decodeFrame (bytes: Uint8Array): Frame {
  if (bytes.byteLength === 0) throw new ProtocolError('empty frame')
  const type = bytes[0]!
  const body = bytes.subarray(1)
  switch (type) {
    case FrameType.WANT: return { type, manifestCid: decodeCidText(body) }
    case FrameType.HAVE_MAP: return decodeHaveMap(body)
    case FrameType.MANIFEST_DATA: return { type, data: body }
    case FrameType.MANIFEST_REQUEST: return expectEmpty(body, { type })
    case FrameType.DATA: return decodeData(body)
    case FrameType.HAVE:
    case FrameType.REQUEST:
    case FrameType.CANCEL:
    case FrameType.REJECT:
      return { type, index: readIndex(body, true) }
    default: throw new ProtocolError(`unknown frame type ${type}`)
  }
}

function decodeData (body: Uint8Array): Frame {
  if (body.byteLength <= 8) throw new ProtocolError('malformed DATA frame')
  const view = new DataView(body.buffer, body.byteOffset, 8)
  return { type: FrameType.DATA, index: view.getUint32(0), offset: view.getUint32(4), data: body.subarray(8) }
}

/**
 * HAVE_MAP flag bits: the manifest is known (bits follow); the sender is the
 * package's origin; the sender serves this fetcher nothing for now; the
 * chunks shown are reserved for this fetcher. The last three need the first.
 */
const HAVE_MAP_KNOWN = 1
const HAVE_MAP_ORIGIN = 2
const HAVE_MAP_CHOKED = 4
const HAVE_MAP_RESERVED = 8
const HAVE_MAP_ALL = HAVE_MAP_KNOWN | HAVE_MAP_ORIGIN | HAVE_MAP_CHOKED | HAVE_MAP_RESERVED

function haveMapFlags (frame: { known: boolean, origin?: boolean, choked?: boolean, reserved?: boolean }): number {
  if (!frame.known) return 0
  return HAVE_MAP_KNOWN | (frame.origin === true ? HAVE_MAP_ORIGIN : 0) | (frame.choked === true ? HAVE_MAP_CHOKED : 0) |
    (frame.reserved === true ? HAVE_MAP_RESERVED : 0)
}

function decodeHaveMap (body: Uint8Array): Frame {
  const flag = body[0]
  if (flag === undefined || flag > HAVE_MAP_ALL || (flag !== 0 && (flag & HAVE_MAP_KNOWN) === 0)) {
    throw new ProtocolError('malformed HAVE_MAP frame')
  }
  if (flag === 0 && body.byteLength !== 1) throw new ProtocolError('HAVE_MAP for an unknown manifest has bits')
  return {
    type: FrameType.HAVE_MAP,
    known: flag !== 0,
    bits: body.subarray(1),
    ...((flag & HAVE_MAP_ORIGIN) !== 0 ? { origin: true } : {}),
    ...((flag & HAVE_MAP_CHOKED) !== 0 ? { choked: true } : {}),
    ...((flag & HAVE_MAP_RESERVED) !== 0 ? { reserved: true } : {})
  }
}

function encodeIndexFrame (type: number, index: number): Uint8Array {
  const bytes = new Uint8Array(5)
  bytes[0] = type
  new DataView(bytes.buffer).setUint32(1, index)
  return bytes
}

function readIndex (body: Uint8Array, exact = false): number {
  if (body.byteLength < 4 || (exact && body.byteLength !== 4)) throw new ProtocolError('malformed index frame')
  return new DataView(body.buffer, body.byteOffset, 4).getUint32(0)
}

function decodeCidText (body: Uint8Array): string {
  if (body.byteLength === 0 || body.byteLength > MAX_CID_CHARS) throw new ProtocolError('malformed WANT frame')
  return new TextDecoder().decode(body)
}

function expectEmpty<T> (body: Uint8Array, frame: T): T {
  if (body.byteLength !== 0) throw new ProtocolError('unexpected frame body')
  return frame
}

function withType (type: number, body: Uint8Array): Uint8Array {
  return concat(Uint8Array.of(type), body)
}

function concat (a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength)
  out.set(a, 0)
  out.set(b, a.byteLength)
  return out
}
