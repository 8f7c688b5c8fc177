import test from 'ava'
import * as lp from 'it-length-prefixed'
import { Uint8ArrayList } from 'uint8arraylist'
import type { Stream } from '@libp2p/interface'
import { FrameStream, PIECE_BYTES } from '../../src/chunks/frame-stream.ts'
import { decodeFrameList, FrameType, type Frame } from '../../src/chunks/frames.ts'
import { createTokenBucket } from '../../src/chunks/rate-limiter.ts'

/** A stream that records every write and never pushes back. */
function recordingStream (): { stream: Stream, writes: Uint8Array[] } {
  const writes: Uint8Array[] = []
  const stream = {
    send: (data: Uint8Array | Uint8ArrayList) => { writes.push(data.subarray()); return true },
    onDrain: async () => {}
  }
  return { stream: stream as unknown as Stream, writes }
}

async function framesIn (bytes: Uint8Array): Promise<Frame[]> {
  const frames: Frame[] = []
  for await (const list of lp.decode([bytes])) frames.push(decodeFrameList(list))
  return frames
}

test('control frames sent in one turn leave in one write, in order', async t => {
  const { stream, writes } = recordingStream()
  const frames = new FrameStream(stream, 1 << 20)
  await Promise.all([3, 1, 2].map(async index => { await frames.send({ type: FrameType.REQUEST, index }) }))
  t.is(writes.length, 1)
  t.deepEqual(await framesIn(writes[0]!), [3, 1, 2].map(index => ({ type: FrameType.REQUEST, index })))
  await frames.send({ type: FrameType.HAVE, index: 9 })
  t.is(writes.length, 2, 'a later turn: a write of its own')
})

test('a control frame sent while a chunk goes out rides with its next piece, ahead of it', async t => {
  const { stream, writes } = recordingStream()
  const frames = new FrameStream(stream, 4 << 20)
  const chunk = new Uint8Array(2 * PIECE_BYTES + 10).map((_, i) => i % 251)
  const bucket = createTokenBucket({ bytesPerSecond: Infinity })
  let sentHave = false
  const sending = frames.sendData(5, chunk, bucket, () => {
    if (!sentHave && writes.length === 1) {
      sentHave = true
      void frames.send({ type: FrameType.HAVE, index: 7 })
    }
    return false
  })
  t.is(await sending, chunk.byteLength)
  t.is(writes.length, 3, 'one write per piece, the HAVE inside the second')
  const decoded = (await Promise.all(writes.map(framesIn))).flat()
  t.deepEqual(decoded.map(f => f.type), [FrameType.DATA, FrameType.HAVE, FrameType.DATA, FrameType.DATA])
  const data = decoded.filter(f => f.type === FrameType.DATA).map(f => (f as { data: Uint8ArrayList }).data.subarray())
  t.deepEqual(new Uint8Array(Buffer.concat(data)), chunk)
})

test('under an upload limit a chunk leaves in pieces no larger than the limiter\'s burst', async t => {
  const { stream, writes } = recordingStream()
  const frames = new FrameStream(stream, 4 << 20)
  const chunk = new Uint8Array(40 * 1024).map((_, i) => i % 251)
  const bucket = createTokenBucket({ bytesPerSecond: 64 << 20, burstBytes: 16 * 1024 })
  t.is(await frames.sendData(2, chunk, bucket, () => false), chunk.byteLength)
  const decoded = (await Promise.all(writes.map(framesIn))).flat()
  t.deepEqual(decoded.map(f => (f as { offset: number }).offset), [0, 16 * 1024, 32 * 1024])
  const data = decoded.map(f => (f as { data: Uint8ArrayList }).data.subarray())
  t.deepEqual(new Uint8Array(Buffer.concat(data)), chunk)
})
