/**
 * `bench simulate`: a discrete-event simulation of a swarm fetching one
 * package, driven by the very same selection policy as the agents
 * (`rarestFirst` from src/chunks/policy.ts, with FETCH_DEFAULTS limits).
 *
 * Model: every node uploads one chunk at a time at its upload rate (FIFO
 * queue of requests, like the exchange server behind its token bucket);
 * downloads are not capped; a fixed one-way latency; the origin runs in
 * initial-seeding mode (it declines a second copy of a chunk while it still
 * has chunks it never sent, for `initialSeedHoldMs`), and a declined request
 * is not repeated at that peer for `rejectBackoffMs`. Agents learn at once
 * which chunks their neighbours hold (HAVE). Each agent has about `degree`
 * neighbours; the origin is linked to `originDegree` of them.
 */
import { rarestFirst, type ChunkRequest, type InflightRequest, type PeerView, type PolicyInput } from '../src/chunks/index.ts'
import { EXCHANGE_DEFAULTS, FETCH_DEFAULTS } from '../src/constants.ts'
import { xorshift32 } from '../src/core/index.ts'

/** Options of {@link simulate}. */
export interface SimulationOptions {
  readonly agents: number
  readonly packageBytes: number
  readonly chunkBytes: number
  /** Upload rate of each agent, bytes/s. */
  readonly up: number
  readonly originUp: number
  readonly degree: number
  readonly originDegree: number
  readonly latencyMs: number
  readonly seed: number
}

/** Outcome of one simulation. */
export interface SimulationResult {
  /** Completion time of each agent, seconds. */
  readonly times: number[]
  readonly originUploadBytes: number
  readonly totalUploadBytes: number
  readonly events: number
  readonly wallSeconds: number
}

interface Upload { readonly to: number, readonly index: number, started: boolean }

interface Node {
  readonly id: number
  readonly up: number
  readonly have: Uint8Array
  haveCount: number
  readonly neighbours: number[]
  /** Requests waiting at this node as an uploader. */
  readonly queue: Upload[]
  busy: boolean
  // Fetch state (agents only).
  readonly inflight: Map<number, InflightRequest[]>
  readonly atPeer: Map<number, number>
  readonly throughput: Map<number, number>
  readonly lastArrival: Map<number, number>
  readonly rejected: Map<number, Map<number, number>>
  starved: boolean
  retryScheduled: boolean
  planPending: boolean
  doneAt: number
  uploaded: number
}

/** A binary min-heap of events by time. */
class EventQueue {
  readonly #times: number[] = []
  readonly #items: Array<() => void> = []
  get size (): number { return this.#times.length }
  push (time: number, run: () => void): void {
    const t = this.#times
    const it = this.#items
    let i = t.length
    t.push(time); it.push(run)
    while (i > 0) {
      const p = (i - 1) >> 1
      if (t[p]! <= time) break
      t[i] = t[p]!; it[i] = it[p]!; i = p
    }
    t[i] = time; it[i] = run
  }
  pop (): [number, () => void] {
    const t = this.#times
    const it = this.#items
    const top: [number, () => void] = [t[0]!, it[0]!]
    const lastT = t.pop()!
    const lastI = it.pop()!
    if (t.length > 0) {
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        if (l >= t.length) break
        const c = l + 1 < t.length && t[l + 1]! < t[l]! ? l + 1 : l
        if (t[c]! >= lastT) break
        t[i] = t[c]!; it[i] = it[c]!; i = c
      }
      t[i] = lastT; it[i] = lastI
    }
    return top
  }
}

/** Events for one agent within this many ms are answered by one policy call, like the driver's scheduling. */
const PLAN_COALESCE_MS = 5

const LIMITS = {
  maxInflightPerPeer: FETCH_DEFAULTS.maxInflightPerPeer,
  targetQueueMs: FETCH_DEFAULTS.targetQueueMs,
  maxInflightTotal: FETCH_DEFAULTS.maxInflightTotal,
  endgameChunks: FETCH_DEFAULTS.endgameChunks,
  endgameCopies: FETCH_DEFAULTS.endgameCopies
}

/** Run one simulation to completion. */
export function simulate (o: SimulationOptions): SimulationResult {
  const started = performance.now()
  const next = xorshift32(o.seed)
  const random = (): number => next() / 2 ** 32
  const k = Math.ceil(o.packageBytes / o.chunkBytes)
  const sizes = Array.from({ length: k }, (_, i) => Math.min(o.chunkBytes, o.packageBytes - i * o.chunkBytes))
  const nodes = buildNodes(o, k, random)
  const origin = nodes[0]!
  origin.have.fill(1)
  origin.haveCount = k
  const sentOnce = new Float64Array(k).fill(-1)
  let unsent = k
  const queue = new EventQueue()
  let now = 0
  let events = 0
  let remaining = o.agents

  const plan = (node: Node): void => {
    if (node.doneAt >= 0) return
    const requests = rarestFirst(policyInput(node, nodes, sizes, now), now, random)
    node.starved = requests.length === 0 && countInflight(node) < LIMITS.maxInflightTotal
    for (const request of requests) ask(node, request)
    // Like the driver's periodic tick: a starved agent looks again once declined chunks may be asked anew.
    if (node.starved && !node.retryScheduled) {
      node.retryScheduled = true
      queue.push(now + FETCH_DEFAULTS.rejectBackoffMs, () => { node.retryScheduled = false; plan(node) })
    }
  }

  /** Re-plan after `delayMs` plus the coalescing window: bursts of events cost one policy call. */
  const planSoon = (node: Node, delayMs: number): void => {
    if (node.planPending) return
    node.planPending = true
    queue.push(now + delayMs + PLAN_COALESCE_MS, () => { node.planPending = false; plan(node) })
  }

  const ask = (node: Node, request: ChunkRequest): void => {
    const to = Number(request.peer)
    if (request.replaces !== undefined) cancel(node, Number(request.replaces), request.index)
    const list = node.inflight.get(request.index) ?? []
    list.push({ peer: request.peer, since: now, started: false })
    node.inflight.set(request.index, list)
    node.atPeer.set(to, (node.atPeer.get(to) ?? 0) + 1)
    const uploader = nodes[to]!
    queue.push(now + o.latencyMs, () => {
      uploader.queue.push({ to: node.id, index: request.index, started: false })
      serve(uploader)
    })
  }

  const cancel = (node: Node, peer: number, index: number): void => {
    const uploader = nodes[peer]!
    const at = uploader.queue.findIndex(u => u.to === node.id && u.index === index && !u.started)
    if (at >= 0) uploader.queue.splice(at, 1)
    dropRequest(node, peer, index)
  }

  const serve = (uploader: Node): void => {
    while (!uploader.busy && uploader.queue.length > 0) {
      const upload = uploader.queue.shift()!
      const fetcher = nodes[upload.to]!
      if (fetcher.have[upload.index] === 1) { dropRequest(fetcher, uploader.id, upload.index); continue }
      if (uploader === origin && sentOnce[upload.index]! >= 0 && unsent > 0 && now - sentOnce[upload.index]! < EXCHANGE_DEFAULTS.initialSeedHoldMs) {
        decline(fetcher, uploader.id, upload.index)
        continue
      }
      if (uploader === origin && sentOnce[upload.index]! < 0) { sentOnce[upload.index] = now; unsent-- }
      uploader.busy = true
      upload.started = true
      const size = sizes[upload.index]!
      const request = fetcher.inflight.get(upload.index)?.find(r => r.peer === String(uploader.id))
      if (request !== undefined) (request as { started?: boolean }).started = true
      queue.push(now + size * 1000 / uploader.up, () => {
        uploader.busy = false
        uploader.uploaded += size
        queue.push(now + o.latencyMs, () => { deliver(fetcher, uploader.id, upload.index, size) })
        serve(uploader)
      })
    }
  }

  const decline = (fetcher: Node, peer: number, index: number): void => {
    queue.push(now + o.latencyMs, () => {
      const byPeer = fetcher.rejected.get(peer) ?? new Map<number, number>()
      byPeer.set(index, now)
      fetcher.rejected.set(peer, byPeer)
      dropRequest(fetcher, peer, index)
      plan(fetcher)
    })
  }

  const deliver = (fetcher: Node, peer: number, index: number, size: number): void => {
    const request = fetcher.inflight.get(index)?.find(r => r.peer === String(peer))
    dropRequest(fetcher, peer, index)
    if (fetcher.have[index] === 1) return
    const since = Math.max(request?.since ?? now, fetcher.lastArrival.get(peer) ?? 0)
    const sample = size * 1000 / Math.max(1, now - since)
    const old = fetcher.throughput.get(peer)
    fetcher.throughput.set(peer, old === undefined ? sample : FETCH_DEFAULTS.ewmaAlpha * sample + (1 - FETCH_DEFAULTS.ewmaAlpha) * old)
    fetcher.lastArrival.set(peer, now)
    fetcher.have[index] = 1
    fetcher.haveCount++
    for (const other of fetcher.inflight.get(index) ?? []) cancel(fetcher, Number(other.peer), index)
    fetcher.inflight.delete(index)
    if (fetcher.haveCount === k) {
      fetcher.doneAt = now
      remaining--
    }
    // HAVE: neighbours still missing the chunk look again, as the driver does on a HAVE frame. A
    // neighbour that already asked someone for it is skipped (a cost cut: it would at most move the request).
    for (const n of fetcher.neighbours) {
      const neighbour = nodes[n]!
      if (neighbour.doneAt < 0 && neighbour.have[index] === 0 && !neighbour.inflight.has(index)) planSoon(neighbour, o.latencyMs)
    }
    planSoon(fetcher, 0)
  }

  for (const node of nodes.slice(1)) queue.push(o.latencyMs * random(), () => { plan(node) })
  while (remaining > 0 && queue.size > 0) {
    const [time, run] = queue.pop()
    now = time
    events++
    run()
  }
  if (remaining > 0) throw new Error(`simulation stalled with ${remaining} agents incomplete`)
  const agents = nodes.slice(1)
  return {
    times: agents.map(a => a.doneAt / 1000),
    originUploadBytes: origin.uploaded,
    totalUploadBytes: nodes.reduce((sum, n) => sum + n.uploaded, 0),
    events,
    wallSeconds: (performance.now() - started) / 1000
  }
}

function dropRequest (node: Node, peer: number, index: number): void {
  const list = node.inflight.get(index)
  if (list === undefined) return
  const at = list.findIndex(r => r.peer === String(peer))
  if (at < 0) return
  list.splice(at, 1)
  if (list.length === 0) node.inflight.delete(index)
  node.atPeer.set(peer, Math.max(0, (node.atPeer.get(peer) ?? 1) - 1))
}

function countInflight (node: Node): number {
  let n = 0
  for (const list of node.inflight.values()) n += list.length
  return n
}

function policyInput (node: Node, nodes: readonly Node[], sizes: readonly number[], now: number): PolicyInput {
  const missing: number[] = []
  for (let i = 0; i < sizes.length; i++) if (node.have[i] === 0) missing.push(i)
  const peers: PeerView[] = node.neighbours.map(n => {
    const other = nodes[n]!
    const rejected = node.rejected.get(n)
    return {
      id: String(n),
      has: (index: number) => other.have[index] === 1 && !(rejected !== undefined && now - (rejected.get(index) ?? -Infinity) < FETCH_DEFAULTS.rejectBackoffMs),
      inflight: node.atPeer.get(n) ?? 0,
      throughput: node.throughput.get(n),
      rttMs: 2,
      banned: false
    }
  })
  return { chunkSizes: sizes, haveLocal: i => node.have[i] === 1, missing, inflight: node.inflight, peers, limits: LIMITS }
}

function buildNodes (o: SimulationOptions, k: number, random: () => number): Node[] {
  const make = (id: number, up: number): Node => ({
    id, up, have: new Uint8Array(k), haveCount: 0, neighbours: [], queue: [], busy: false,
    inflight: new Map(), atPeer: new Map(), throughput: new Map(), lastArrival: new Map(), rejected: new Map(),
    starved: false, retryScheduled: false, planPending: false, doneAt: -1, uploaded: 0
  })
  const nodes = [make(0, o.originUp), ...Array.from({ length: o.agents }, (_, i) => make(i + 1, o.up))]
  const linked = new Set<string>()
  const link = (a: number, b: number): void => {
    if (a === b) return
    const key = a < b ? `${a}:${b}` : `${b}:${a}`
    if (linked.has(key)) return
    linked.add(key)
    nodes[a]!.neighbours.push(b)
    nodes[b]!.neighbours.push(a)
  }
  const degree = Math.min(o.degree, o.agents - 1)
  for (let a = 1; a <= o.agents; a++) {
    let tries = 0
    while (nodes[a]!.neighbours.length < degree && tries++ < degree * 4) link(a, 1 + Math.floor(random() * o.agents))
  }
  const originLinks = Math.min(o.originDegree, o.agents)
  const order = Array.from({ length: o.agents }, (_, i) => i + 1)
  for (let i = 0; i < originLinks; i++) {
    const j = i + Math.floor(random() * (order.length - i))
    ;[order[i], order[j]] = [order[j]!, order[i]!]
    link(0, order[i]!)
  }
  return nodes
}

/** Options of {@link runSimulateBench} (the CLI mode). */
export interface SimulateBenchOptions extends SimulationOptions {
  readonly json: boolean
  readonly plot?: string
  readonly out: string
}

/** `bench simulate`: run, print the summary and (with --json) the record. */
export async function runSimulateBench (o: SimulateBenchOptions): Promise<void> {
  const { lowerBoundSeconds, printResult, round } = await import('./report.ts')
  const { systemFigures, writeRunFiles } = await import('./results.ts')
  const { formatBytes } = await import('../src/core/units.ts')
  const result = simulate(o)
  const bound = lowerBoundSeconds(o.agents, o.packageBytes, o.originUp, o.up)
  const chunks = Math.ceil(o.packageBytes / o.chunkBytes)
  const figures = systemFigures(result.times, result.originUploadBytes, o.packageBytes, true, bound)
  const record = {
    mode: 'simulate',
    topology: `random graph, degree ${o.degree}, origin degree ${Math.min(o.originDegree, o.agents)}`,
    agents: o.agents,
    packageBytes: o.packageBytes,
    lowerBoundSeconds: round(bound),
    broadcastBoundSeconds: round((chunks + Math.ceil(Math.log2(o.agents + 1)) - 1) * o.chunkBytes / Math.min(o.up, o.originUp)),
    systems: { pollen: { ...figures, times: o.agents <= 10_000 ? figures.times : [] } },
    duplicateRatio: round(result.totalUploadBytes / (o.agents * o.packageBytes) - 1),
    events: result.events,
    wallSeconds: round(result.wallSeconds)
  }
  const files = await writeRunFiles(o.out, record, o.plot)
  printResult([
    ['swarm', `${o.agents} simulated agents, ${formatBytes(o.packageBytes)} in ${chunks} chunks, agents ${formatBytes(o.up)}/s, origin ${formatBytes(o.originUp)}/s`],
    ['lower bound', `${record.lowerBoundSeconds} s (broadcast bound ${record.broadcastBoundSeconds} s)`],
    ['completion', `${figures.seconds} s (p50 ${figures.p50Seconds}, p99 ${figures.p99Seconds}), efficiency ${figures.efficiency}`],
    ['origin upload', `${formatBytes(result.originUploadBytes)} = ${(result.originUploadBytes / o.packageBytes).toFixed(2)} F; duplicates ${record.duplicateRatio}`],
    ['simulation', `${result.events} events in ${record.wallSeconds} s`],
    ['files', files.join(', ')]
  ], record, o.json)
}
