import { viewWith, type PeerView } from './policy.ts'

/** Measured peers needed before unmeasured ones are shown at their median throughput. */
const TYPICAL_THROUGHPUT_SAMPLES = 3

/**
 * Have the policy expect peers not yet measured to deliver at the median
 * throughput of the measured ones (once there are a few; see
 * PeerView.assumedThroughput), not at its optimistic default: with that
 * default every fetcher kept moving waiting requests to peers it had not yet
 * tried, and on a busy host, where every delivery looks slow, most moved
 * chunks then arrived twice.
 */
export function withTypicalThroughput (views: PeerView[]): PeerView[] {
  const measured: number[] = []
  for (const view of views) if (view.throughput !== undefined && !view.banned) measured.push(view.throughput)
  if (measured.length < TYPICAL_THROUGHPUT_SAMPLES || measured.length === views.length) return views
  measured.sort((a, b) => a - b)
  const typical = measured[measured.length >> 1]!
  return views.map(v => v.throughput !== undefined ? v : viewWith(v, { assumedThroughput: typical }))
}
