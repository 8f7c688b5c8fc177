/**
 * `bench inprocess`: the full Pollen path on loopback, in this process — a
 * manager with its REST API and N agents (real libp2p nodes, private
 * network, gossip, chunk exchange, install and run) — beside the HTTP
 * fan-out baseline under the same upload caps, against the lower bound.
 */
import { join } from 'node:path'
import { createAgent, type Agent } from '../src/agent/index.ts'
import { createApi } from '../src/api/index.ts'
import { formatBytes, type TargetRecord } from '../src/core/index.ts'
import { createManager, type Manager } from '../src/manager/index.ts'
import { initSwarm, readManagerKey } from '../src/node/index.ts'
import { runHttpBaseline } from './http-baseline.ts'
import { cpuSecondsNow, peakRssNow, seededBytes, tempRoot } from './common.ts'
import { formatRate, lowerBoundSeconds, note, percentile, printResult, round } from './report.ts'
import { systemFigures, writeRunFiles, type RunRecord, type SystemFigures } from './results.ts'
import { benchTaskForm, systemLine, until, type HarnessOptions } from './harness.ts'

/** Options of {@link runInprocessBench}. */
export type InprocessOptions = HarnessOptions

interface Swarm { manager: Manager, agents: Agent[], url: string, token: string, close: () => Promise<void> }

/** Run the mode and print its summary (and JSON line). */
export async function runInprocessBench (o: InprocessOptions): Promise<void> {
  const root = await tempRoot('pollen-inprocess-')
  const data = seededBytes(o.size, 42)
  const startedAt = performance.now()
  note(`starting a manager and ${o.agents} agents in this process…`)
  const swarm = await startSwarm(root, o)
  const discoverySeconds = (performance.now() - startedAt) / 1000
  const meanPeers = swarm.agents.reduce((n, a) => n + a.node.libp2p.getPeers().length, 0) / o.agents
  const cpuBefore = cpuSecondsNow()
  let pollen: PollenRun
  try {
    pollen = await deploy(swarm, root, data, o)
  } finally {
    await swarm.close()
  }
  const cpuSeconds = cpuSecondsNow() - cpuBefore
  const http = o.noHttp ? undefined : await httpRun(data, o)
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
      helia: { skipped: 'not integrated yet: Helia/bitswap is not among the project dependencies (next step of the harness)' }
    },
    upBytesPerSecond: Number.isFinite(o.up) ? o.up : null,
    originUpBytesPerSecond: Number.isFinite(o.originUp) ? o.originUp : null,
    agentUploadBytes: pollen.agentUploadBytes,
    duplicateRatio: round(Math.max(0, (pollen.originUploadBytes + pollen.agentUploadBytes) / (o.agents * pollen.packageBytes) - 1)),
    announceLatencyP50Seconds: round(percentile(pollen.announceTimes, 50)),
    announceLatencyP99Seconds: round(percentile(pollen.announceTimes, 99)),
    discoverySeconds: round(discoverySeconds),
    /** Connected peers per agent when the task was submitted (the manager included). */
    meanPeersAtSubmit: round(meanPeers, 1),
    cpuSecondsPerAgent: round(cpuSeconds / o.agents),
    peakRssBytesPerAgent: Math.round(peakRssNow() / (o.agents + 1))
  }
  const files = await writeRunFiles(o.out, record, o.plot)
  printSummary(record, o, files)
}

interface PollenRun {
  packageBytes: number
  chunks: number
  runTimes: number[]
  transferTimes: number[]
  announceTimes: number[]
  originUploadBytes: number
  agentUploadBytes: number
  allVerified: boolean
}

async function startSwarm (root: string, o: InprocessOptions): Promise<Swarm> {
  const keys = await initSwarm(join(root, 'keys'), 'bench')
  const token = 'bench-token'
  const manager = createManager({
    swarm: keys.swarm,
    managerKey: await readManagerKey(keys.keyPath),
    dataDir: join(root, 'manager'),
    node: { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false },
    uploadBytesPerSecond: o.originUp,
    operatorToken: token
  })
  await manager.start()
  const api = await createApi({ service: manager, processMetrics: false, uploadDir: root })
  await api.listen({ host: '127.0.0.1', port: 0 })
  const { port } = api.server.address() as { port: number }
  const bootstrap = [manager.node.addresses()[0]!.toString()]
  const agents: Agent[] = []
  for (let i = 0; i < o.agents; i++) {
    const agent = createAgent({
      swarm: keys.swarm,
      dataDir: join(root, `agent-${i}`),
      id: `agent-${String(i).padStart(4, '0')}`,
      tags: ['bench'],
      node: { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap },
      uploadBytesPerSecond: o.up,
      runSettleMs: 200
    })
    await agent.start()
    agents.push(agent)
  }
  const close = async (): Promise<void> => {
    await Promise.all(agents.map(async a => { await a.stop() }))
    await api.close()
    await manager.stop()
  }
  try {
    await waitForTargets(manager, targets => targets.length >= o.agents, 120_000)
  } catch (err) {
    await close()
    throw err
  }
  return { manager, agents, url: `http://127.0.0.1:${port}`, token, close }
}

/** Submit the task over REST and time each agent's Transfer and Run SUCCESS from the submission. */
async function deploy (swarm: Swarm, root: string, data: Uint8Array, o: InprocessOptions): Promise<PollenRun> {
  const form = await benchTaskForm(root, data)
  const transfer = new Map<string, number>()
  const run = new Map<string, number>()
  const announce = new Map<string, number>()
  let taskId = ''
  let t0 = 0
  const unsubscribe = swarm.manager.subscribe(event => {
    if (event.topic !== 'target' || taskId === '' || event.payload.Task?.ID !== taskId) return
    const at = (performance.now() - t0) / 1000
    const logs = event.payload.Task.StageLogs
    if (logs.Transfer != null && !announce.has(event.payload.ID)) announce.set(event.payload.ID, at)
    if (logs.Transfer?.Status === 'SUCCESS' && !transfer.has(event.payload.ID)) transfer.set(event.payload.ID, at)
    if (logs.Run?.Status === 'SUCCESS' && !run.has(event.payload.ID)) run.set(event.payload.ID, at)
  })
  t0 = performance.now()
  const res = await fetch(`${swarm.url}/tasks`, { method: 'POST', body: form, headers: { authorization: `Bearer ${swarm.token}` } })
  if (res.status !== 201) throw new Error(`POST /tasks: ${res.status} ${await res.text()}`)
  const task = await res.json() as { id: string, package: { cid: string, bytes: number } }
  taskId = task.id
  note(`task ${task.id}: ${formatBytes(task.package.bytes)} to ${o.agents} agents`)
  const progress = setInterval(() => { note(`  transfer ${transfer.size}/${o.agents}, run ${run.size}/${o.agents}`) }, 1000)
  try {
    await waitForTargets(swarm.manager, targets => targets.filter(t => t.History[task.id] === 'RUN-SUCCESS').length >= o.agents, 600_000)
  } finally {
    clearInterval(progress)
    unsubscribe()
  }
  const detail = await swarm.manager.getTask(task.id)
  const manifest = await swarm.manager.store.getManifest(task.package.cid)
  return {
    packageBytes: task.package.bytes,
    chunks: manifest.chunks.length,
    runTimes: [...run.values()],
    transferTimes: [...transfer.values()],
    announceTimes: [...announce.values()],
    originUploadBytes: detail.summary.managerUploadBytes,
    agentUploadBytes: swarm.agents.reduce((sum, a) => sum + a.exchange.stats().uploadedBytes, 0),
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

async function waitForTargets (manager: Manager, check: (targets: TargetRecord[]) => boolean, timeoutMs: number): Promise<void> {
  await until(async () => check([...(await manager.listTargets({ page: 1, perPage: 100_000 })).items]), timeoutMs, 'the targets', 200)
}

function printSummary (r: RunRecord, o: InprocessOptions, files: string[]): void {
  const line = (label: string, s: RunRecord['systems'][string] | undefined): [string, string] => systemLine(label, s, r.packageBytes, formatBytes)
  const n = (key: string): number => Number(r[key] ?? 0)
  printResult([
    ['swarm', `${o.agents} agents in-process, ${formatBytes(r.packageBytes)} package, agents ${formatRate(o.up)}, manager ${formatRate(o.originUp)}`],
    ['lower bound', `${r.lowerBoundSeconds} s (broadcast bound ${r.broadcastBoundSeconds ?? '-'} s)`],
    line('pollen (REST → RUN)', r.systems.pollen),
    line('pollen (transfer)', r.systems.pollenTransfer),
    line('http fan-out', r.systems.http),
    line('helia', r.systems.helia),
    ['announce → receipt', `p50 ${n('announceLatencyP50Seconds')} s, p99 ${n('announceLatencyP99Seconds')} s`],
    ['per agent', `${n('cpuSecondsPerAgent')} CPU s, ${formatBytes(n('peakRssBytesPerAgent'))} peak RSS`],
    ['files', files.join(', ')]
  ], r, o.json)
}
