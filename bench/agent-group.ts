/**
 * A group of real agents (`createAgent`, the code path of `pollen agent`)
 * living in one process: the in-process bench runs one group in its own
 * process, or one per worker (`--workers W`, see agent-worker.ts), and drives
 * either through {@link AgentGroupHandle}.
 */
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { createAgent, type Agent, type RelayMode } from '../src/agent/index.ts'
import type { SwarmFile } from '../src/core/index.ts'
import { cpuSecondsNow, peakRssNow, sha256File } from './common.ts'
import { WorkerProcess } from './ipc.ts'
import { note } from './report.ts'

/** What a group needs to start its agents. */
export interface AgentGroupConfig {
  readonly root: string
  readonly swarm: SwarmFile
  /** The manager's address: every agent's bootstrap peer. */
  readonly bootstrap: string[]
  /** Swarm positions (0..N-1) of this group's agents: ids `agent-0000`…, data in `<root>/agent-<n>`. */
  readonly positions: number[]
  /** Upload cap of every agent, bytes/s (null: none; JSON has no Infinity). */
  readonly up: number | null
  /** Which agents relay the status topic (the agent's `relayStatus` option). */
  readonly relayStatus: RelayMode
  /** Agents started at once. */
  readonly startConcurrency: number
  /** Each agent's connection target (`pollen agent --connection-target`; null: the default). */
  readonly connectionTarget: number | null
}

/**
 * Connection pings of the in-process bench's nodes: once an hour, i.e. not
 * during a run (yamux's keep-alive still keeps the sockets busy). Hundreds
 * of agents share one event loop here: at N = 1,000, with libp2p's monitor
 * (every connection of a node pinged at once, aborted at the first late
 * answer), the default 20 s timeout made the manager drop a third of its
 * live links. An agent alone on a device answers in milliseconds.
 */
export const BENCH_PING = { pingIntervalMs: 3_600_000, pingTimeoutMs: 3_000_000 } as const

/** Counters of a group at one moment. */
export interface AgentGroupStats {
  readonly agents: number
  /** Connected peers summed over the group's agents. */
  readonly peers: number
  /** Agents connected to the manager. */
  readonly managerLinks: number
  /** Agents relaying the status topic (subscribed to it). */
  readonly relaying: number
  /** Package bytes uploaded by the group's agents. */
  readonly uploadedBytes: number
  /** CPU and memory of the worker process (absent for the group in the bench's own process). */
  readonly usage?: { readonly cpuSeconds: number, readonly peakRssBytes: number, readonly rssBytes: number, readonly heapUsedBytes: number, readonly arrayBuffersBytes: number }
}

/** How the bench drives a group, in process or in a worker. */
export interface AgentGroupHandle {
  /** Listen address of each agent, in `positions` order. */
  readonly addresses: string[]
  /** Each agent dials `degree` random agents of `all` (every agent's address, by position); resolves with the dials that failed. */
  connect (all: string[], degree: number): Promise<number>
  stats (): Promise<AgentGroupStats>
  /** Agents whose running release holds the sample payload (`current/payload.bin`) with this SHA-256. */
  verify (expectedSha: string): Promise<number>
  stop (): Promise<void>
}

/** The agents of one process. */
export class LocalAgentGroup implements AgentGroupHandle {
  readonly addresses: string[]
  readonly #config: AgentGroupConfig
  readonly #agents: Agent[]
  readonly #managerId: PeerId

  private constructor (config: AgentGroupConfig, agents: Agent[]) {
    this.#config = config
    this.#agents = agents
    this.#managerId = peerIdFromString(multiaddr(config.bootstrap[0]!).getComponents().findLast(c => c.name === 'p2p')!.value!)
    this.addresses = agents.map(a => a.node.addresses()[0]!.toString())
  }

  /** Start the group's agents, `startConcurrency` at a time; each dials the manager. */
  static async start (config: AgentGroupConfig): Promise<LocalAgentGroup> {
    const agents: Agent[] = config.positions.map(position => createAgent({
      swarm: config.swarm,
      dataDir: join(config.root, `agent-${position}`),
      id: `agent-${String(position).padStart(4, '0')}`,
      tags: ['bench'],
      node: {
        listen: ['/ip4/127.0.0.1/tcp/0'],
        mdns: false,
        bootstrap: config.bootstrap,
        ...(config.connectionTarget == null ? {} : { connectionTarget: config.connectionTarget }),
        ...BENCH_PING
      },
      uploadBytesPerSecond: config.up ?? Infinity,
      ...(config.relayStatus === 'auto' ? {} : { relayStatus: config.relayStatus === 'always' }),
      runSettleMs: 200
    }))
    try {
      await inBatches(agents, config.startConcurrency, async a => { await a.start() })
    } catch (err) {
      await inBatches(agents, config.startConcurrency, async a => { await a.stop() })
      throw err
    }
    return new LocalAgentGroup(config, agents)
  }

  async connect (all: string[], degree: number): Promise<number> {
    const errors = new Map<string, number>()
    // Few handshakes at once and one retry: on a loaded machine a burst of Noise handshakes times out.
    await inBatches(this.#agents, 4, async (agent, i) => {
      const own = this.#config.positions[i]!
      for (const position of pick(all.length, degree, own)) {
        const dial = async (): Promise<unknown> => await agent.node.libp2p.dial(multiaddr(all[position]!))
        await dial().catch(dial).catch((err: Error) => {
          const key = `${err.name}: ${err.message}`.slice(0, 120)
          errors.set(key, (errors.get(key) ?? 0) + 1)
        })
      }
    })
    for (const [message, count] of errors) note(`  ${count} dials failed: ${message}`)
    return [...errors.values()].reduce((a, b) => a + b, 0)
  }

  async stats (): Promise<AgentGroupStats> {
    return {
      agents: this.#agents.length,
      peers: this.#agents.reduce((n, a) => n + a.node.libp2p.getPeers().length, 0),
      managerLinks: this.#agents.filter(a => a.node.libp2p.getConnections(this.#managerId).length > 0).length,
      relaying: this.#agents.filter(a => a.node.libp2p.services.pubsub.getTopics().some(t => t.endsWith('/status'))).length,
      uploadedBytes: this.#agents.reduce((n, a) => n + a.exchange.stats().uploadedBytes, 0)
    }
  }

  async verify (expectedSha: string): Promise<number> {
    let ok = 0
    await inBatches(this.#config.positions, 4, async position => {
      const file = join(this.#config.root, `agent-${position}`, 'current', 'payload.bin')
      if (await sha256File(file).catch(() => '') === expectedSha) ok++
    })
    return ok
  }

  async stop (): Promise<void> {
    await inBatches(this.#agents, 32, async a => { await a.stop().catch(() => {}) })
  }
}

const WORKER_SCRIPT = fileURLToPath(new URL('./agent-worker.ts', import.meta.url))

/** Agents running in a forked `bench/agent-worker.ts`. */
export class RemoteAgentGroup implements AgentGroupHandle {
  addresses: string[] = []
  readonly #worker: WorkerProcess

  private constructor () {
    // 1,000 agents over few workers need more than V8's default old space.
    this.#worker = new WorkerProcess(WORKER_SCRIPT, () => {}, ['--max-old-space-size=16384'])
  }

  /** Fork a worker and start its agents. */
  static async start (config: AgentGroupConfig): Promise<RemoteAgentGroup> {
    const group = new RemoteAgentGroup()
    group.addresses = await group.#worker.call('start', config) as string[]
    return group
  }

  async connect (all: string[], degree: number): Promise<number> { return await this.#worker.call('connect', all, degree) as number }
  async stats (): Promise<AgentGroupStats> { return await this.#worker.call('stats') as AgentGroupStats }
  async verify (expectedSha: string): Promise<number> { return await this.#worker.call('verify', expectedSha) as number }

  async stop (): Promise<void> {
    if (this.#worker.running) await this.#worker.call('stop').catch(() => {})
    await this.#worker.kill()
  }
}

/** CPU and memory of the calling process, for a worker's {@link AgentGroupStats}. */
export function processUsage (): NonNullable<AgentGroupStats['usage']> {
  const { rss, heapUsed, arrayBuffers } = process.memoryUsage()
  return { cpuSeconds: cpuSecondsNow(), peakRssBytes: peakRssNow(), rssBytes: rss, heapUsedBytes: heapUsed, arrayBuffersBytes: arrayBuffers }
}

/** Swarm positions (0..agents-1) of worker `w` of `workers`, contiguous and balanced. */
export function sharePositions (agents: number, workers: number, w: number): number[] {
  const from = Math.floor((w * agents) / workers)
  const to = Math.floor(((w + 1) * agents) / workers)
  return Array.from({ length: to - from }, (_, i) => from + i)
}

/** Run `fn` over `items`, at most `concurrency` at a time; the first error is thrown once all settled. */
async function inBatches<T> (items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0
  let error: unknown
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      await fn(items[i]!, i).catch((err: unknown) => { error ??= err })
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane))
  if (error !== undefined) throw error
}

/** `count` distinct positions of `0..size-1` other than `own`, from a generator seeded by `own` (runs repeat). */
function pick (size: number, count: number, own: number): number[] {
  const chosen = new Set<number>()
  let x = (own * 2654435761 + 1) >>> 0 || 1
  while (chosen.size < Math.min(count, size - 1)) {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    const p = x % size
    if (p !== own) chosen.add(p)
  }
  return [...chosen]
}
