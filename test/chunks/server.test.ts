import test from 'ava'
import { ServerSession, type ServerContext } from '../../src/chunks/server.ts'
import { UploadBacklog } from '../../src/chunks/backlog.ts'
import { Semaphore } from '../../src/chunks/semaphore.ts'
import { Share } from '../../src/chunks/share.ts'
import { Unchoker } from '../../src/chunks/unchoke.ts'
import { Bitfield } from '../../src/chunks/bitfield.ts'
import { createTokenBucket } from '../../src/chunks/rate-limiter.ts'
import { FrameType, type Frame } from '../../src/chunks/frames.ts'
import type { FrameStream } from '../../src/chunks/frame-stream.ts'
import type { ChunkStore } from '../../src/chunks/store.ts'
import type { Manifest } from '../../src/core/index.ts'

/** A session whose uploads never get a slot, so accepted requests stay queued; frames sent are recorded. */
function session (backlog: UploadBacklog, peerHas?: ServerContext['peerHas'], manifestGate?: Promise<void>, share = newShare()): { server: ServerSession, sent: Frame[], share: Share } {
  const sent: Frame[] = []
  const frames = {
    send: async (frame: Frame) => {
      sent.push(frame)
      if (frame.type === FrameType.MANIFEST_DATA) await manifestGate
    },
    sendData: async () => 0,
    abort: () => {},
    close: async () => {}
  } as unknown as FrameStream
  const ctx: ServerContext = {
    store: { get: async () => new Uint8Array(10) } as unknown as ChunkStore,
    bucket: createTokenBucket({ bytesPerSecond: Infinity }),
    uploadSlots: new Semaphore(0),
    maxQueuedRequests: 64,
    backlog,
    manifestBacklog: new UploadBacklog(Infinity, 5),
    onUploaded: () => {},
    isRefused: () => false,
    peerHas
  }
  return { server: new ServerSession(frames, share, ctx), sent, share }
}

/** A share of 4 chunks of which 3 are held. */
function newShare (): Share {
  const share = new Share('cid')
  const have = new Bitfield(4)
  for (let i = 0; i < 3; i++) have.set(i)
  share.setManifest({ chunks: [0, 1, 2, 3].map(i => ({ cid: `c${i}`, size: 10 })) } as unknown as Manifest, have)
  return share
}

const request = (index: number): Frame => ({ type: FrameType.REQUEST, index })

test('a request asked twice holds one place in the backlog; cancels and the session end give every place back', async t => {
  const backlog = new UploadBacklog(8)
  const { server } = session(backlog)
  async function * incoming (): AsyncGenerator<Frame> {
    yield request(0)
    yield request(0)
    yield request(1)
    yield request(2)
    t.is(backlog.queued, 3)
    yield { type: FrameType.CANCEL, index: 2 }
    t.is(backlog.queued, 2)
  }
  await server.run(incoming())
  t.is(backlog.queued, 0)
})

test('beyond the backlog, requests are declined at once', async t => {
  const backlog = new UploadBacklog(2)
  const { server, sent } = session(backlog)
  async function * incoming (): AsyncGenerator<Frame> {
    yield request(0)
    yield request(1)
    yield request(2)
  }
  await server.run(incoming())
  t.deepEqual(sent.filter(f => f.type === FrameType.REJECT), [{ type: FrameType.REJECT, index: 2 }])
  t.is(backlog.queued, 0)
})

test('a byte-bounded backlog declines once more than its bound waits ahead, whatever the size of the chunk asked for', async t => {
  const tight = new UploadBacklog(8, 15)
  const { server, sent } = session(tight)
  async function * incoming (): AsyncGenerator<Frame> {
    yield request(0)
    yield request(1)
    yield request(2)
    t.is(tight.queuedBytes, 20)
  }
  await server.run(incoming())
  t.deepEqual(sent.filter(f => f.type === FrameType.REJECT), [{ type: FrameType.REJECT, index: 2 }], '20 bytes wait ahead of a third chunk')
  t.is(tight.queuedBytes, 0)
  const small = new UploadBacklog(8, 5)
  t.false(small.refuses(), 'an empty backlog takes a chunk larger than its bound')
  small.take(4)
  t.false(small.refuses(), 'with 4 bytes ahead, a chunk of any size fits')
  small.take(10)
  t.true(small.refuses())
})

test('a new chunk is announced to a peer unless it is known to hold it', async t => {
  const { server, sent, share } = session(new UploadBacklog(8), (cid, index) => cid === 'cid' && index === 3)
  async function * incoming (): AsyncGenerator<Frame> {
    share.markHave(3)
    await Promise.resolve()
  }
  await server.run(incoming())
  t.deepEqual(sent.filter(f => f.type === FrameType.HAVE), [], 'the peer holds chunk 3')
  const other = session(new UploadBacklog(8), () => false)
  async function * again (): AsyncGenerator<Frame> {
    other.share.markHave(3)
    await Promise.resolve()
  }
  await other.server.run(again())
  t.deepEqual(other.sent.filter(f => f.type === FrameType.HAVE), [{ type: FrameType.HAVE, index: 3 }])
})

test('manifests beyond the manifest backlog are left unanswered', async t => {
  let release!: () => void
  const gate = new Promise<void>(resolve => { release = resolve })
  const { server, sent } = session(new UploadBacklog(8), undefined, gate)
  async function * incoming (): AsyncGenerator<Frame> {
    yield { type: FrameType.MANIFEST_REQUEST }
    await new Promise(resolve => setTimeout(resolve, 10))
    yield { type: FrameType.MANIFEST_REQUEST }
    await new Promise(resolve => setTimeout(resolve, 10))
    t.is(sent.filter(f => f.type === FrameType.MANIFEST_DATA).length, 1, 'a 10-byte manifest waiting is more than the 5-byte bound ahead of the next')
    release()
    await new Promise(resolve => setTimeout(resolve, 10))
    yield { type: FrameType.MANIFEST_REQUEST }
    await new Promise(resolve => setTimeout(resolve, 10))
    t.is(sent.filter(f => f.type === FrameType.MANIFEST_DATA).length, 2, 'room again once it went out')
  }
  await server.run(incoming())
})

test('an origin serving one fetcher at a time tells the second it is choked, declines its requests, and serves it once the first leaves', async t => {
  const share = newShare()
  share.unchoker = new Unchoker({ slots: 1, turnChunks: 4, idleMs: 60_000, checkMs: 60_000 })
  const first = session(new UploadBacklog(8), undefined, undefined, share)
  const second = session(new UploadBacklog(8), undefined, undefined, share)
  const firstDone = Promise.withResolvers<void>()
  async function * firstIncoming (): AsyncGenerator<Frame> { await firstDone.promise }
  const firstRun = first.server.run(firstIncoming())
  const secondDone = Promise.withResolvers<void>()
  async function * secondIncoming (): AsyncGenerator<Frame> {
    yield request(0)
    firstDone.resolve()
    await firstRun
    yield request(1)
    await secondDone.promise
  }
  const secondRun = second.server.run(secondIncoming())
  await firstRun
  const haveMaps = (): Frame[] => second.sent.filter(f => f.type === FrameType.HAVE_MAP)
  t.like(first.sent[0], { type: FrameType.HAVE_MAP, choked: false })
  t.like(haveMaps()[0], { type: FrameType.HAVE_MAP, choked: true })
  t.like(second.sent[1], { type: FrameType.REJECT, index: 0 })
  t.like(haveMaps()[1], { type: FrameType.HAVE_MAP, choked: false })
  secondDone.resolve()
  await secondRun
  t.false(second.sent.some(f => f.type === FrameType.REJECT && f.index === 1), 'served once unchoked')
  t.is(share.unchoker.served, 0)
})
