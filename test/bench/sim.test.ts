import test from 'ava'
import { ChunkTable, COPIES, COPY } from '../../bench/sim/chunks.ts'
import { DelayLine } from '../../bench/sim/delay-line.ts'
import { EventQueue } from '../../bench/sim/events.ts'
import { NodeTable } from '../../bench/sim/nodes.ts'
import { BITS, FETCHER, FETCHER_SLOT, INDEX, RequestTable, SINCE } from '../../bench/sim/requests.ts'
import { TimerHeap } from '../../bench/sim/timers.ts'
import { buildTopology } from '../../bench/sim/topology.ts'
import { xorshift32 } from '../../src/core/index.ts'

test('the event queue pops in time order with each event\'s arguments, growing as needed', t => {
  const queue = new EventQueue()
  const next = xorshift32(5)
  const times = Array.from({ length: 5_000 }, () => next() % 100_000)
  times.forEach((time, i) => { queue.push(time, i % 7, i, 3 * i, 2 * i) })
  t.is(queue.size, 5_000)
  let last = -Infinity
  const seen = new Set<number>()
  while (queue.pop()) {
    t.true(queue.time >= last)
    last = queue.time
    t.is(times[queue.a], queue.time)
    t.deepEqual([queue.kind, queue.b, queue.c], [queue.a % 7, 3 * queue.a, 2 * queue.a])
    seen.add(queue.a)
  }
  t.is(seen.size, 5_000)
  t.false(queue.pop())
})

test('random topology: agents have the degree asked for, links are listed at both ends, the origin has its share', t => {
  const random = ((next) => () => next() / 2 ** 32)(xorshift32(9))
  const net = buildTopology(2_000, 8, 50, random)
  const degrees: number[] = []
  for (let n = 0; n < net.nodes; n++) {
    for (let s = net.start[n]!; s < net.start[n + 1]!; s++) {
      const other = net.neighbour[s]!
      t.not(other, n)
      if (net.neighbour[net.start[other]! + net.reverse[s]!] !== n) t.fail(`link ${n}-${other} not mirrored`)
    }
    degrees.push(net.start[n + 1]! - net.start[n]!)
  }
  t.is(degrees[0], 50)
  const agents = degrees.slice(1)
  const exact = agents.filter(d => d === 8 || d === 9).length
  t.true(exact >= 1_900, `${exact} of 2000 agents have 8 or 9 links (one more if the origin picked them)`)
  t.true(Math.min(...agents) >= 6, `fewest links ${Math.min(...agents)}`)
})

test('timer heap: one timer per key, moved in place, popped in time order', t => {
  const timers = new TimerHeap(1_000)
  const next = xorshift32(11)
  const due = new Map<number, number>()
  for (let round = 0; round < 5_000; round++) {
    const key = next() % 1_000
    if (next() % 5 === 0) { timers.remove(key); due.delete(key); continue }
    const time = next() % 100_000
    timers.set(key, time)
    due.set(key, time)
  }
  t.is(timers.size, due.size)
  for (const [key, time] of due) t.is(timers.timeOf(key), time)
  let last = -Infinity
  while (timers.size > 0) {
    const key = timers.topKey
    const time = timers.topTime
    t.true(time >= last)
    t.is(due.get(key), time)
    due.delete(key)
    last = time
    timers.remove(key)
  }
  t.is(due.size, 0)
  t.is(timers.topTime, Infinity)
  t.is(timers.timeOf(3), Infinity)
})

test('delay line: events come out in order, a fixed delay after they were pushed, across growth and wrap-around', t => {
  const line = new DelayLine(7)
  let now = 0
  let pushed = 0
  let popped = 0
  const pushedAt: number[] = []
  const next = xorshift32(3)
  while (popped < 10_000) {
    const burst = next() % 40
    for (let i = 0; i < burst && pushed < 10_000; i++) {
      pushedAt.push(now)
      line.push(now, pushed, 2 * pushed, 3 * pushed++)
    }
    const take = next() % 40
    for (let i = 0; i < take && line.size > 0; i++) {
      const time = line.pop()
      t.is(line.a, popped)
      t.deepEqual([line.b, line.c], [2 * popped, 3 * popped])
      t.is(time, pushedAt[popped]! + 7)
      popped++
    }
    now += next() % 3
  }
  t.is(line.nextTime, Infinity)
})

test('delay line: a cancelled event still pops in its place, void (a = -1); cancelling one already popped changes nothing', t => {
  const line = new DelayLine(5)
  const numbers = Array.from({ length: 3_000 }, (_, i) => line.push(i, i))
  t.deepEqual(numbers.slice(0, 3), [0, 1, 2])
  line.pop()
  line.cancel(0)
  for (const n of [1, 1_500, 2_999]) line.cancel(n)
  const seen: number[] = []
  while (line.size > 0) { line.pop(); seen.push(line.a) }
  t.is(seen.length, 2_999)
  t.is(seen.filter(a => a < 0).length, 3)
  t.deepEqual([seen[0], seen[1_499], seen[2_998], seen[1]], [-1, -1, -1, 2])
})

test('chunk table: requests listed per chunk, chunks iterated in the order first asked, as a Map would be', t => {
  const nodes = new NodeTable(3, 10, 2, 64)
  const requests = new RequestTable(4)
  const ids = Array.from({ length: 2_000 }, (_, i) => String(i))
  const table = new ChunkTable(nodes, requests, 10, ids)
  const map = new Map<number, number[]>()
  const next = xorshift32(8)
  const live: number[] = []
  const slotOf = new Map<number, number>()
  for (let round = 0; round < 2_000; round++) {
    if (live.length > 0 && next() % 2 === 0) {
      const r = live.splice(next() % live.length, 1)[0]!
      const index = requests.i32[16 * r + INDEX]!
      t.is(table.take(2, index, slotOf.get(r)!), r)
      requests.free(r)
      const list = map.get(index)!
      list.splice(list.indexOf(slotOf.get(r)!), 1)
      if (list.length === 0) map.delete(index)
    } else {
      const r = requests.alloc()
      const index = next() % 10
      requests.i32[16 * r + FETCHER] = 2
      requests.i32[16 * r + INDEX] = index
      requests.i32[16 * r + FETCHER_SLOT] = round
      requests.i32[16 * r + BITS] = 0
      requests.f64[8 * r + SINCE] = round
      slotOf.set(r, round)
      live.push(r)
      table.add(r)
      map.set(index, [...(map.get(index) ?? []), round])
    }
    table.setNode(2, 0)
    const seen: Array<[number, number[]]> = []
    table.forEach((list, index) => seen.push([index, list.map(r => Number(r.peer))]))
    t.deepEqual(seen, [...map].map(([index, list]) => [index, list]))
    t.is(table.size, map.size)
    for (let i = 0; i < 10; i++) {
      t.is(table.has(i), map.has(i))
      t.is((nodes.i32[2 * nodes.stride + nodes.state + i]! & COPIES) / COPY, map.get(i)?.length ?? 0)
    }
    for (let j = 0; j < table.countOf(2); j++) {
      const list = map.get(table.keyAt(2, j))!
      t.is(table.newestAt(2, j), Math.max(...list), 'requests are made at their slot number')
      t.is(table.slotAt(2, j), list[0]!)
    }
  }
  t.is(requests.live, live.length)
  table.setNode(1, 0)
  t.is(table.size, 0)
  t.is(table.get(3), undefined)
  t.is(table.take(2, 3, 999_999), 0)
})

test('request records: numbered from 1, reused most recently freed first, fields kept across growth', t => {
  const requests = new RequestTable(2)
  const ids = Array.from({ length: 100 }, () => requests.alloc())
  t.deepEqual(ids, Array.from({ length: 100 }, (_, i) => i + 1))
  for (const r of ids) { requests.i32[16 * r + INDEX] = 3 * r; requests.f64[8 * r + SINCE] = r / 2 }
  requests.free(7)
  requests.free(40)
  t.is(requests.live, 98)
  t.is(requests.alloc(), 40)
  t.is(requests.alloc(), 7)
  t.is(requests.alloc(), 101)
  for (const r of ids) { t.is(requests.i32[16 * r + INDEX], 3 * r); t.is(requests.f64[8 * r + SINCE], r / 2) }
})
