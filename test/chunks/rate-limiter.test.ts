import test from 'ava'
import { createTokenBucket } from '../../src/chunks/rate-limiter.ts'

test('a token bucket holds senders to its rate', async t => {
  const bucket = createTokenBucket({ bytesPerSecond: 1024 * 1024, burstBytes: 64 * 1024 })
  const start = performance.now()
  await Promise.all(Array.from({ length: 8 }, async () => {
    for (let i = 0; i < 4; i++) await bucket.take(16 * 1024)
  }))
  const elapsed = performance.now() - start
  // 512 KiB at 1 MiB/s with a 64 KiB burst cannot finish in under (512 - 64 - 16) / 1024 s
  t.true(elapsed >= 400, `took ${elapsed.toFixed(0)} ms`)
  t.is(bucket.taken, 512 * 1024)
})

test('an unlimited bucket never waits, and an aborted wait rejects with AbortError', async t => {
  const free = createTokenBucket({ bytesPerSecond: Infinity })
  await free.take(1e12)
  t.is(free.taken, 1e12)
  const slow = createTokenBucket({ bytesPerSecond: 1024, burstBytes: 1024 })
  await slow.take(1024 * 1024)
  const abort = new AbortController()
  const waiting = slow.take(1, abort.signal)
  abort.abort()
  t.is((await t.throwsAsync(waiting))?.name, 'AbortError')
})

test('bytes charged (the node\'s other traffic) put the bucket in debt: the next take waits for them', async t => {
  let now = 0
  const bucket = createTokenBucket({ bytesPerSecond: 1000, burstBytes: 1000, now: () => now })
  bucket.charge(3000)
  t.is(bucket.taken, 3000)
  const started = performance.now()
  const abort = new AbortController()
  const waiting = bucket.take(1, abort.signal)
  // 2 s of debt: the take is still waiting after a moment of real time.
  const first = await Promise.race([waiting.then(() => 'taken'), new Promise(resolve => setTimeout(resolve, 200, 'waiting'))])
  abort.abort()
  await t.throwsAsync(waiting)
  t.is(first, 'waiting', `resolved after ${(performance.now() - started).toFixed(0)} ms`)
  now = 2_000
  await bucket.take(1)
  t.is(bucket.taken, 3001)
})
