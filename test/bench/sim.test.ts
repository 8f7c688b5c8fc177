import test from 'ava'
import { EventQueue } from '../../bench/sim/events.ts'
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
