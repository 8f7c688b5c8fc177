import test from 'ava'
import { decodeFrame, encodeFrame, FrameType, type Frame } from '../../src/chunks/frames.ts'
import { Bitfield } from '../../src/chunks/bitfield.ts'

test('every frame type survives an encode/decode round trip', t => {
  const frames: Frame[] = [
    { type: FrameType.WANT, manifestCid: 'bagaaiera' },
    { type: FrameType.HAVE_MAP, known: true, bits: Uint8Array.of(0xf0) },
    { type: FrameType.HAVE_MAP, known: false, bits: new Uint8Array(0) },
    { type: FrameType.HAVE_MAP, known: true, bits: Uint8Array.of(0x0f), origin: true },
    { type: FrameType.HAVE_MAP, known: true, bits: Uint8Array.of(0x0f), origin: true, choked: true },
    { type: FrameType.HAVE_MAP, known: true, bits: Uint8Array.of(0x01), choked: true },
    { type: FrameType.HAVE_MAP, known: true, bits: Uint8Array.of(0x03), origin: true, reserved: true },
    { type: FrameType.HAVE, index: 7 },
    { type: FrameType.REQUEST, index: 0xfffffffe },
    { type: FrameType.CANCEL, index: 3 },
    { type: FrameType.DATA, index: 2, offset: 65536, data: Uint8Array.of(1, 2, 3) },
    { type: FrameType.REJECT, index: 9 },
    { type: FrameType.MANIFEST_REQUEST },
    { type: FrameType.MANIFEST_DATA, data: Uint8Array.of(9, 9) }
  ]
  for (const frame of frames) t.deepEqual(decodeFrame(encodeFrame(frame)), frame)
})

test('malformed frames are refused with ProtocolError', t => {
  const bad = [
    new Uint8Array(0),
    Uint8Array.of(99),
    Uint8Array.of(FrameType.REQUEST, 0, 0),
    Uint8Array.of(FrameType.REQUEST, 0, 0, 0, 1, 5),
    Uint8Array.of(FrameType.WANT),
    Uint8Array.of(FrameType.HAVE_MAP, 2),
    Uint8Array.of(FrameType.HAVE_MAP, 0, 0xff),
    Uint8Array.of(FrameType.HAVE_MAP, 4, 0xff),
    Uint8Array.of(FrameType.HAVE_MAP, 6, 0xff),
    Uint8Array.of(FrameType.HAVE_MAP, 8, 0xff),
    Uint8Array.of(FrameType.HAVE_MAP, 17, 0xff),
    Uint8Array.of(FrameType.HAVE_MAP),
    Uint8Array.of(FrameType.MANIFEST_REQUEST, 1),
    Uint8Array.of(FrameType.DATA, 0, 0, 0, 1, 0, 0, 0, 0),
    Uint8Array.of(FrameType.WANT, ...new Uint8Array(200).fill(97))
  ]
  for (const bytes of bad) t.is(t.throws(() => decodeFrame(bytes))?.name, 'ProtocolError', `frame ${Array.from(bytes.slice(0, 4))}`)
})

test('bitfield: set, count, encode and strict decode', t => {
  const field = new Bitfield(10)
  t.true(field.set(0))
  t.false(field.set(0))
  field.set(9)
  t.is(field.count, 2)
  t.false(field.complete)
  t.true(Bitfield.decode(10, field.bytes).has(9))
  t.false(Bitfield.decode(10, field.bytes).has(5))
  t.is(t.throws(() => Bitfield.decode(10, Uint8Array.of(0)))?.name, 'ProtocolError')
  t.is(t.throws(() => Bitfield.decode(10, Uint8Array.of(0, 0xff)))?.name, 'ProtocolError', 'padding bits must be clear')
  t.is(t.throws(() => field.set(10))?.name, 'ProtocolError')
  t.true(Bitfield.full(10).complete)
})
