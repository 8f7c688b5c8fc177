import test from 'ava'
import { createLogBuffer } from '../../src/agent/log-buffer.ts'
import type { LogEntry } from '../../src/core/index.ts'

const line = (n: number): LogEntry => ({ Output: `line ${n}`, Error: false, LineNum: n, Time: 1 })

test('keeps the newest entries, oldest first, and counts the dropped ones', t => {
  const buffer = createLogBuffer(3)
  t.deepEqual(buffer.entries(), [])
  buffer.push(line(1))
  buffer.push(line(2))
  t.is(buffer.size, 2)
  t.is(buffer.dropped, 0)
  for (let n = 3; n <= 7; n++) buffer.push(line(n))
  t.is(buffer.size, 3)
  t.is(buffer.dropped, 4)
  t.deepEqual(buffer.entries().map(e => e.LineNum), [5, 6, 7])
  buffer.clear()
  t.is(buffer.size, 0)
  t.is(buffer.dropped, 0)
  buffer.push(line(8))
  t.deepEqual(buffer.entries().map(e => e.LineNum), [8])
})

test('a buffer of one holds the last entry', t => {
  const buffer = createLogBuffer(1)
  for (let n = 1; n <= 5; n++) buffer.push(line(n))
  t.deepEqual(buffer.entries().map(e => e.LineNum), [5])
  t.is(buffer.dropped, 4)
})

test('refuses a size that is not a positive integer', t => {
  for (const max of [0, -1, 1.5, Number.NaN]) {
    t.is(t.throws(() => createLogBuffer(max))?.name, 'InvalidOptionError')
  }
})
