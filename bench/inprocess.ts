/**
 * `bench inprocess`: the full Pollen path on loopback, in this process — a
 * manager with its REST API and N agents (real libp2p nodes, private
 * network, gossip, chunk exchange, install and run) — beside the HTTP
 * fan-out baseline under the same upload caps, against the lower bound.
 */
import { join } from 'node:path'
import type { RelayMode } from '../src/agent/index.ts'
import { createApi } from '../src/api/index.ts'
import { formatBytes, type TargetRecord } from '../src/core/index.ts'
import { createManager, type Manager } from '../src/manager/index.ts'
import { initSwarm, readManagerKey } from '../src/node/index.ts'
import { NODE_DEFAULTS } from '../src/constants.ts'
import { runHttpBaseline } from './http-baseline.ts'
import { heliaSystem } from './helia.ts'
import { cpuSecondsNow, peakRssNow, seededBytes, sha256, tempRoot } from './common.ts'
import { BENCH_PING, LocalAgentGroup, RemoteAgentGroup, sharePositions, type AgentGroupConfig, type AgentGroupHandle, type AgentGroupStats } from './agent-group.ts'
import { formatRate, lowerBoundSeconds, note, percentile, printResult, round } from './report.ts'
import { systemFigures, writeRunFiles, type RunRecord, type SystemFigures } from './results.ts'
import { benchTaskForm, systemLine, until, type HarnessOptions } from './harness.ts'

/** Options of {@link runInprocessBench}. */
export interface InprocessOptions extends HarnessOptions {
  /** Spread the agents over this many child processes (1: all in this process, with the manager). */
  readonly workers: number
  /** Once every agent is up, each dials this many random agents (as mDNS would find them); 0: only the members the manager's peer exchange names. */
  readonly degree: number
  /** Which agents relay the status topic: as needed (the `pollen agent` default), every one, or none. */
  readonly relayStatus: RelayMode
  /** Each agent's connection target (undefined: the node default). */
  readonly connectionTarget?: number
  /** The manager's average chunk size (undefined: its default). */
  readonly chunkAvg?: number
}

export interface Swarm { manager: Manager, groups: AgentGroupHandle[], url: string, token: string, close: () => Promise<void> }

/** CPU of every process of the run, and the latest stats of every group. */
interface Usage { cpuSeconds: number, stats: AgentGroupStats[] }

/** Run the mode and print its summary (and JSON line). */
export async function runInprocessBench (o: InprocessOptions): Promise<void> {
  const root = await tempRoot('pollen-inprocess-')
  const data = seededBytes(o.size, 42)
  const startedAt = performance.now()
  note(`starting a manager and ${o.agents} agents ${o.workers > 1 ? `in ${o.workers} worker processes` : 'in this process'}…`)
  const swarm = await startSwarm(root, o)
  const discoverySeconds = (performance.now() - startedAt) / 1000
  let before: Usage, after: Usage
  let pollen: PollenRun
  let verified = 0
  let settleSeconds = 0
  try {
    settleSeconds = await settleMesh(swarm)
    before = await usage(swarm)
    pollen = await deploy(swarm, root, data, o)
    after = await usage(swarm)
    note('checking every agent\'s installed payload…')
    verified = (await Promise.all(swarm.groups.map(async g => await g.verify(sha256(data))))).reduce((a, b) => a + b, 0)
  } finally {
    await swarm.close()
  }
  pollen.allVerified &&= verified === o.agents
  const sum = (stats: AgentGroupStats[], f: (s: AgentGroupStats) => number): number => stats.reduce((n, s) => n + f(s), 0)
  const agentUploadBytes = sum(after.stats, s => s.uploadedBytes)
  const workerPeaks = after.stats.flatMap(s => s.usage == null ? [] : [s.usage.peakRssBytes])
  const http = o.noHttp ? undefined : await httpRun(data, o)
  const heliaBound = lowerBoundSeconds(o.agents, data.byteLength, o.originUp, o.up)
  // Beyond 20 times Pollen's transfer the exact figure says nothing more about a 2.5x target.
  const heliaTimeoutMs = Math.max(120_000, Math.round(20_000 * Math.max(...pollen.transferTimes, 0)))
  const helia = o.noHelia === true ? { skipped: 'run with --no-helia' } : await heliaSystem(data, o, heliaBound, { privateNetwork: true, timeoutMs: heliaTimeoutMs })
  const heliaOpen = o.noHelia === true ? { skipped: 'run with --no-helia' } : await heliaSystem(data, o, heliaBound, { privateNetwork: false, timeoutMs: heliaTimeoutMs })
  const bound = lowerBoundSeconds(o.agents, pollen.packageBytes, o.originUp, o.up)
  const record: RunRecord = {
    mode: 'inprocess',
    topology: 'loopback',
    agents: o.agents,
    packageBytes: pollen.packageBytes,
    lowerBoundSeconds: Number.isFinite(bound) ? round(bound) : 0,
    broadcastBoundSeconds: round(broadcastBound(o.agents, pollen.packageBytes, pollen.chunks, Math.min(o.up, o.originUp))),
    systems: {
      pollen: systemFigures(pollen.runTimes, pollen.originUploadBytes, pollen.packageBytes, pollen.allVerified, bound),
      pollenTransfer: systemFigures(pollen.transferTimes, pollen.originUploadBytes, pollen.packageBytes, pollen.allVerified, bound),
      http: http ?? { skipped: 'run with --no-http' },
      /** Helia on the private network, as Pollen (same transport: TCP, Noise, pnet, yamux). */
      helia,
      /** Helia without the private network (spared the XSalsa20 pass Pollen pays). */
      heliaOpen
    },
    upBytesPerSecond: Number.isFinite(o.up) ? o.up : null,
    originUpBytesPerSecond: Number.isFinite(o.originUp) ? o.originUp : null,
    agentUploadBytes,
    duplicateRatio: round(Math.max(0, (pollen.originUploadBytes + agentUploadBytes) / (o.agents * pollen.packageBytes) - 1)),
    /** From the POST to the last agent's Install SUCCESS (between its transfer and its run). */
    installSeconds: round(Math.max(0, ...pollen.installTimes)),
    announceLatencyP50Seconds: round(percentile(pollen.announceTimes, 50)),
    announceLatencyP99Seconds: round(percentile(pollen.announceTimes, 99)),
    /** From the POST to its 201: upload, unpack, pack, chunk, hash, store, sign, announce. */
    postSeconds: round(pollen.postSeconds),
    /** From the POST until the manager served the first byte of the package. */
    firstServeSeconds: pollen.firstServeSeconds === undefined ? null : round(pollen.firstServeSeconds),
    /** Waiting, before the POST, until every agent's peer count held still (the mesh a fleet has once up). */
    meshSettleSeconds: round(settleSeconds),
    discoverySeconds: round(discoverySeconds),
    /** Connected peers per agent when the task was submitted (the manager included). */
    meanPeersAtSubmit: round(sum(before.stats, s => s.peers) / o.agents, 1),
    /** Agents connected to the manager when the task was submitted. */
    managerLinksAtSubmit: sum(before.stats, s => s.managerLinks),
    workers: o.workers,
    degree: o.degree,
    relayStatus: o.relayStatus,
    connectionTarget: o.connectionTarget ?? NODE_DEFAULTS.connectionTarget,
    /** Agents whose running release holds the payload byte for byte (hashed after the run). */
    payloadsVerified: verified,
    /** CPU of every process (manager included) from the submission to the last RUN SUCCESS, per agent. */
    cpuSecondsPerAgent: round((after.cpuSeconds - before.cpuSeconds) / o.agents),
    /** CPU of every process from the start until the submission (start-up, dials, registration), per agent. */
    startCpuSecondsPerAgent: round(before.cpuSeconds / o.agents),
    /** One process: its peak RSS over N + 1 nodes; with workers: the workers' peak RSS summed over N (the manager's process apart). */
    peakRssBytesPerAgent: workerPeaks.length === 0 ? Math.round(peakRssNow() / (o.agents + 1)) : Math.round(workerPeaks.reduce((a, b) => a + b, 0) / o.agents),
    managerProcessPeakRssBytes: peakRssNow(),
    workerPeakRssBytes: workerPeaks
  }
  const files = await writeRunFiles(o.out, record, o.plot)
  printSummary(record, o, files)
}

export interface PollenRun {
  packageBytes: number
  chunks: number
  runTimes: number[]
  transferTimes: number[]
  /** Seconds from the POST to each agent's Install SUCCESS. */
  installTimes: number[]
  announceTimes: number[]
  /** From the POST to its 201 (the task created, signed and announced). */
  postSeconds: number
  /** From the POST until the manager first served package bytes (undefined: it served none). */
  firstServeSeconds?: number
  originUploadBytes: number
  allVerified: boolean
}

export async function startSwarm (root: string, o: InprocessOptions): Promise<Swarm> {
  const keys = await initSwarm(join(root, 'keys'), 'bench')
  const token = 'bench-token'
  const manager = createManager({
    swarm: keys.swarm,
    managerKey: await readManagerKey(keys.keyPath),
    dataDir: join(root, 'manager'),
    // Every agent keeps its bootstrap connection to the manager: room for all of them.
    // Its pings are answered by agents sharing a few event loops: see BENCH_PING in agent-group.ts.
    node: { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, maxConnections: o.agents + 64, ...BENCH_PING },
    uploadBytesPerSecond: o.originUp,
    operatorToken: token,
    ...(o.chunkAvg == null ? {} : { avgChunkBytes: o.chunkAvg })
  })
  await manager.start()
  const api = await createApi({ service: manager, processMetrics: false, uploadDir: root })
  await api.listen({ host: '127.0.0.1', port: 0 })
  const { port } = api.server.address() as { port: number }
  const groups: AgentGroupHandle[] = []
  const close = async (): Promise<void> => {
    await Promise.all(groups.map(async g => { await g.stop() }))
    await api.close()
    await manager.stop()
  }
  try {
    groups.push(...await startGroups(root, keys.swarm, [manager.node.addresses()[0]!.toString()], o))
    await waitForTargets(manager, targets => targets.length >= o.agents, Math.max(120_000, o.agents * 500), 'every agent registered')
    if (o.degree > 0) {
      note(`each agent dials ${o.degree} random agents…`)
      const all = groups.flatMap(g => g.addresses)
      const failed = (await Promise.all(groups.map(async g => await g.connect(all, o.degree)))).reduce((a, b) => a + b, 0)
      if (failed > 0) note(`${failed} of ${o.agents * o.degree} dials failed`)
    }
  } catch (err) {
    await close()
    throw err
  }
  return { manager, groups, url: `http://127.0.0.1:${port}`, token, close }
}

/** The agents: one group in this process, or one per worker process (all starting at once). */
async function startGroups (root: string, swarm: AgentGroupConfig['swarm'], bootstrap: string[], o: InprocessOptions): Promise<AgentGroupHandle[]> {
  const workers = Math.min(Math.max(1, o.workers), o.agents)
  const config = (w: number): AgentGroupConfig => ({
    root, swarm, bootstrap, positions: sharePositions(o.agents, workers, w), up: Number.isFinite(o.up) ? o.up : null, relayStatus: o.relayStatus, startConcurrency: 8,
    connectionTarget: o.connectionTarget ?? null
  })
  if (workers === 1) return [await LocalAgentGroup.start(config(0))]
  const starting = Array.from({ length: workers }, async (_, w) => {
    const group = await RemoteAgentGroup.start(config(w))
    note(`  worker ${w + 1}/${workers}: ${group.addresses.length} agents up`)
    return group
  })
  const settled = await Promise.allSettled(starting)
  const groups = settled.flatMap(r => r.status === 'fulfilled' ? [r.value] : [])
  const failure = settled.find(r => r.status === 'rejected')
  if (failure != null) {
    await Promise.all(groups.map(async g => { await g.stop() }))
    throw failure.reason
  }
  return groups
}

/**
 * Wait until no agent's peer count has changed for {@link SETTLE_QUIET_MS}
 * (at most {@link SETTLE_MAX_MS}): agents find each other through peer
 * exchange after they register, and a fleet is meshed long before an
 * operator deploys to it (Helia's nodes are fully meshed before its clock
 * starts). Returns the seconds waited.
 */
async function settleMesh (swarm: Swarm): Promise<number> {
  const started = performance.now()
  let last = ''
  let stableSince = started
  while (performance.now() - started < SETTLE_MAX_MS) {
    const peers = (await Promise.all(swarm.groups.map(async g => await g.stats()))).map(s => s.peers).join(',')
    if (peers !== last) { last = peers; stableSince = performance.now() }
    if (performance.now() - stableSince >= SETTLE_QUIET_MS) break
    await new Promise(resolve => setTimeout(resolve, 250))
  }
  return (performance.now() - started) / 1000
}

const SETTLE_QUIET_MS = 2_000
/** A deployment during which no agent reported for this long is stuck. */
const REPORT_STALL_MS = 300_000
const SETTLE_MAX_MS = 30_000

/** Workers' memory now, for the progress line ('' without workers). */
function memoryLine (stats: AgentGroupStats[]): string {
  const used = stats.flatMap(s => s.usage == null ? [] : [s.usage])
  if (used.length === 0) return ''
  const total = (pick: (u: NonNullable<AgentGroupStats['usage']>) => number): string => formatBytes(used.reduce((n, u) => n + pick(u), 0))
  return `; workers RSS ${total(u => u.rssBytes)} (heap ${total(u => u.heapUsedBytes)}, buffers ${total(u => u.arrayBuffersBytes)})`
}

async function usage (swarm: Swarm): Promise<Usage> {
  const stats = await Promise.all(swarm.groups.map(async g => await g.stats()))
  return { cpuSeconds: cpuSecondsNow() + stats.reduce((n, s) => n + (s.usage?.cpuSeconds ?? 0), 0), stats }
}

/** Submit the task over REST and time each agent's Transfer and Run SUCCESS from the submission. */
export async function deploy (swarm: Swarm, root: string, data: Uint8Array, o: InprocessOptions): Promise<PollenRun> {
  const form = await benchTaskForm(root, data)
  const transfer = new Map<string, number>()
  const install = new Map<string, number>()
  const run = new Map<string, number>()
  const announce = new Map<string, number>()
  let taskId = ''
  let t0 = 0
  let lastReportAt = performance.now()
  const unsubscribe = swarm.manager.subscribe(event => {
    if (event.topic !== 'target' || taskId === '' || event.payload.Task?.ID !== taskId) return
    lastReportAt = performance.now()
    const at = (performance.now() - t0) / 1000
    const logs = event.payload.Task.StageLogs
    if (logs.Transfer != null && !announce.has(event.payload.ID)) announce.set(event.payload.ID, at)
    if (logs.Transfer?.Status === 'SUCCESS' && !transfer.has(event.payload.ID)) transfer.set(event.payload.ID, at)
    if (logs.Install?.Status === 'SUCCESS' && !install.has(event.payload.ID)) install.set(event.payload.ID, at)
    if (logs.Run?.Status === 'SUCCESS' && !run.has(event.payload.ID)) run.set(event.payload.ID, at)
  })
  t0 = performance.now()
  const res = await fetch(`${swarm.url}/tasks`, { method: 'POST', body: form, headers: { authorization: `Bearer ${swarm.token}` } })
  if (res.status !== 201) throw new Error(`POST /tasks: ${res.status} ${await res.text()}`)
  const task = await res.json() as { id: string, package: { cid: string, bytes: number } }
  const postSeconds = (performance.now() - t0) / 1000
  taskId = task.id
  let firstServeSeconds: number | undefined
  const serving = setInterval(() => {
    if (swarm.manager.exchange.uploadedBytesFor(task.package.cid) === 0) return
    firstServeSeconds = (performance.now() - t0) / 1000
    clearInterval(serving)
  }, 10)
  note(`task ${task.id}: ${formatBytes(task.package.bytes)} to ${o.agents} agents`)
  const progress = setInterval(() => {
    void Promise.all(swarm.groups.map(async g => await g.stats())).then(stats => {
      const linked = stats.reduce((n, s) => n + s.managerLinks, 0)
      const relaying = stats.reduce((n, s) => n + s.relaying, 0)
      const managerPeers = swarm.manager.node.libp2p.getPeers().length
      note(`  transfer ${transfer.size}/${o.agents}, install ${install.size}/${o.agents}, run ${run.size}/${o.agents}; ${linked} agents connected to the manager (it has ${managerPeers} peers), ${relaying} relaying reports${memoryLine(stats)}`)
    }, () => {})
  }, Math.min(10_000, 1000 + o.agents * 10))
  try {
    const done = (targets: TargetRecord[]): boolean => {
      const quietMs = performance.now() - lastReportAt
      if (quietMs > REPORT_STALL_MS) throw new Error(`no agent reported for ${Math.round(quietMs / 1000)} s (transfer ${transfer.size}, install ${install.size}, run ${run.size} of ${o.agents})`)
      return targets.filter(t => t.History[task.id] === 'RUN-SUCCESS').length >= o.agents
    }
    // A large swarm on two cores is slow but reports all along (progress every 2 s): it is ended
    // when the reports stop, or after 10 s per agent.
    await waitForTargets(swarm.manager, done, Math.max(600_000, o.agents * 10_000), 'every agent\'s RUN SUCCESS')
  } finally {
    clearInterval(progress)
    clearInterval(serving)
    unsubscribe()
  }
  const detail = await swarm.manager.getTask(task.id)
  const manifest = await swarm.manager.store.getManifest(task.package.cid)
  return {
    packageBytes: task.package.bytes,
    chunks: manifest.chunks.length,
    runTimes: [...run.values()],
    transferTimes: [...transfer.values()],
    installTimes: [...install.values()],
    announceTimes: [...announce.values()],
    postSeconds,
    ...(firstServeSeconds === undefined ? {} : { firstServeSeconds }),
    originUploadBytes: detail.summary.managerUploadBytes,
    // Every agent verified every chunk and the package CID before install; RUN-SUCCESS implies it.
    allVerified: run.size === o.agents
  }
}

async function httpRun (data: Uint8Array, o: InprocessOptions): Promise<SystemFigures> {
  note(`HTTP fan-out: ${o.agents} clients download ${formatBytes(data.byteLength)} from one server capped at ${formatRate(o.originUp)}…`)
  const result = await runHttpBaseline(data, o.agents, o.originUp, 900_000)
  return systemFigures(result.times, result.originUploadBytes, data.byteLength, result.allVerified, lowerBoundSeconds(o.agents, data.byteLength, o.originUp, o.up))
}

/** Chunked broadcast bound: k chunks pipelined down a binomial tree of N+1 nodes: (k + log2(N+1) − 1) chunk times. */
function broadcastBound (agents: number, bytes: number, chunks: number, up: number): number {
  if (!Number.isFinite(up) || chunks === 0) return 0
  return (chunks + Math.ceil(Math.log2(agents + 1)) - 1) * (bytes / chunks) / up
}

/** Poll the registry until `check` holds; less often for large swarms (reading every target is not free). */
async function waitForTargets (manager: Manager, check: (targets: TargetRecord[]) => boolean, timeoutMs: number, what: string): Promise<void> {
  const everyMs = Math.min(2_000, 200 + manager.node.libp2p.getConnections().length * 2)
  await until(async () => check([...(await manager.listTargets({ page: 1, perPage: 100_000 })).items]), timeoutMs, what, everyMs)
}

function printSummary (r: RunRecord, o: InprocessOptions, files: string[]): void {
  const line = (label: string, s: RunRecord['systems'][string] | undefined): [string, string] => systemLine(label, s, r.packageBytes, formatBytes)
  const n = (key: string): number => Number(r[key] ?? 0)
  printResult([
    ['swarm', `${o.agents} agents ${o.workers > 1 ? `in ${o.workers} worker processes` : 'in-process'}, ${formatBytes(r.packageBytes)} package, agents ${formatRate(o.up)}, manager ${formatRate(o.originUp)}`],
    ['mesh', `${n('meanPeersAtSubmit')} peers per agent at submission (dial degree ${o.degree}, status relay ${o.relayStatus})`],
    ['lower bound', `${r.lowerBoundSeconds} s (broadcast bound ${r.broadcastBoundSeconds ?? '-'} s)`],
    line('pollen (REST → RUN)', r.systems.pollen),
    line('pollen (transfer)', r.systems.pollenTransfer),
    line('http fan-out', r.systems.http),
    line('helia (pnet)', r.systems.helia),
    line('helia (no pnet)', r.systems.heliaOpen),
    ['announce → receipt', `p50 ${n('announceLatencyP50Seconds')} s, p99 ${n('announceLatencyP99Seconds')} s (POST → 201 ${n('postSeconds')} s, first byte served ${r.firstServeSeconds ?? '-'} s; mesh settled ${n('meshSettleSeconds')} s before the POST)`],
    ['per agent', `${n('cpuSecondsPerAgent')} CPU s for the deployment (${n('startCpuSecondsPerAgent')} to start), ${formatBytes(n('peakRssBytesPerAgent'))} peak RSS`],
    ['processes', `manager ${formatBytes(n('managerProcessPeakRssBytes'))} peak RSS${(r.workerPeakRssBytes as number[]).length > 0 ? `, workers ${(r.workerPeakRssBytes as number[]).map(b => formatBytes(b)).join(', ')}` : ''}`],
    ['payloads', `${n('payloadsVerified')}/${o.agents} installed payloads hash to the package's`],
    ['files', files.join(', ')]
  ], r, o.json)
}
