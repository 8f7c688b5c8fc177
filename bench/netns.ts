/**
 * `bench netns`: the manager and every agent are real hosts, each a process
 * in its own network namespace, each link shaped with `tc tbf`. Topology
 * `lan`: one bridge. Topology `sites`: the manager's site and device sites
 * joined by a router whose link to each device site (the WAN) is shaped on
 * its own; agents find the others of their site by mDNS and the manager by
 * its bootstrap address, and the bytes crossing the WAN are counted on the
 * router. Pollen's full path (REST → signed task → swarm fetch → install →
 * RUN SUCCESS) beside HTTP fan-out from the manager's host over the same
 * links. Root only.
 */
import { createHash } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ChildProcess } from 'node:child_process'
import { NODE_DEFAULTS } from '../src/constants.ts'
import { formatBytes, type TargetRecord } from '../src/core/index.ts'
import { initSwarm } from '../src/node/index.ts'
import { onCleanup, seededBytes, tempRoot } from './common.ts'
import { buildCompiledCli } from './compiled.ts'
import { DEFAULT_QUEUE_MS, createLab, createSitesLab, labUnavailable, limitUnsent, peersOf, setCongestionControl, setQueue, setRtoMin, shaperCounts, type Lab, type LabHost, type SitesLab } from './lab.ts'
import { formatRate, lowerBoundSeconds, note, percentile, printResult, round } from './report.ts'
import { systemFigures, writeRunFiles, type RunRecord, type SystemFigures } from './results.ts'
import { BENCH_TASK, systemLine, until, writeBenchPackage, type HarnessOptions } from './harness.ts'
import { MANAGER_DEFAULTS } from '../src/constants.ts'

const BIN = fileURLToPath(new URL('../bin/pollen.js', import.meta.url))
const TOKEN = 'netns-bench-token'
const PORT = 4001
/** How long the idle swarm's CPU use is measured before the task goes out. */
const IDLE_WINDOW_MS = 5_000
/** A staggered launch moves on to the next agent after this long even if the one before has not started. */
const LAUNCH_WAIT_MS = 20_000
/**
 * Niceness of the agents' processes. In the field the manager has a machine
 * of its own; here 51 processes share the cores, and a manager given only
 * 1/51 of them stops accepting connections (one event-loop turn in 5 s was
 * measured at N = 50), its links time out, and every unlinked agent's reports
 * then cross relays, which loads the agents further. The agents all get the
 * same share among themselves. @default 10
 */
const AGENT_NICE = 10
/** Between two progress lines while the agents deploy. */
const PROGRESS_MS = 15_000

/** Options of {@link runNetnsBench}. */
export interface NetnsOptions extends HarnessOptions {
  readonly timeoutMs: number
  /** `lan`: one bridge; `sites`: device sites behind a router. @default 'lan' */
  readonly topology?: 'lan' | 'sites'
  /** Device sites; the agents are spread over them evenly. @default 1 */
  readonly sites?: number
  /** Cap of each device site's WAN link, each way (sites). @default 2 MiB/s */
  readonly wan?: number
  /** Uplink of each agent host in a device site. @default `up` */
  readonly lanRate?: number
  /** `compiled`: run the CLI compiled to JavaScript (built for the run); `source`: strip types at every start. @default 'compiled' */
  readonly launch?: 'compiled' | 'source'
  /** Agents starting at once: the next is launched when one has started its node (or after {@link LAUNCH_WAIT_MS}). @default 2 */
  readonly launchConcurrency?: number
  /** The manager's average chunk size (`pollen manager --chunk-avg`); undefined: its default. */
  readonly chunkAvg?: number
  /**
   * Share of its link rate at which every peer also caps its own upload
   * (`--upload-limit`); undefined: no cap but the link's.
   */
  readonly pace?: number
  /**
   * `net.ipv4.tcp_notsent_lowat` of every host, in bytes (0 or undefined:
   * the kernel's default, no limit). See `limitUnsent` in lab.ts.
   */
  readonly notsentLowat?: number
  /** Each agent's connection target (`pollen agent --connection-target`); undefined: the node default. */
  readonly connectionTarget?: number
  /** Queue of each host's shaped uplink in ms (`lan` only). @default DEFAULT_QUEUE_MS */
  readonly queueMs?: number
  /** Least TCP retransmission timeout of every host in ms (`setRtoMin`); undefined: the kernel's 200 ms. */
  readonly rtoMinMs?: number
  /** TCP congestion control of every host (`setCongestionControl`); undefined: the kernel's default. */
  readonly congestionControl?: string
}

/** The lab of one run and where its hosts are. */
interface Setup {
  readonly lab: Lab
  readonly manager: LabHost
  readonly agents: LabHost[]
  /** Peers each agent should be connected to before the task goes out. */
  readonly meshTarget: number
  readonly bound: (bytes: number) => number
  readonly wanBytes?: () => Promise<{ into: number, outOf: number }>
  readonly describe: string
}

/** Run the mode: builds the lab, runs both systems, tears the lab down. */
export async function runNetnsBench (o: NetnsOptions): Promise<void> {
  const why = await labUnavailable()
  if (why != null) {
    note(`netns: skipped: ${why}`)
    if (o.json) process.stdout.write(`${JSON.stringify({ mode: 'netns', skipped: why })}\n`)
    return
  }
  const root = await tempRoot('pollen-netns-')
  const setup = await buildSetup(o)
  onCleanup(async () => { await setup.lab.destroy() })
  try {
    const data = seededBytes(o.size, 7)
    if (o.notsentLowat != null && o.notsentLowat > 0) for (const host of setup.lab.hosts) await limitUnsent(host, o.notsentLowat)
    if (o.rtoMinMs != null) for (const host of setup.lab.hosts) await setRtoMin(host, o.rtoMinMs)
    if (o.congestionControl != null) for (const host of setup.lab.hosts) await setCongestionControl(host, o.congestionControl)
    if (o.queueMs != null && o.queueMs !== DEFAULT_QUEUE_MS && o.topology !== 'sites') {
      await setQueue(setup.manager, o.originUp, o.queueMs)
      for (const host of setup.agents) await setQueue(host, o.up, o.queueMs)
    }
    const pollen = await pollenRun(setup, root, data, o)
    const http = o.noHttp ? undefined : await httpRun(setup, root, data, o)
    const bound = setup.bound(pollen.packageBytes)
    const F = pollen.packageBytes
    const record: RunRecord = {
      mode: 'netns',
      topology: o.topology ?? 'lan',
      agents: o.agents,
      packageBytes: F,
      lowerBoundSeconds: round(bound),
      systems: {
        pollen: systemFigures(pollen.runTimes, pollen.originUploadBytes, F, pollen.runTimes.length === o.agents, bound),
        pollenTransfer: systemFigures(pollen.transferTimes, pollen.originUploadBytes, F, pollen.transferTimes.length === o.agents, bound),
        http: http?.figures ?? { skipped: 'run with --no-http' },
        helia: { skipped: 'not integrated yet' }
      },
      upBytesPerSecond: o.up,
      originUpBytesPerSecond: o.originUp,
      ...(o.topology === 'sites' ? { sites: o.sites ?? 1, wanBytesPerSecond: o.wan, lanBytesPerSecond: o.lanRate ?? o.up } : {}),
      managerLinkTxBytes: pollen.managerTxBytes,
      ...(pollen.wanBytes != null ? { wanBytes: pollen.wanBytes, wanRatio: round(pollen.wanBytes / F), wanOutBytes: pollen.wanOutBytes } : {}),
      ...(http?.wanBytes != null ? { httpWanBytes: http.wanBytes, httpWanRatio: round(http.wanBytes / F) } : {}),
      launch: o.launch ?? 'compiled',
      launchConcurrency: o.launchConcurrency ?? 2,
      chunkAvgBytes: o.chunkAvg ?? MANAGER_DEFAULTS.avgChunkBytes,
      pace: o.pace ?? null,
      agentNice: AGENT_NICE,
      connectionTarget: o.connectionTarget ?? NODE_DEFAULTS.connectionTarget,
      notsentLowatBytes: o.notsentLowat ?? 0,
      rtoMinMs: o.rtoMinMs ?? null,
      congestionControl: o.congestionControl ?? null,
      queueMs: o.topology === 'sites' ? DEFAULT_QUEUE_MS : o.queueMs ?? DEFAULT_QUEUE_MS,
      launchSeconds: round(pollen.launchSeconds),
      discoverySeconds: round(pollen.discoverySeconds),
      meshSeconds: round(pollen.meshSeconds),
      meshPeers: pollen.meshPeers,
      managerLinks: pollen.managerLinks,
      shaperDrops: pollen.shaperDrops,
      startCpuSecondsPerAgent: { p50: round(percentile(pollen.startCpuSeconds, 50)), max: round(Math.max(...pollen.startCpuSeconds)), mean: round(pollen.startCpuSeconds.reduce((a, b) => a + b, 0) / o.agents) },
      idleAgentCores: round(pollen.idleCores),
      /** What the manager's host sent per second while the swarm was idle (gossip, mDNS, adverts' answers). */
      idleManagerTxBytesPerSecond: Math.round(pollen.idleManagerTx),
      announceSeconds: round(pollen.announceSeconds),
      agentCpuSecondsPerMiB: round(pollen.agentCpuSeconds / (o.agents * F / 2 ** 20)),
      agentBusyCpuSecondsPerMiB: round((pollen.agentCpuSeconds - pollen.idleCores * Math.max(...pollen.transferTimes)) / (o.agents * F / 2 ** 20)),
      managerCpuSeconds: round(pollen.managerCpuSeconds)
    }
    const files = await writeRunFiles(o.out, record, o.plot)
    const line = (label: string, s: RunRecord['systems'][string] | undefined): [string, string] => systemLine(label, s, F, formatBytes)
    const ratio = (bytes: number | undefined): string => bytes == null ? '-' : `${formatBytes(bytes)} = ${(bytes / F).toFixed(2)} F`
    printResult([
      ['lab', setup.describe],
      ['package', formatBytes(F)],
      ['lower bound', `${record.lowerBoundSeconds} s`],
      ['start', `${o.launch ?? 'compiled'} CLI, ${o.launchConcurrency ?? 2} agents at a time: all started ${record.launchSeconds as number} s after the first, registered ${record.discoverySeconds as number} s, meshed ${record.meshSeconds as number} s after the manager's launch`],
      ['start-up CPU per agent', `p50 ${round(percentile(pollen.startCpuSeconds, 50))} s, max ${round(Math.max(...pollen.startCpuSeconds))} s (launch to mesh)`],
      ['mesh at submission', `peers per agent min ${pollen.meshPeers.min}, median ${pollen.meshPeers.median} (target ${setup.meshTarget})`],
      ['announcement', `${record.announceSeconds as number} s from the POST (times below are from the announcement)`],
      line('pollen (announce → RUN)', record.systems.pollen),
      line('pollen (transfer)', record.systems.pollenTransfer),
      line('http fan-out', record.systems.http),
      ['manager link', `${formatBytes(pollen.managerTxBytes)} sent during the deployment (all protocols)`],
      ...(setup.wanBytes != null ? [['WAN into sites', `pollen ${ratio(pollen.wanBytes)}, http ${ratio(http?.wanBytes)}`] as [string, string]] : []),
      ['idle CPU', `${record.idleAgentCores as number} cores for all agents together, meshed, before the task`],
      ['CPU', `agents ${record.agentCpuSecondsPerMiB as number} s per MiB received (${record.agentBusyCpuSecondsPerMiB as number} s above the idle load), manager ${record.managerCpuSeconds as number} s, until the last transfer`],
      ['files', files.join(', ')]
    ], record, o.json)
  } finally {
    await setup.lab.destroy()
  }
}

async function buildSetup (o: NetnsOptions): Promise<Setup> {
  if (o.topology !== 'sites') {
    note(`building a lab of ${o.agents + 1} hosts on one bridge (manager ${formatRate(o.originUp)}, agents ${formatRate(o.up)})…`)
    const lab = await createLab(o.agents + 1, [o.originUp, ...Array(o.agents).fill(o.up)])
    const [manager, ...agents] = lab.hosts as [LabHost, ...LabHost[]]
    return {
      lab,
      manager,
      agents,
      meshTarget: Math.min(o.agents, o.connectionTarget ?? NODE_DEFAULTS.connectionTarget),
      bound: bytes => lowerBoundSeconds(o.agents, bytes, o.originUp, o.up),
      describe: `${o.agents} agent hosts + manager host on one bridge; links shaped: agents ${formatRate(o.up)}, manager ${formatRate(o.originUp)}`
    }
  }
  const sites = o.sites ?? 1
  const wan = o.wan ?? 2 * 2 ** 20
  const lanRate = o.lanRate ?? o.up
  if (o.agents < sites) throw new Error(`${sites} sites need at least ${sites} agents`)
  const perSite = Array.from({ length: sites }, (_, s) => Math.floor(o.agents / sites) + (s < o.agents % sites ? 1 : 0))
  note(`building ${sites} device site(s) of ${perSite.join('/')} agents behind a router (WAN ${formatRate(wan)} each way, site LAN ${formatRate(lanRate)} per host, manager ${formatRate(o.originUp)})…`)
  const lab: SitesLab = await createSitesLab({ hostsPerSite: [1, ...perSite], rate: site => site === 0 ? o.originUp : lanRate, wanRate: wan })
  const [manager, ...agents] = lab.hosts as [LabHost, ...LabHost[]]
  return {
    lab,
    manager,
    agents,
    meshTarget: Math.min(Math.min(...perSite), o.connectionTarget ?? NODE_DEFAULTS.connectionTarget),
    bound: bytes => sitesBound(bytes, perSite, o.originUp, wan, lanRate),
    wanBytes: async () => await lab.wanBytes(),
    describe: `manager site (manager ${formatRate(o.originUp)}) + ${sites} device site(s) of ${perSite.join('/')} agents (${formatRate(lanRate)} per host) behind a router, WAN ${formatRate(wan)} per site each way`
  }
}

/**
 * Fluid lower bound of a sites deployment: every site must receive F over
 * its WAN link (no faster than the manager sends), and a site's agents
 * share what enters the site plus their own uplinks.
 */
/** `--upload-limit` at `pace` of a host's link rate (none without `pace`). */
function paced (linkRate: number, pace: number | undefined): string[] {
  return pace === undefined || !Number.isFinite(linkRate) ? [] : ['--upload-limit', String(Math.floor(linkRate * pace))]
}

function sitesBound (bytes: number, perSite: readonly number[], originUp: number, wan: number, lanRate: number): number {
  const entry = Math.min(wan, originUp)
  return Math.max(bytes / originUp, ...perSite.map(n => Math.max(bytes / entry, n * bytes / (entry + n * lanRate))))
}

interface PollenRun {
  packageBytes: number
  runTimes: number[]
  transferTimes: number[]
  originUploadBytes: number
  managerTxBytes: number
  wanBytes?: number
  wanOutBytes?: number
  discoverySeconds: number
  /** From the manager's start until every agent had started its node. */
  launchSeconds: number
  /** CPU seconds each agent used from its launch until the mesh was complete (or its wait ran out). */
  startCpuSeconds: number[]
  meshSeconds: number
  meshPeers: { min: number, median: number }
  /** Agents linked to the manager once meshed, and the fewest seen during the deployment. */
  managerLinks: { atMesh: number, min: number }
  /** Packets the shaped uplinks sent and dropped during the deployment: the manager's, and the agents' together. */
  shaperDrops: { manager: { sent: number, dropped: number }, agents: { sent: number, dropped: number } }
  /** Cores the agents used, together, while idle and meshed. */
  idleCores: number
  idleManagerTx: number
  announceSeconds: number
  agentCpuSeconds: number
  managerCpuSeconds: number
}

async function pollenRun (setup: Setup, root: string, data: Uint8Array, o: NetnsOptions): Promise<PollenRun> {
  const { lab, manager: managerHost, agents: agentHosts } = setup
  const keys = await initSwarm(join(root, 'keys'), 'netns')
  const bin = await cliFor(root, o.launch ?? 'compiled')
  const started = performance.now()
  const manager = lab.spawnIn(managerHost, process.execPath, [bin, 'manager', '--swarm', keys.swarmPath, '--key', keys.keyPath, '--data', join(root, 'manager'),
    '--api', `${managerHost.ip}:8080`, '--listen', `/ip4/${managerHost.ip}/tcp/${PORT}`, ...(o.chunkAvg == null ? [] : ['--chunk-avg', String(o.chunkAvg)]), ...paced(o.originUp, o.pace)],
  { env: { POLLEN_TOKEN: TOKEN }, logFile: join(root, 'manager.log') })
  const addr = await lineMatching(manager, /listening on (\S+)/, 60_000)
  const api = `http://${managerHost.ip}:8080`
  const agentRate = o.topology === 'sites' ? o.lanRate ?? o.up : o.up
  const launched = await launchAgents(agentHosts.length, o.launchConcurrency ?? 2, i => {
    const host = agentHosts[i]!
    return lab.spawnIn(host, process.execPath, [bin, 'agent', '--swarm', keys.swarmPath, '--data', join(root, `agent-${i}`), '--id', `agent-${String(i).padStart(3, '0')}`,
      '--tags', 'bench', '--listen', `/ip4/${host.ip}/tcp/${PORT}`, '--bootstrap', addr, ...paced(agentRate, o.pace),
      ...(o.connectionTarget == null ? [] : ['--connection-target', String(o.connectionTarget)])], { logFile: join(root, `agent-${i}.log`), nice: AGENT_NICE })
  })
  const { agents } = launched
  note(`${o.agents} agents started their nodes after ${launched.seconds.toFixed(1)} s (${o.launchConcurrency ?? 2} at a time)`)
  await until(async () => await get<{ total: number }>(api, '/targets').then(r => r.total >= o.agents, () => false), o.timeoutMs, 'agents to register', 500)
  const discoverySeconds = (performance.now() - started) / 1000
  note(`${o.agents} agents registered after ${discoverySeconds.toFixed(1)} s; waiting for each to have ${setup.meshTarget} peers…`)
  const meshPeers = await awaitMesh(agentHosts, setup.meshTarget, Math.min(o.timeoutMs, 120_000))
  const meshSeconds = (performance.now() - started) / 1000
  const startCpu = await Promise.all(agents.map(cpuSecondsOf))
  const linksAtMesh = await peersOf(managerHost, PORT)
  note(`mesh: peers per agent min ${meshPeers.min}, median ${meshPeers.median}; manager linked to ${linksAtMesh} agents; start-up CPU per agent p50 ${percentile(startCpu, 50).toFixed(2)} s, max ${Math.max(...startCpu).toFixed(2)} s; deploying ${formatBytes(data.byteLength)}…`)
  const idleTxBefore = await lab.txBytes(managerHost)
  const idleCores = await idleLoad(agents, IDLE_WINDOW_MS)
  const idleManagerTx = (await lab.txBytes(managerHost) - idleTxBefore) / (IDLE_WINDOW_MS / 1000)
  note(`idle swarm: ${idleCores.toFixed(2)} cores for ${o.agents} agents (gossip heartbeats, mDNS, adverts); the manager sent ${formatRate(idleManagerTx)} of its ${formatRate(o.originUp)}`)
  const shaperBefore = await Promise.all([managerHost, ...agentHosts].map(shaperCounts))
  const txBefore = await lab.txBytes(managerHost)
  const wanBefore = await setup.wanBytes?.()
  const packageFile = await writeBenchPackage(root, data)
  const posted = Date.now()
  const task = JSON.parse(await postFromManagerHost(lab, managerHost, `${api}/tasks`, packageFile)) as { id: string, createdAt: string, package: { bytes: number } }
  // From the announcement (the POST returns right after it), not the upload: the agents' work only.
  const cpuBefore = await Promise.all([manager, ...agents].map(cpuSecondsOf))
  const announced = Date.parse(task.createdAt)
  const transfer = new Map<string, number>()
  const ran = new Map<string, number>()
  let cpuAfter: number[] | undefined
  const managerLinks = { atMesh: linksAtMesh, min: linksAtMesh }
  const progress = setInterval(() => {
    void peersOf(managerHost, PORT).then(links => {
      managerLinks.min = Math.min(managerLinks.min, links)
      note(`${Math.round((Date.now() - announced) / 1000)} s: ${transfer.size}/${o.agents} transferred, ${ran.size}/${o.agents} running; manager linked to ${links} agents; load ${loadavg()[0]!.toFixed(1)}`)
    }, () => {})
  }, PROGRESS_MS)
  await until(async () => {
    // A manager too busy to answer one poll (a loaded machine) is asked again; a FAILURE ends the run.
    const targets = await get<{ items: TargetRecord[] }>(api, '/targets?perPage=500').catch(() => undefined)
    for (const target of targets?.items ?? []) {
      const logs = target.Task?.ID === task.id ? target.Task.StageLogs : undefined
      if (logs?.Transfer?.Status === 'SUCCESS' && !transfer.has(target.ID)) transfer.set(target.ID, (Date.parse(logs.Transfer.Updated) - announced) / 1000)
      if (target.History[task.id] === 'RUN-SUCCESS' && !ran.has(target.ID)) {
        ran.set(target.ID, (logs?.Run?.Status === 'SUCCESS' ? Date.parse(logs.Run.Updated) - announced : Date.now() - announced) / 1000)
      }
      if (/FAILURE|DECLINED/.test(target.History[task.id] ?? '')) throw new Error(`${target.ID}: ${target.History[task.id]}`)
    }
    if (cpuAfter === undefined && transfer.size >= o.agents) cpuAfter = await Promise.all([manager, ...agents].map(cpuSecondsOf))
    return ran.size >= o.agents
  }, o.timeoutMs, 'every agent to run the task', 1000).finally(() => { clearInterval(progress) })
  const shaperAfter = await Promise.all([managerHost, ...agentHosts].map(shaperCounts))
  const shaper = shaperAfter.map((after, i) => ({ sent: after.sent - shaperBefore[i]!.sent, dropped: after.dropped - shaperBefore[i]!.dropped }))
  const agentShaper = shaper.slice(1).reduce((a, b) => ({ sent: a.sent + b.sent, dropped: a.dropped + b.dropped }), { sent: 0, dropped: 0 })
  note(`shaped uplinks dropped ${shaper[0]!.dropped} of the manager's ${shaper[0]!.sent + shaper[0]!.dropped} packets and ${agentShaper.dropped} of the agents' ${agentShaper.sent + agentShaper.dropped}`)
  const detail = await get<{ summary: { managerUploadBytes: number } }>(api, `/tasks/${task.id}`)
  const wanAfter = await setup.wanBytes?.()
  const cpu = cpuAfter!.map((after, i) => after - cpuBefore[i]!)
  return {
    packageBytes: task.package.bytes,
    runTimes: [...ran.values()],
    transferTimes: [...transfer.values()],
    originUploadBytes: detail.summary.managerUploadBytes,
    managerTxBytes: (await lab.txBytes(managerHost)) - txBefore,
    ...(wanBefore != null && wanAfter != null ? { wanBytes: wanAfter.into - wanBefore.into, wanOutBytes: wanAfter.outOf - wanBefore.outOf } : {}),
    discoverySeconds,
    launchSeconds: launched.seconds,
    startCpuSeconds: startCpu,
    meshSeconds,
    meshPeers,
    managerLinks,
    shaperDrops: { manager: shaper[0]!, agents: agentShaper },
    idleCores,
    idleManagerTx,
    announceSeconds: (announced - posted) / 1000,
    managerCpuSeconds: cpu[0]!,
    agentCpuSeconds: cpu.slice(1).reduce((a, b) => a + b, 0)
  }
}

/** The `bin/pollen.js` to run: the repository's (types stripped at every start) or one of a compiled copy built for this run. */
async function cliFor (root: string, launch: 'compiled' | 'source'): Promise<string> {
  if (launch === 'source') return BIN
  const t0 = performance.now()
  const bin = await buildCompiledCli(join(root, 'cli'))
  note(`compiled the CLI in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  return bin
}

/**
 * Launch `count` agents, at most `concurrency` starting at a time: a start
 * ends when the agent prints its banner (its node is up), exits, or after
 * {@link LAUNCH_WAIT_MS}. 51 processes loading libp2p and shaking hands at
 * once on a small machine starve each other past libp2p's timeouts.
 */
async function launchAgents (count: number, concurrency: number, spawnOne: (i: number) => ChildProcess): Promise<{ agents: ChildProcess[], seconds: number }> {
  const t0 = performance.now()
  const agents: ChildProcess[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++
      const agent = spawnOne(i)
      agents[i] = agent
      await new Promise<void>(resolve => {
        const timer = setTimeout(done, LAUNCH_WAIT_MS)
        const lines = createInterface({ input: agent.stdout! })
        lines.on('line', line => { if (line.startsWith('agent ')) done() })
        agent.once('exit', done)
        function done (): void { clearTimeout(timer); resolve() }
      })
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, worker))
  return { agents, seconds: (performance.now() - t0) / 1000 }
}

/** Wait until every agent has `target` peers connected (or the time is up: the run goes on, and reports what it had). */
async function awaitMesh (hosts: readonly LabHost[], target: number, timeoutMs: number): Promise<{ min: number, median: number }> {
  let counts: number[] = []
  await until(async () => {
    counts = await Promise.all(hosts.map(async host => await peersOf(host, PORT)))
    return Math.min(...counts) >= target
  }, timeoutMs, 'the mesh', 1000).catch(err => { note(`mesh incomplete: ${(err as Error).message}`) })
  return { min: Math.min(...counts), median: percentile(counts, 50) }
}

/**
 * POST the task with `packageFile` by curl run on the manager's own host:
 * the upload is no part of what is timed, and it then does not depend on
 * the lab's links (at N = 50, before `makeNeighbourRoom`, the bench's
 * connections to the manager failed when the kernel's ARP table was full).
 * Resolves with the response body.
 */
async function postFromManagerHost (lab: Lab, host: LabHost, url: string, packageFile: string): Promise<string> {
  const { code, out } = await outputOf(lab.spawnIn(host, 'curl', ['-sS', '--max-time', '120', '-w', '\n%{http_code}', '-H', `authorization: Bearer ${TOKEN}`,
    '--form-string', `task=${BENCH_TASK}`, '-F', `package=@${packageFile};filename=package.tar`, url]))
  const status = out.slice(out.lastIndexOf('\n') + 1)
  const body = out.slice(0, out.lastIndexOf('\n'))
  if (code !== 0 || status !== '201') throw new Error(`POST /tasks from the manager's host: curl exit ${code}, HTTP ${status}: ${body.slice(0, 500)}`)
  return body
}

/** What a child wrote to stdout, and its exit code, once it has exited. */
async function outputOf (child: ChildProcess): Promise<{ code: number | null, out: string }> {
  let out = ''
  child.stdout!.on('data', (chunk: Buffer) => { out += chunk.toString() })
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
  return { code, out }
}

/** Cores `children` use together over `ms` (CPU seconds per second). */
async function idleLoad (children: readonly ChildProcess[], ms: number): Promise<number> {
  const before = await Promise.all(children.map(cpuSecondsOf))
  await new Promise(resolve => setTimeout(resolve, ms))
  const after = await Promise.all(children.map(cpuSecondsOf))
  return after.reduce((sum, cpu, i) => sum + cpu - before[i]!, 0) / (ms / 1000)
}

/** User + system CPU seconds of a child (`ip netns exec` execs the command, so the pid is the command's). */
async function cpuSecondsOf (child: ChildProcess): Promise<number> {
  const stat = await readFile(`/proc/${child.pid}/stat`, 'utf8').catch(() => '')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / 100
}

interface HttpRun {
  figures: SystemFigures
  wanBytes?: number
}

/** HTTP fan-out: a plain HTTP server on the manager's host, every agent host downloads with curl and checks the hash. */
async function httpRun (setup: Setup, root: string, data: Uint8Array, o: NetnsOptions): Promise<HttpRun> {
  const { lab, manager: managerHost, agents: agentHosts } = setup
  const dir = join(root, 'http')
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'payload.bin'), data)
  const expected = createHash('sha256').update(data).digest('hex')
  const txBefore = await lab.txBytes(managerHost)
  const server = lab.spawnIn(managerHost, 'python3', ['-m', 'http.server', '8081', '--bind', managerHost.ip, '--directory', dir])
  await until(async () => await fetch(`http://${managerHost.ip}:8081/`).then(r => r.ok, () => false), 30_000, 'the HTTP server', 500)
  note(`HTTP fan-out: ${o.agents} hosts download ${formatBytes(data.byteLength)} at once…`)
  const wanBefore = await setup.wanBytes?.()
  const t0 = performance.now()
  const results = await Promise.all(agentHosts.map(async host => {
    const { out } = await outputOf(lab.spawnIn(host, 'sh', ['-c', `curl -sf http://${managerHost.ip}:8081/payload.bin | sha256sum`]))
    return { seconds: (performance.now() - t0) / 1000, ok: out.startsWith(expected) }
  }))
  const wanAfter = await setup.wanBytes?.()
  server.kill('SIGKILL')
  const sent = (await lab.txBytes(managerHost)) - txBefore
  const figures = systemFigures(results.map(r => r.seconds), sent, data.byteLength, results.every(r => r.ok), setup.bound(data.byteLength))
  return { figures, ...(wanBefore != null && wanAfter != null ? { wanBytes: wanAfter.into - wanBefore.into } : {}) }
}

async function get<T> (api: string, path: string): Promise<T> {
  const res = await fetch(`${api}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })
  if (!res.ok) throw new Error(`GET ${path}: ${res.status}`)
  return await res.json() as T
}

/** The first capture of `pattern` in the child's stdout; the rest of its output keeps being drained. */
async function lineMatching (child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<string> {
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms`)) }, timeoutMs)
    const lines = createInterface({ input: child.stdout! })
    lines.on('line', line => {
      const match = pattern.exec(line)
      if (match != null) { clearTimeout(timer); resolve(match[1]!) }
    })
    child.once('exit', () => { clearTimeout(timer); reject(new Error(`process exited before printing ${pattern}`)) })
  })
}
