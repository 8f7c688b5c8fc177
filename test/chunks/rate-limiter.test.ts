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
