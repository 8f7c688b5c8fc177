/**
 * `pollen demo` (the README's `npm start`): a manager and several agents as
 * separate processes on loopback deploy a sample package with install and
 * run stages, end to end through the REST API, with live progress, a final
 * per-target table and the bytes the manager uploaded against the package.
 */
import type { Command } from 'commander'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Table from 'cli-table3'
import * as tar from 'tar'
import { formatBytes, InvalidOptionError, parseBytes, parseRate, type TargetRecord } from '../core/index.ts'
import { initSwarm } from '../node/index.ts'
import type { TaskDetail } from '../api/index.ts'
import { startPollen, type PollenProcess } from './processes.ts'
import { untilSignal } from './shared.ts'
import { createProgress } from './demo-progress.ts'

interface DemoFlags { agents: string, size: string, up: string, keep?: boolean, timeout: string }

/** `pollen demo`. */
export function registerDemo (program: Command): void {
  program.command('demo')
    .description('deploy a sample package to a manager and N agents running as processes on this machine, end to end')
    .option('--agents <n>', 'number of agents', '6')
    .option('--size <size>', 'size of the sample package payload', '16MiB')
    .option('--up <rate>', 'upload cap of the manager and of every agent', '8MiB/s')
    .option('--timeout <seconds>', 'give up after this long', '300')
    .option('--keep', 'keep the swarm running afterwards (prints the API URL and token) until Ctrl-C')
    .action(async (flags: DemoFlags) => { process.exitCode = await demo(flags) })
}

const APP_SCRIPT = `#!/bin/sh
# The sample program: says hello, then beats until it is stopped.
echo "hello from $POLLEN_TARGET_ID, running task $POLLEN_TASK_ID" > hello.txt
while true; do date +%s > heartbeat; sleep 2; done
`

const TASK = `description: Pollen demo - a sample app with an install and a run stage
stages:
  transfer:
    - app
  install:
    - mv app/* .
    - chmod +x run.sh
    - sha256sum payload.bin > payload.sha256
  run:
    - ./run.sh
target:
  tags:
    - demo
run:
  restart: on-failure
`

interface Swarm { readonly manager: PollenProcess, readonly agents: PollenProcess[], readonly url: string, readonly token: string }

async function demo (flags: DemoFlags): Promise<number> {
  const count = Number(flags.agents)
  if (!Number.isSafeInteger(count) || count < 1 || count > 64) throw new InvalidOptionError('--agents must be an integer from 1 to 64')
  const size = parseBytes(flags.size)
  const up = parseRate(flags.up)
  const timeoutMs = Number(flags.timeout) * 1000
  const root = await mkdtemp(join(tmpdir(), 'pollen-demo-'))
  let swarm: Swarm | undefined
  try {
    process.stdout.write(`Pollen demo: 1 manager + ${count} agents as processes on loopback, every upload capped at ${formatBytes(up)}/s\n`)
    swarm = await startSwarm(root, count, up)
    const packageDir = await samplePackage(root, size)
    const task = await submit(swarm, packageDir)
    process.stdout.write(`task ${task.id}: package ${task.package!.cid.slice(0, 16)}… (${formatBytes(task.package!.bytes)}) for targets tagged "demo"\n`)
    const detail = await follow(swarm, task.id, count, timeoutMs)
    const targets = await api<{ items: TargetRecord[] }>(swarm, '/targets?perPage=500')
    const ok = await report(root, detail, targets.items, count)
    if (flags.keep === true) {
      process.stdout.write(`\nThe swarm keeps running. API: ${swarm.url}  token: ${swarm.token}\n  e.g. POLLEN_API=${swarm.url} POLLEN_TOKEN=${swarm.token} npm run pollen -- targets\nCtrl-C to stop.\n`)
      await untilSignal()
    }
    return ok ? 0 : 1
  } finally {
    await Promise.all([...(swarm?.agents ?? []), ...(swarm == null ? [] : [swarm.manager])].map(async p => { await p.stop() }))
    if (flags.keep !== true) await rm(root, { recursive: true, force: true })
  }
}

async function startSwarm (root: string, count: number, up: number): Promise<Swarm> {
  const keys = await initSwarm(join(root, 'keys'), 'demo')
  const token = randomBytes(18).toString('base64url')
  const common = ['--swarm', keys.swarmPath, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--upload-limit', String(up)]
  const manager = startPollen('manager', ['manager', ...common, '--key', keys.keyPath, '--data', join(root, 'manager'), '--api', '127.0.0.1:0'], { POLLEN_TOKEN: token }, join(root, 'manager.log'))
  const agents: PollenProcess[] = []
  try {
    const url = (await manager.waitFor(/API on (http:\/\/[^\s,]+)/, 60_000))[1]!
    const managerAddr = (await manager.waitFor(/listening on (\S+)/, 10_000))[1]!
    for (let i = 1; i <= count; i++) {
      const id = `device-${String(i).padStart(2, '0')}`
      const kind = i % 3 === 0 ? 'rover' : 'drone'
      agents.push(startPollen(id, ['agent', ...common, '--data', join(root, id), '--id', id, '--tags', `demo,${kind}`, '--bootstrap', managerAddr], {}, join(root, `${id}.log`)))
    }
    await Promise.all(agents.map(async a => { await a.waitFor(/^agent /, 60_000) }))
    const swarm = { manager, agents, url, token }
    await waitFor(async () => (await api<{ total: number }>(swarm, '/targets')).total >= count, 60_000, 'agents to register')
    process.stdout.write(`manager and ${count} agents up; every agent registered (API ${url})\n`)
    return swarm
  } catch (err) {
    await Promise.all([manager, ...agents].map(async p => { await p.stop() }))
    throw err
  }
}

/** A directory `app/` with the program and a payload of `size` random bytes. */
async function samplePackage (root: string, size: number): Promise<string> {
  const dir = join(root, 'package')
  await mkdir(join(dir, 'app'), { recursive: true })
  await writeFile(join(dir, 'app', 'run.sh'), APP_SCRIPT)
  await writeFile(join(dir, 'app', 'payload.bin'), randomBytes(size))
  return dir
}

async function submit (swarm: Swarm, packageDir: string): Promise<TaskDetail> {
  const archive = join(packageDir, '..', 'package.tar.gz')
  await tar.c({ file: archive, gzip: true, cwd: packageDir }, ['app'])
  const form = new FormData()
  form.append('task', TASK)
  form.append('package', new Blob([await readFile(archive)]), 'package.tar.gz')
  const res = await fetch(`${swarm.url}/tasks`, { method: 'POST', body: form, headers: { authorization: `Bearer ${swarm.token}` } })
  if (res.status !== 201) throw new Error(`the manager refused the task: ${res.status} ${await res.text()}`)
  return await res.json() as TaskDetail
}

/** Show progress until every agent runs the task, one fails, or time runs out. */
async function follow (swarm: Swarm, taskId: string, count: number, timeoutMs: number): Promise<TaskDetail> {
  const progress = createProgress(count)
  const deadline = Date.now() + timeoutMs
  try {
    for (;;) {
      const detail = await api<TaskDetail>(swarm, `/tasks/${taskId}`)
      const targets = await api<{ items: TargetRecord[] }>(swarm, '/targets?perPage=500')
      progress.update(detail, targets.items)
      const { Transfer, Install, Run } = detail.summary.stages
      const failed = [Transfer, Install, Run].some(s => (s.FAILURE ?? 0) + (s.DECLINED ?? 0) > 0)
      if ((Run.SUCCESS ?? 0) >= count || failed || Date.now() > deadline) return detail
      await new Promise(resolve => setTimeout(resolve, 250))
    }
  } finally {
    progress.stop()
  }
}

/** Print the per-target table and the manager's upload; true when every agent runs the program. */
async function report (root: string, detail: TaskDetail, targets: readonly TargetRecord[], count: number): Promise<boolean> {
  const plain = process.stdout.isTTY !== true
  const table = new Table({ head: ['target', 'tags', 'transfer', 'install', 'run', 'the program says'], ...(plain ? { style: { head: [], border: [] } } : {}) })
  let running = 0
  for (const target of [...targets].sort((a, b) => a.ID.localeCompare(b.ID))) {
    const logs = target.Task?.ID === detail.id ? target.Task.StageLogs : {}
    const hello = await readFile(join(root, target.ID, 'current', 'hello.txt'), 'utf8').then(s => s.trim(), () => '-')
    if (logs.Run?.Status === 'SUCCESS' && hello.includes(detail.id)) running++
    table.push([target.ID, target.Tags.filter(tag => !/^(os|arch):/.test(tag)).join(','), logs.Transfer?.Status ?? '-', logs.Install?.Status ?? '-', logs.Run?.Status ?? '-', hello.replace(`, running task ${detail.id}`, '')])
  }
  process.stdout.write(`${table.toString()}\n`)
  const bytes = detail.package?.bytes ?? 0
  const uploaded = detail.summary.managerUploadBytes
  process.stdout.write(`package ${formatBytes(bytes)} to ${count} agents (${formatBytes(bytes * count)} in all): the manager uploaded ${formatBytes(uploaded)} = ${(uploaded / Math.max(bytes, 1)).toFixed(2)} × the package; the agents sent each other the rest\n`)
  const ok = running === count
  process.stdout.write(ok ? `every agent (${count}) runs the program\n` : `only ${running} of ${count} agents run the program\n`)
  return ok
}

async function api<T> (swarm: Swarm, path: string): Promise<T> {
  const res = await fetch(`${swarm.url}${path}`, { headers: { authorization: `Bearer ${swarm.token}` } })
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`)
  return await res.json() as T
}

async function waitFor (check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 250))
  }
}
