import test from 'ava'
import { peerQueueDepth, rarestFirst, type PeerView, type PolicyInput, type InflightRequest } from '../../src/chunks/policy.ts'
import { xorshift32 } from '../../src/core/index.ts'
import { referenceRarestFirst } from './policy-reference.ts'

const LIMITS = { maxInflightPerPeer: 2, targetQueueMs: 300, maxInflightTotal: 8, endgameChunks: 2, endgameCopies: 2 }

function peer (id: string, chunks: number[], extra: Partial<PeerView> = {}): PeerView {
  const set = new Set(chunks)
  return { id, has: i => set.has(i), inflight: 0, banned: false, ...extra }
}

function input (peers: PeerView[], overrides: Partial<PolicyInput> = {}): PolicyInput {
  const chunkSizes = overrides.chunkSizes ?? Array.from({ length: 6 }, () => 1000)
  return {
    chunkSizes,
    haveLocal: () => false,
    missing: chunkSizes.map((_, i) => i),
    inflight: new Map(),
    peers,
    limits: LIMITS,
    ...overrides
  }
}

const fixed = (): number => 0.5

test('asks for the rarest chunks first', t => {
  const peers = [peer('a', [0, 1, 2, 3]), peer('b', [0, 1, 2]), peer('c', [0, 1])]
  const requests = rarestFirst(input(peers, { missing: [0, 1, 2, 3] }), 0, fixed)
  t.deepEqual(requests.slice(0, 2).map(r => r.index), [3, 2])
  t.is(requests[0]!.peer, 'a')
})

test('breaks rarity ties at random, so fetchers spread over chunks', t => {
  const peers = [peer('a', [0, 1, 2, 3, 4, 5], { throughput: 1e6 })]
  const seen = new Set<number>()
  for (let seed = 0; seed < 20; seed++) {
    let x = seed
    const random = (): number => { x = (x * 9301 + 49297) % 233280; return x / 233280 }
    seen.add(rarestFirst(input(peers), 0, random)[0]!.index)
  }
  t.true(seen.size >= 3, `first choice varied over ${seen.size} chunks`)
})

test('respects the per-peer and total bounds', t => {
  const peers = [peer('a', [0, 1, 2, 3, 4, 5]), peer('b', [0, 1, 2, 3, 4, 5])]
  const requests = rarestFirst(input(peers, { limits: { ...LIMITS, maxInflightTotal: 3 } }), 0, fixed)
  t.is(requests.length, 3)
  for (const id of ['a', 'b']) t.true(requests.filter(r => r.peer === id).length <= 2)
  const busy = [peer('a', [0, 1, 2], { inflight: 2 }), peer('b', [0, 1, 2])]
  t.true(rarestFirst(input(busy), 0, fixed).every(r => r.peer === 'b'))
})

test('never asks a banned peer, nor for chunks held or in flight', t => {
  const inflight = new Map<number, InflightRequest[]>([[1, [{ peer: 'a', since: 0 }]]])
  const peers = [peer('a', [0, 1, 2, 3]), peer('bad', [0, 1, 2, 3, 4, 5], { banned: true })]
  const requests = rarestFirst(input(peers, { haveLocal: i => i === 0, inflight }), 0, fixed)
  t.deepEqual(requests.map(r => r.index).sort(), [2, 3])
  t.true(requests.every(r => r.peer === 'a'))
})

test('prefers the holder expected to deliver first (throughput, queue, RTT)', t => {
  const fast = peer('fast', [0], { throughput: 10e6, rttMs: 1 })
  const slow = peer('slow', [0], { throughput: 10e3, rttMs: 1 })
  t.is(rarestFirst(input([slow, fast], { missing: [0] }), 0, fixed)[0]!.peer, 'fast')
  const far = peer('far', [0], { throughput: 10e6, rttMs: 500 })
  const near = peer('near', [0], { throughput: 10e6, rttMs: 2 })
  t.is(rarestFirst(input([far, near], { missing: [0] }), 0, fixed)[0]!.peer, 'near')
})

test('end game duplicates only overdue requests for the last chunks, at another holder', t => {
  const peers = [peer('a', [0, 1], { inflight: 1, throughput: 1e6 }), peer('b', [0, 1], { throughput: 1e6 })]
  const inflight = new Map<number, InflightRequest[]>([[0, [{ peer: 'a', since: 0 }]]])
  const base = input(peers, { missing: [0], inflight })
  t.deepEqual(rarestFirst(base, 10, fixed), [], 'a fresh request is not duplicated')
  t.deepEqual(rarestFirst(base, 5_000, fixed), [{ index: 0, peer: 'b' }], 'an overdue one is')
  const many = input(peers, { missing: [0, 1, 2, 3], inflight: new Map([0, 1, 2, 3].map(i => [i, [{ peer: 'a', since: 0 }]])) })
  t.deepEqual(rarestFirst(many, 5_000, fixed), [], 'no end game while many chunks are missing')
})

test('returns nothing when no peer has what is missing', t => {
  t.deepEqual(rarestFirst(input([peer('a', [])]), 0, fixed), [])
  t.deepEqual(rarestFirst(input([]), 0, fixed), [])
})

test('moves an unstarted request from a slow queue to a much faster holder', t => {
  const slow = peer('origin', [0], { inflight: 2, throughput: 100e3 })
  const fast = peer('fast', [0], { throughput: 10e6 })
  const waiting = (started: boolean): PolicyInput => input([slow, fast], {
    missing: [0],
    chunkSizes: [256 * 1024],
    inflight: new Map([[0, [{ peer: 'origin', since: 0, started }]]])
  })
  t.deepEqual(rarestFirst(waiting(false), 100, fixed), [], 'too fresh to move')
  t.deepEqual(rarestFirst(waiting(false), 1_000, fixed), [{ index: 0, peer: 'fast', replaces: 'origin' }])
  t.deepEqual(rarestFirst(waiting(true), 1_000, fixed), [], 'a request whose bytes are arriving stays')
  const similar = peer('similar', [0], { inflight: 1, throughput: 150e3 })
  t.deepEqual(rarestFirst(input([slow, similar], { missing: [0], chunkSizes: [256 * 1024], inflight: new Map([[0, [{ peer: 'origin', since: 0 }]]]) }), 1_000, fixed), [], 'not for a marginal gain')
})

test('an unmeasured peer is ranked at the throughput the driver assumes for it, and still gets two requests', t => {
  const measured = peer('measured', [0, 1, 2, 3], { throughput: 2e6 })
  const untried = peer('untried', [0, 1, 2, 3])
  t.is(rarestFirst(input([measured, untried], { missing: [0] }), 0, fixed)[0]!.peer, 'untried', 'the optimistic default beats 2 MB/s')
  const assumed = peer('untried', [0, 1, 2, 3], { assumedThroughput: 1e6 })
  t.is(rarestFirst(input([measured, assumed], { missing: [0] }), 0, fixed)[0]!.peer, 'measured', 'an assumed 1 MB/s does not')
  const depth = rarestFirst(input([peer('untried', [0, 1, 2, 3], { assumedThroughput: 1e9 })], { missing: [0, 1, 2, 3], limits: { ...LIMITS, maxInflightPerPeer: 16 } }), 0, fixed)
  t.is(depth.length, 2)
})

test('a slow peer gets a short queue, a fast one up to the per-peer bound', t => {
  const sizes = Array.from({ length: 20 }, () => 256 * 1024)
  const all = sizes.map((_, i) => i)
  const slow = peer('slow', all, { throughput: 256 * 1024 })
  const fast = peer('fast', all, { throughput: 100 * 1024 * 1024 })
  const limits = { ...LIMITS, maxInflightPerPeer: 6, maxInflightTotal: 20 }
  const requests = rarestFirst(input([slow, fast], { chunkSizes: sizes, missing: all, limits }), 0, fixed)
  t.is(requests.filter(r => r.peer === 'slow').length, 2)
  t.is(requests.filter(r => r.peer === 'fast').length, 6)
})

/** A random but well-formed policy input: peers (some banned, some unmeasured), holdings, requests in flight. */
function randomInput (next: () => number): { input: PolicyInput, now: number } {
  const pick = (n: number): number => next() % n
  const chunks = 1 + pick(60)
  const chunkSizes = Array.from({ length: chunks }, () => 1000 + pick(300_000))
  const local = new Set(Array.from({ length: pick(chunks + 1) }, () => pick(chunks)))
  const ids = Array.from({ length: pick(12) }, (_, i) => `p${i}`)
  const inflight = new Map<number, InflightRequest[]>()
  for (let i = 0; i < chunks; i++) {
    if (local.has(i) || pick(3) !== 0 || ids.length === 0) continue
    const copies = 1 + pick(2)
    inflight.set(i, Array.from({ length: copies }, (_, c) => ({ peer: ids[(i + c) % ids.length]!, since: pick(5_000), started: pick(2) === 0 })))
  }
  const peers = ids.map(id => {
    const held = new Set(Array.from({ length: pick(chunks + 1) }, () => pick(chunks)))
    const atPeer = [...inflight.values()].flat().filter(r => r.peer === id).length
    return peer(id, [...held], {
      inflight: atPeer,
      banned: pick(6) === 0,
      ...(pick(4) === 0 ? (pick(2) === 0 ? {} : { assumedThroughput: 10_000 + pick(20_000_000) }) : { throughput: 10_000 + pick(20_000_000) }),
      ...(pick(3) === 0 ? {} : { rttMs: pick(200) })
    })
  })
  const missing = Array.from({ length: chunks }, (_, i) => i).filter(i => pick(8) !== 0 || !local.has(i))
  const limits = { maxInflightPerPeer: 1 + pick(16), targetQueueMs: 50 + pick(600), maxInflightTotal: 1 + pick(64), endgameChunks: pick(10), endgameCopies: 1 + pick(3) }
  return { input: { chunkSizes, haveLocal: i => local.has(i), missing, inflight, peers, limits }, now: pick(6_000) }
}

test('decides exactly as the straightforward reference implementation, random sequence included', t => {
  const next = xorshift32(7)
  let decisions = 0
  for (let run = 0; run < 3_000; run++) {
    const { input: sample, now } = randomInput(next)
    const seed = next()
    const a = xorshift32(seed)
    const b = xorshift32(seed)
    const expected = referenceRarestFirst(sample, now, () => a() / 2 ** 32)
    const actual = rarestFirst(sample, now, () => b() / 2 ** 32)
    t.deepEqual(actual, expected, `run ${run}`)
    decisions += expected.length
  }
  t.true(decisions > 3_000, `the random inputs led to ${decisions} decisions`)
})

test('with the holders count kept by the driver, it decides exactly as when it counts them itself', t => {
  const next = xorshift32(11)
  for (let run = 0; run < 1_000; run++) {
    const { input: sample, now } = randomInput(next)
    const holders = (index: number): number => sample.peers.filter(p => !p.banned && p.has(index)).length
    const seed = next()
    const a = xorshift32(seed)
    const b = xorshift32(seed)
    t.deepEqual(rarestFirst({ ...sample, holders }, now, () => a() / 2 ** 32), rarestFirst(sample, now, () => b() / 2 ** 32), `run ${run}`)
  }
})

test('with the in-flight count kept by the driver, it decides exactly as when it counts them itself; the count bounds new requests', t => {
  const next = xorshift32(12)
  for (let run = 0; run < 1_000; run++) {
    const { input: sample, now } = randomInput(next)
    let inflightCount = 0
    sample.inflight.forEach(list => { inflightCount += list.length })
    const seed = next()
    const a = xorshift32(seed)
    const b = xorshift32(seed)
    t.deepEqual(rarestFirst({ ...sample, inflightCount }, now, () => a() / 2 ** 32), rarestFirst(sample, now, () => b() / 2 ** 32), `run ${run}`)
  }
  const peers = [peer('a', [0, 1, 2], { throughput: 1e6 }), peer('b', [0, 1, 2], { throughput: 1e6 })]
  t.is(rarestFirst(input(peers, { missing: [0, 1, 2] }), 0, fixed).length, 3)
  t.is(rarestFirst(input(peers, { missing: [0, 1, 2], inflightCount: LIMITS.maxInflightTotal - 1 }), 0, fixed).length, 1, 'one place left in the total bound')
  t.deepEqual(rarestFirst(input(peers, { missing: [0, 1, 2], inflightCount: LIMITS.maxInflightTotal }), 0, fixed), [], 'the total bound is reached')
})

test('ranks by the holders count when the driver gives one', t => {
  const peers = [peer('a', [0, 1], { throughput: 1e6 }), peer('b', [0, 1], { throughput: 1e6 })]
  const rarity = [1, 2]
  t.deepEqual(rarestFirst(input(peers, { missing: [0, 1] }), 0, fixed).map(r => r.index), [1, 0], 'counted: a tie, broken at random')
  t.deepEqual(rarestFirst(input(peers, { missing: [0, 1], holders: i => rarity[i]! }), 0, fixed).map(r => r.index), [0, 1], 'as the driver counts')
  t.deepEqual(rarestFirst(input(peers, { missing: [0, 1], holders: i => i === 0 ? 0 : 1 }), 0, fixed).map(r => r.index), [1], 'a chunk no usable peer has is not asked for')
})

test('peerQueueDepth: two until measured, then enough for the target queue time, within the per-peer bound', t => {
  const limits = { ...LIMITS, maxInflightPerPeer: 16, targetQueueMs: 300 }
  t.is(peerQueueDepth({ throughput: undefined }, 256 * 1024, limits), 2)
  t.is(peerQueueDepth({ throughput: 1024 }, 256 * 1024, limits), 2)
  t.is(peerQueueDepth({ throughput: 4 * 1024 * 1024 }, 256 * 1024, limits), 6)
  t.is(peerQueueDepth({ throughput: 1e9 }, 256 * 1024, limits), 16)
})

test('a peer list reused with new contents between calls is read afresh', t => {
  const slow = peer('a', [0], { inflight: 2, throughput: 100e3 })
  const fast = peer('b', [0], { throughput: 10e6 })
  const peers = [slow, fast]
  const waiting = (): PolicyInput => input(peers, { missing: [0], chunkSizes: [256 * 1024], inflight: new Map([[0, [{ peer: 'a', since: 0 }]]]) })
  const moved = [{ index: 0, peer: 'b', replaces: 'a' }]
  t.deepEqual(rarestFirst(waiting(), 1_000, fixed), moved)
  peers[0] = fast
  peers[1] = slow
  t.deepEqual(rarestFirst(waiting(), 1_000, fixed), moved, 'the peers\' new positions are used')
})

test('the origin (lastResort) is asked only for chunks no other usable peer holds, busy or not', t => {
  const origin = peer('origin', [0, 1, 2, 3, 4, 5], { lastResort: true, throughput: 1e9 })
  const slow = peer('slow', [0, 1], { throughput: 1e3, inflight: 2 })
  const limits = { ...LIMITS, maxInflightPerPeer: 8 }
  const requests = rarestFirst(input([origin, slow], { missing: [0, 1, 2, 3], limits }), 0, fixed)
  t.deepEqual(requests.filter(r => r.peer === 'origin').map(r => r.index).sort(), [2, 3], 'chunks 0 and 1 wait for the slow peer, whose queue is full')
  const banned = peer('slow', [0, 1], { banned: true })
  const without = rarestFirst(input([origin, banned], { missing: [0, 1], limits }), 0, fixed)
  t.deepEqual(without.map(r => r.index).sort(), [0, 1], 'a peer that may not be asked does not count')
  const doubtful = peer('slow', [0, 1], { throughput: 1e3, inflight: 2, doubtful: true })
  const around = rarestFirst(input([origin, doubtful], { missing: [0, 1], limits }), 0, fixed)
  t.deepEqual(around.map(r => r.index).sort(), [0, 1], 'nor does one rested for timing out that sent nothing since')
})
