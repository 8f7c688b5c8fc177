import test from 'ava'
import { BACKLOG, NodeTable, RATE } from '../../bench/sim/nodes.ts'
import { BITS, FETCHER, FETCHER_SLOT, INDEX, RequestTable, UPLOADER, UPLOADER_SLOT } from '../../bench/sim/requests.ts'
import { TimerHeap } from '../../bench/sim/timers.ts'
import { TypicalThroughput } from '../../bench/sim/typical.ts'
import { buildTopology } from '../../bench/sim/topology.ts'
import { Uploads, type UploadHost } from '../../bench/sim/uploads.ts'

const CHUNK = 1000

/** The upload side of a full mesh of `agents` fetchers and the origin, `chunks` chunks of 1000 bytes, 1000 bytes/s each, on a hand-driven clock. */
function setUp (agents: number, chunks: number, o: { maxQueued?: number, maxQueuedMs?: number, initialSeedHoldMs?: number, repeatSeedHoldMs?: number, turnSlots?: number } = {}) {
  const net = buildTopology(agents, agents, agents, () => 0.5)
  const nodes = new NodeTable(net.nodes, chunks, 2, 64)
  for (let n = 0; n < net.nodes; n++) nodes.f64[n * nodes.stride / 2 + RATE] = CHUNK
  const requests = new RequestTable(8)
  const timers = new TimerHeap(net.nodes)
  const sent: number[] = []
  const host: UploadHost & { now: number } = {
    now: 0,
    started: () => {},
    sent: r => { sent.push(requests.i32[16 * r + INDEX]!) },
    released: () => {}
  }
  const uploads = new Uploads(host, timers, nodes, requests, {
    links: net.neighbour.length,
    slots: 2,
    maxQueued: o.maxQueued ?? 8,
    maxQueuedMs: o.maxQueuedMs ?? Infinity,
    sizes: Array.from({ length: chunks }, () => CHUNK),
    initialSeedHoldMs: o.initialSeedHoldMs ?? 15_000,
    repeatSeedHoldMs: o.repeatSeedHoldMs ?? 5_000,
    turns: o.turnSlots === undefined ? undefined : { first: net.start[0]!, degree: net.start[1]! - net.start[0]!, slots: o.turnSlots, turnChunks: 1, idleMs: 5_000, checkMs: 1_000 }
  })
  /** Fetcher `f` asks `u` for chunk `index`: the request record, or 0 when declined. */
  const ask = (f: number, u: number, index: number): number => {
    let slot = net.start[f]!
    while (net.neighbour[slot] !== u) slot++
    const r = requests.alloc()
    const q = requests.i32
    q[16 * r + FETCHER] = f
    q[16 * r + UPLOADER] = u
    q[16 * r + FETCHER_SLOT] = slot
    q[16 * r + UPLOADER_SLOT] = net.back[slot]!
    q[16 * r + INDEX] = index
    q[16 * r + BITS] = 0
    return uploads.request(r) ? r : 0
  }
  /** Run upload completions up to `until`. */
  const runUntil = (until: number): void => {
    while (timers.topTime <= until) {
      host.now = timers.topTime
      uploads.onDone(timers.topKey)
    }
    host.now = until
  }
  const backlog = (u: number): number => nodes.i32[u * nodes.stride + BACKLOG]!
  /** The origin's slot for its link to fetcher `f`. */
  const originSlot = (f: number): number => {
    let slot = net.start[0]!
    while (net.neighbour[slot] !== f) slot++
    return slot
  }
  return { uploads, host, ask, runUntil, sent, backlog, originSlot }
}

test('the origin: no second copy while a chunk was never sent (initial hold), then none within the repeat hold of the last send', t => {
  const { uploads, host, ask, runUntil } = setUp(3, 2)
  t.not(ask(1, 0, 0), 0)
  host.now = 100
  t.is(ask(2, 0, 0), 0, 'chunk 1 never left: chunk 0 is held for 15 s')
  t.not(ask(2, 0, 1), 0)
  runUntil(4_000)
  t.is(ask(3, 0, 0), 0, 'every chunk has left, but chunk 0 was sent under 5 s ago')
  host.now = 5_000
  t.not(ask(3, 0, 0), 0, 'the repeat hold is over')
  host.now = 6_000
  t.is(ask(2, 0, 0), 0, 'each send starts the hold again')
  t.deepEqual(uploads.declines, { backlog: 0, originHold: 3, choked: 0 })
})

test('without holds the origin sends any chunk any time; agents never hold', t => {
  const { ask } = setUp(3, 2, { initialSeedHoldMs: 0, repeatSeedHoldMs: 0 })
  t.not(ask(1, 0, 0), 0)
  t.not(ask(2, 0, 0), 0)
  const agents = setUp(3, 2)
  t.not(agents.ask(2, 1, 0), 0)
  t.not(agents.ask(3, 1, 0), 0, 'an agent serves a chunk twice at once')
})

test('a node declines requests beyond its backlog over all sessions; a sent or cancelled chunk frees a place', t => {
  const { uploads, ask, runUntil, backlog, sent } = setUp(4, 10, { maxQueued: 3 })
  const first = ask(2, 1, 0)
  t.not(first, 0)
  t.not(ask(3, 1, 1), 0)
  t.not(ask(4, 1, 2), 0)
  t.is(backlog(1), 3, 'two being sent, one queued')
  t.is(ask(2, 1, 3), 0, 'full: declined, whichever session asks')
  t.is(ask(0, 1, 4), 0)
  t.deepEqual(uploads.declines, { backlog: 2, originHold: 0, choked: 0 })
  uploads.cancel(first)
  t.is(backlog(1), 2, 'a cancelled chunk gives its place back')
  t.not(ask(2, 1, 5), 0)
  runUntil(100_000)
  t.is(backlog(1), 0, 'every accepted chunk went out')
  t.deepEqual(sent.sort((a, b) => a - b), [1, 2, 5])
})

test('a node declines requests once more than maxQueuedMs of chunks at its rate wait ahead, as UploadBacklog does', t => {
  // 1000 bytes/s: 1.5 s of queue is 1500 bytes; chunks of 1000.
  const { uploads, ask, runUntil, backlog } = setUp(4, 10, { maxQueuedMs: 1_500 })
  t.not(ask(2, 1, 0), 0)
  t.not(ask(3, 1, 1), 0, '1 s of sending waits ahead of it')
  t.is(ask(4, 1, 2), 0, '2 s of sending would wait ahead of a third chunk')
  t.deepEqual(uploads.declines, { backlog: 1, originHold: 0, choked: 0 })
  runUntil(100_000)
  t.is(backlog(1), 0)
  t.not(ask(4, 1, 2), 0, 'with the queue empty it is admitted')
  const { ask: askBig } = setUp(4, 10, { maxQueuedMs: 500 })
  t.not(askBig(2, 1, 0), 0, 'one chunk is admitted even when it alone takes longer')
  t.is(askBig(3, 1, 1), 0)
})

test('a request the backlog declines does not count as sent at the origin', t => {
  const { ask, runUntil } = setUp(4, 2, { maxQueued: 1 })
  t.not(ask(1, 0, 0), 0)
  t.is(ask(2, 0, 1), 0, 'backlog full')
  runUntil(2_000)
  t.not(ask(2, 0, 1), 0, 'chunk 1 never left, so the initial hold does not apply to it')
})

test('typical throughput: the upper median of the measured links once three are measured and some are not', t => {
  const net = buildTopology(5, 5, 5, () => 0.5)
  const seen = new Int32Array(net.neighbour.length)
  const typical = new TypicalThroughput(net, seen)
  const row = net.start[1]!
  seen[row] = 300
  seen[row + 1] = 100
  t.is(typical.of(1), 0, 'two measured')
  seen[row + 2] = 200
  t.is(typical.of(1), 200)
  seen[row + 3] = 50
  t.is(typical.of(1), 200, 'of 50, 100, 200, 300: the upper median, as the fetcher takes it')
  seen[row + 4] = 400
  t.is(typical.of(1), 0, 'all five measured: nothing to assume')
  t.is(typical.of(2), 0, 'another node\'s links are its own')
})

test('the origin\'s turns: a choked fetcher is declined, a served one is shown only its turn\'s chunks, and after a turn of one chunk the next fetcher is served', t => {
  const { uploads, host, ask, runUntil, originSlot } = setUp(2, 4, { turnSlots: 1 })
  const turns = uploads.turns!
  t.false(turns.choked(originSlot(1)))
  t.true(turns.choked(originSlot(2)))
  t.deepEqual([...turns.shown(originSlot(1))!], [1, 0, 0, 0], 'its turn: one chunk reserved for it')
  t.is(ask(2, 0, 1), 0, 'choked')
  t.is(uploads.declines.choked, 1)
  t.not(ask(1, 0, 0), 0)
  runUntil(1_000)
  host.now = 1_000
  t.true(turns.choked(originSlot(1)), 'its turn of one chunk is over')
  t.false(turns.choked(originSlot(2)))
  t.deepEqual([...turns.shown(originSlot(2))!], [0, 1, 0, 0], 'the next chunk never sent')
})
