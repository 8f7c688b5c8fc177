import test, { type ExecutionContext } from 'ava'
import type { Connection, Logger, Stream } from '@libp2p/interface'
import { ConnectionLiveness, idleStreamMs, RTT_REFRESH_INTERVALS } from '../../src/node/liveness.ts'

/**
 * A connection whose ping streams echo while `answering` (new streams then
 * fail to open, and open ones end at the next ping); records aborts and the
 * streams opened.
 */
function fakeConnection (): { conn: Connection, answering: boolean, aborted: Error[], streamsOpened: number } {
  const state = { answering: true, aborted: [] as Error[], streamsOpened: 0, conn: undefined as unknown as Connection }
  const conn = {
    status: 'open',
    remotePeer: { toString: () => 'peer' },
    rtt: undefined as number | undefined,
    newStream: async () => {
      if (!state.answering) throw new Error('no answer')
      state.streamsOpened++
      return fakePingStream(state)
    },
    abort: (err: Error) => { state.aborted.push(err); conn.status = 'closed' }
  }
  state.conn = conn as unknown as Connection
  return state
}

/** A ping stream echoing each send while `state.answering`; a send without an answer ends it. */
function fakePingStream (state: { answering: boolean }): unknown {
  const echoes: Array<Uint8Array | undefined> = []
  let wake: (() => void) | undefined
  const stream = {
    status: 'open', readStatus: 'readable', writeStatus: 'writable', remoteWriteStatus: 'writable',
    send: (bytes: Uint8Array) => { echoes.push(state.answering ? bytes : undefined); wake?.(); return true },
    close: async () => { stream.status = 'closed' },
    abort: () => { stream.status = 'aborted'; echoes.push(undefined); wake?.() },
    async * [Symbol.asyncIterator] () {
      while (true) {
        while (echoes.length === 0) await new Promise<void>(resolve => { wake = resolve })
        const echo = echoes.shift()
        if (echo === undefined) { stream.readStatus = 'closed'; return }
        yield echo
      }
    }
  }
  return stream
}

const quiet = Object.assign(() => {}, { error: () => {}, trace: () => {}, newScope: () => quiet, enabled: false }) as unknown as Logger

function monitor (conns: Connection[], maxFailures = 3): ConnectionLiveness {
  return new ConnectionLiveness({ getConnections: () => conns, logger: { forComponent: () => quiet } }, { intervalMs: 60_000, timeoutMs: 1_000, maxFailures })
}

test('an answered ping records the RTT and keeps the connection', async t => {
  const fake = fakeConnection()
  const liveness = monitor([fake.conn])
  await liveness.check()
  t.is(typeof fake.conn.rtt, 'number')
  t.is(liveness.failuresOf(fake.conn), 0)
  t.deepEqual(fake.aborted, [])
})

test('pings of a connection share one stream; one that ended is replaced', async t => {
  const fake = fakeConnection()
  const liveness = monitor([fake.conn])
  await liveness.check()
  await liveness.check()
  await liveness.check()
  t.is(fake.streamsOpened, 1, 'three pings, one stream')
  fake.answering = false
  await liveness.check()
  t.is(liveness.failuresOf(fake.conn), 1, 'the kept stream ended without an echo, and no new one opened')
  fake.answering = true
  await liveness.check()
  t.is(liveness.failuresOf(fake.conn), 0)
  t.is(fake.streamsOpened, 2, 'the ended stream was replaced')
})

test('a connection is aborted only after maxFailures unanswered pings in a row', async t => {
  const fake = fakeConnection()
  const liveness = monitor([fake.conn], 3)
  fake.answering = false
  await liveness.check()
  await liveness.check()
  t.is(liveness.failuresOf(fake.conn), 2)
  t.deepEqual(fake.aborted, [], 'two late pings: still connected')
  fake.answering = true
  await liveness.check()
  t.is(liveness.failuresOf(fake.conn), 0, 'an answer clears the count')
  fake.answering = false
  for (let i = 0; i < 3; i++) await liveness.check()
  t.is(fake.aborted.length, 1)
  t.is(fake.conn.status, 'closed')
})

test('a connection is first pinged an interval after the monitor saw it', async t => {
  const fake = fakeConnection()
  const liveness = monitor([fake.conn])
  await liveness.check(0)
  t.is(fake.conn.rtt, undefined, 'not due when first seen')
  await liveness.check(30_000)
  t.is(fake.conn.rtt, undefined)
  await liveness.check(60_000)
  t.is(typeof fake.conn.rtt, 'number')
})

/** A monitor whose one connection's first ping, due at 60 s, went unanswered. */
async function failedOnce (t: ExecutionContext): Promise<{ fake: ReturnType<typeof fakeConnection>, liveness: ConnectionLiveness }> {
  const fake = fakeConnection()
  const liveness = monitor([fake.conn])
  await liveness.check(0)
  fake.answering = false
  await liveness.check(60_000)
  t.is(liveness.failuresOf(fake.conn), 1)
  return { fake, liveness }
}

test('after a failed ping the next is due at once, not an interval later', async t => {
  const { fake, liveness } = await failedOnce(t)
  await liveness.check(61_000)
  t.is(liveness.failuresOf(fake.conn), 2, 'pinged again at the next check')
})

test('a ping from the peer counts as ours: the next is due an interval after it, and it clears failures', async t => {
  const { fake, liveness } = await failedOnce(t)
  liveness.heard(fake.conn, 61_000)
  t.is(liveness.failuresOf(fake.conn), 0, 'the peer is alive')
  fake.answering = true
  await liveness.check(100_000)
  t.is(fake.conn.rtt, undefined, 'not due: the peer pinged 39 s ago')
  await liveness.check(121_000)
  t.is(typeof fake.conn.rtt, 'number')
})

test('a node whose peer pings it often enough never pings that connection itself', async t => {
  const { createSwarmNode } = await import('../../src/node/index.ts')
  const base = { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false }
  const a = await createSwarmNode({ ...base, pingIntervalMs: 200, pingTimeoutMs: 200 })
  const b = await createSwarmNode({ ...base, pingIntervalMs: 2_000, pingTimeoutMs: 2_000 })
  t.teardown(async () => { await a.stop(); await b.stop() })
  await a.libp2p.dial(b.addresses()[0]!)
  // Each of a's pings puts 32 bytes on the protocol at each end; b, whose interval is 10 of a's, would have pinged twice by the time a pinged 25 times.
  while ((a.traffic()['/ipfs/ping/1.0.0'] ?? 0) < 25 * 32) await new Promise(resolve => setTimeout(resolve, 100))
  t.is(typeof a.libp2p.getConnections()[0]?.rtt, 'number', 'a measured the RTT')
  t.is(b.libp2p.getConnections()[0]?.rtt, undefined, 'b never pinged: it heard a')
  t.true((b.traffic()['/ipfs/ping/1.0.0'] ?? 0) >= 20 * 32, 'b echoed a\'s pings')
  const pingStreams = a.libp2p.getConnections()[0]!.streams.filter(s => s.protocol === '/ipfs/ping/1.0.0')
  t.is(pingStreams.length, 1, 'a kept one ping stream open for all its pings')
})

test('a connection that read from its peer within the interval is pinged only every RTT_REFRESH_INTERVALS intervals', async t => {
  const fake = fakeConnection()
  let lastRead: number | undefined
  const liveness = new ConnectionLiveness({ getConnections: () => [fake.conn], logger: { forComponent: () => quiet } }, { intervalMs: 60_000, timeoutMs: 1_000, maxFailures: 3, lastReadAt: () => lastRead })
  await liveness.check(0)
  lastRead = 59_000
  await liveness.check(60_000)
  t.is(fake.conn.rtt, undefined, 'data 1 s ago: alive, no ping')
  lastRead = 120_000 - 61_000
  await liveness.check(120_000)
  t.is(typeof fake.conn.rtt, 'number', 'nothing read for over an interval: pinged')
  fake.conn.rtt = undefined
  for (const now of [180_000, 240_000, 300_000]) {
    lastRead = now - 1_000
    await liveness.check(now)
  }
  t.is(fake.conn.rtt, undefined, 'reading all along: no ping for three intervals')
  lastRead = 359_000
  await liveness.check(360_000)
  t.is(typeof fake.conn.rtt, 'number', `pinged ${RTT_REFRESH_INTERVALS} intervals after the last ping, for its RTT`)
})

test('the answering end aborts a ping stream nobody pinged for idleStreamMs', async t => {
  let answer: ((stream: Stream, conn: Connection) => Promise<void>) | undefined
  const host = { getConnections: () => [], logger: { forComponent: () => quiet }, handle: async (_: string, handler: unknown) => { answer = handler as typeof answer }, unhandle: async () => {} }
  const liveness = new ConnectionLiveness(host, { intervalMs: 20, timeoutMs: 20, maxFailures: 3 })
  await liveness.start()
  t.teardown(async () => { await liveness.stop() })
  let aborted: Error | undefined
  let wake: (() => void) | undefined
  const echoed: Uint8Array[] = []
  const stream = {
    send: (bytes: Uint8Array) => { echoed.push(bytes); return true },
    close: async () => {},
    abort: (err: Error) => { aborted ??= err; wake?.() },
    async * [Symbol.asyncIterator] () {
      yield new Uint8Array(32)
      await new Promise<void>(resolve => { wake = resolve })
      if (aborted !== undefined) throw aborted
    }
  }
  const started = performance.now()
  await answer!(stream as unknown as Stream, fakeConnection().conn)
  t.is(echoed.length, 1, 'the ping was echoed')
  t.is(aborted?.message, 'ping stream idle')
  t.true(performance.now() - started >= idleStreamMs(20) - 5, 'not before the idle time')
})
