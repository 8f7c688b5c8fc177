import test from 'ava'
import { withTypicalThroughput } from '../../src/chunks/typical-throughput.ts'
import type { PeerView } from '../../src/chunks/policy.ts'

function view (id: string, throughput?: number, banned = false): PeerView {
  return { id, has: () => true, inflight: 0, banned, ...(throughput === undefined ? {} : { throughput }) }
}

test('unmeasured peers are assumed to deliver at the median of the measured ones', t => {
  const views = [view('a', 1e6), view('b', 3e6), view('c', 2e6), view('new')]
  const shown = withTypicalThroughput(views)
  t.is(shown[3]!.assumedThroughput, 2e6)
  t.is(shown[3]!.throughput, undefined, 'still unmeasured, so it still gets only two requests')
  t.is(shown[3]!.id, 'new')
  t.is(shown[0], views[0], 'measured peers are passed through')
})

test('with fewer than three measured peers (banned ones not counted) nothing is assumed', t => {
  const views = [view('a', 1e6), view('b', 3e6), view('c', 9e9, true), view('new')]
  t.is(withTypicalThroughput(views), views)
  t.is(withTypicalThroughput([]).length, 0)
})
