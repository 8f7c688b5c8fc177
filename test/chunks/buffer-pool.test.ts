import test from 'ava'
import { BufferPool } from '../../src/chunks/buffer-pool.ts'

test('a buffer given back is handed out again, at the size asked, in its capacity class', t => {
  const pool = new BufferPool(1024 * 1024)
  const first = pool.take(200_000)
  t.is(first.byteLength, 200_000)
  t.is(first.buffer.byteLength, 256 * 1024)
  pool.give(first)
  t.is(pool.pooledBytes, 256 * 1024)
  t.is(pool.take(10).buffer.byteLength, 64 * 1024, 'another class: a new buffer')
  const second = pool.take(150_000)
  t.is(second.buffer, first.buffer)
  t.is(second.byteLength, 150_000)
  t.is(pool.pooledBytes, 0)
})

test('keeps at most maxBytes, and never a view it did not hand out whole', t => {
  const pool = new BufferPool(128 * 1024)
  const a = pool.take(64 * 1024)
  const b = pool.take(64 * 1024)
  const c = pool.take(64 * 1024)
  pool.give(a)
  pool.give(b)
  pool.give(c)
  t.is(pool.pooledBytes, 128 * 1024)
  const other = new BufferPool(1024 * 1024)
  other.give(pool.take(64 * 1024).subarray(1))
  other.give(Buffer.from('a small Buffer lives in a slice of a shared pool'))
  other.give(new Uint8Array(100_000))
  t.is(other.pooledBytes, 0)
})
