/**
 * `bench netns`: every agent a real host in its own network namespace on a
 * bridge (topology `lan`), each link shaped with `tc tbf`, the manager on a
 * host of its own. Pollen's full path (REST → signed task → swarm fetch →
 * install → RUN SUCCESS) beside HTTP fan-out from the manager's host under
 * the same shaped links. Root only.
 */
import { createHash } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ChildProcess } from 'node:child_process'
import { formatBytes, type TargetRecord } from '../src/core/index.ts'
import { initSwarm } from '../src/node/index.ts'
import { onCleanup, seededBytes, tempRoot } from './common.ts'
import { createLab, labUnavailable, type Lab, type LabHost } from './lab.ts'
import { formatRate, lowerBoundSeconds, note, printResult, round } from './report.ts'
import { systemFigures, writeRunFiles, type RunRecord, type SystemFigures } from './results.ts'
import { benchTaskForm, systemLine, until, type HarnessOptions } from './harness.ts'

const BIN = fileURLToPath(new URL('../bin/pollen.js', import.meta.url))
const TOKEN = 'netns-bench-token'

/** Options of {@link runNetnsBench}. */
export interface NetnsOptions extends HarnessOptions {
  readonly timeoutMs: number
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
  note(`building a lab of ${o.agents + 1} hosts (manager ${formatRate(o.originUp)}, agents ${formatRate(o.up)})…`)
  const lab = await createLab(o.agents + 1, [o.originUp, ...Array(o.agents).fill(o.up)])
  onCleanup(async () => { await lab.destroy() })
  try {
    const data = seededBytes(o.size, 7)
    const pollen = await pollenRun(lab, root, data, o)
    const http = o.noHttp ? undefined : await httpRun(lab, root, data, o)
    const bound = lowerBoundSeconds(o.agents, pollen.packageBytes, o.originUp, o.up)
    const record: RunRecord = {
      mode: 'netns',
      topology: 'lan',
      agents: o.agents,
      packageBytes: pollen.packageBytes,
      lowerBoundSeconds: round(bound),
      systems: {
        pollen: systemFigures(pollen.runTimes, pollen.originUploadBytes, pollen.packageBytes, pollen.runTimes.length === o.agents, bound),
        pollenTransfer: systemFigures(pollen.transferTimes, pollen.originUploadBytes, pollen.packageBytes, pollen.runTimes.length === o.agents, bound),
        http: http ?? { skipped: 'run with --no-http' },
        helia: { skipped: 'not integrated yet' }
      },
      upBytesPerSecond: o.up,
      originUpBytesPerSecond: o.originUp,
      managerLinkTxBytes: pollen.managerTxBytes,
      discoverySeconds: round(pollen.discoverySeconds)
    }
    const files = await writeRunFiles(o.out, record, o.plot)
    const line = (label: string, s: RunRecord['systems'][string] | undefined): [string, string] => systemLine(label, s, pollen.packageBytes, formatBytes)
    printResult([
      ['lab', `${o.agents} agent hosts + manager host on one bridge; links shaped: agents ${formatRate(o.up)}, manager ${formatRate(o.originUp)}`],
      ['package', formatBytes(pollen.packageBytes)],
      ['lower bound', `${record.lowerBoundSeconds} s`],
      line('pollen (REST → RUN)', record.systems.pollen),
      line('pollen (transfer)', record.systems.pollenTransfer),
      line('http fan-out', record.systems.http),
      ['manager link', `${formatBytes(pollen.managerTxBytes)} sent during the deployment (all protocols)`],
      ['files', files.join(', ')]
    ], record, o.json)
  } finally {
    await lab.destroy()
  }
}

interface PollenRun {
  packageBytes: number
  runTimes: number[]
  transferTimes: number[]
  originUploadBytes: number
  managerTxBytes: number
  discoverySeconds: number
}

async function pollenRun (lab: Lab, root: string, data: Uint8Array, o: NetnsOptions): Promise<PollenRun> {
  const keys = await initSwarm(join(root, 'keys'), 'netns')
  const [managerHost, ...agentHosts] = lab.hosts as [LabHost, ...LabHost[]]
  const started = performance.now()
  const manager = lab.spawnIn(managerHost, process.execPath, [BIN, 'manager', '--swarm', keys.swarmPath, '--key', keys.keyPath, '--data', join(root, 'manager'),
    '--api', `${managerHost.ip}:8080`, '--listen', `/ip4/${managerHost.ip}/tcp/4001`], { env: { POLLEN_TOKEN: TOKEN }, logFile: join(root, 'manager.log') })
  const addr = await lineMatching(manager, /listening on (\S+)/, 60_000)
  const api = `http://${managerHost.ip}:8080`
  for (const [i, host] of agentHosts.entries()) {
    const agent = lab.spawnIn(host, process.execPath, [BIN, 'agent', '--swarm', keys.swarmPath, '--data', join(root, `agent-${i}`), '--id', `agent-${String(i).padStart(3, '0')}`,
      '--tags', 'bench', '--listen', `/ip4/${host.ip}/tcp/4001`, '--bootstrap', addr], { logFile: join(root, `agent-${i}.log`) })
    agent.stdout!.resume()
  }
  await until(async () => await get<{ total: number }>(api, '/targets').then(r => r.total >= o.agents, () => false), o.timeoutMs, 'agents to register', 500)
  const discoverySeconds = (performance.now() - started) / 1000
  note(`${o.agents} agents registered after ${discoverySeconds.toFixed(1)} s; deploying ${formatBytes(data.byteLength)}…`)
  const txBefore = await lab.txBytes(managerHost)
  const form = await benchTaskForm(root, data)
  const t0 = performance.now()
  const res = await fetch(`${api}/tasks`, { method: 'POST', body: form, headers: { authorization: `Bearer ${TOKEN}` } })
  if (res.status !== 201) throw new Error(`POST /tasks: ${res.status} ${await res.text()}`)
  const task = await res.json() as { id: string, package: { bytes: number } }
  const transfer = new Map<string, number>()
  const ran = new Map<string, number>()
  await until(async () => {
    const at = (performance.now() - t0) / 1000
    for (const target of (await get<{ items: TargetRecord[] }>(api, '/targets?perPage=500')).items) {
      if (target.Task?.ID === task.id && target.Task.StageLogs.Transfer?.Status === 'SUCCESS' && !transfer.has(target.ID)) transfer.set(target.ID, at)
      if (target.History[task.id] === 'RUN-SUCCESS' && !ran.has(target.ID)) ran.set(target.ID, at)
      if (/FAILURE|DECLINED/.test(target.History[task.id] ?? '')) throw new Error(`${target.ID}: ${target.History[task.id]}`)
    }
    return ran.size >= o.agents
  }, o.timeoutMs, 'every agent to run the task', 200)
  const detail = await get<{ summary: { managerUploadBytes: number } }>(api, `/tasks/${task.id}`)
  return {
    packageBytes: task.package.bytes,
    runTimes: [...ran.values()],
    transferTimes: [...transfer.values()],
    originUploadBytes: detail.summary.managerUploadBytes,
    managerTxBytes: (await lab.txBytes(managerHost)) - txBefore,
    discoverySeconds
  }
}

/** HTTP fan-out: a plain HTTP server on the manager's host, every agent host downloads with curl and checks the hash. */
async function httpRun (lab: Lab, root: string, data: Uint8Array, o: NetnsOptions): Promise<SystemFigures> {
  const [managerHost, ...agentHosts] = lab.hosts as [LabHost, ...LabHost[]]
  const dir = join(root, 'http')
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'payload.bin'), data)
  const expected = createHash('sha256').update(data).digest('hex')
  const txBefore = await lab.txBytes(managerHost)
  const server = lab.spawnIn(managerHost, 'python3', ['-m', 'http.server', '8081', '--bind', managerHost.ip, '--directory', dir])
  await until(async () => await fetch(`http://${managerHost.ip}:8081/`).then(r => r.ok, () => false), 30_000, 'the HTTP server', 500)
  note(`HTTP fan-out: ${o.agents} hosts download ${formatBytes(data.byteLength)} at once…`)
  const t0 = performance.now()
  const results = await Promise.all(agentHosts.map(async host => {
    const child = lab.spawnIn(host, 'sh', ['-c', `curl -sf http://${managerHost.ip}:8081/payload.bin | sha256sum`])
    let out = ''
    child.stdout!.on('data', d => { out += String(d) })
    await new Promise(resolve => child.once('exit', resolve))
    return { seconds: (performance.now() - t0) / 1000, ok: out.startsWith(expected) }
  }))
  server.kill('SIGKILL')
  const sent = (await lab.txBytes(managerHost)) - txBefore
  return systemFigures(results.map(r => r.seconds), sent, data.byteLength, results.every(r => r.ok), lowerBoundSeconds(o.agents, data.byteLength, o.originUp, o.up))
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
