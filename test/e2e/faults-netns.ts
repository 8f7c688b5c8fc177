/**
 * Fault suite in network namespaces (root only), each host with its own IP:
 * a site cut off mid-deployment by taking its hosts' links down, then healed;
 * an agent and the manager killed with SIGKILL mid-deployment, then
 * restarted. The swarm must converge without operator action. Imported by
 * faults.test.ts, so that the two heavy suites run one after the other in
 * one worker, never side by side on a small CI machine. Ends with the three checks of {@link checkDeployment}.
 */
import test, { type ExecutionContext } from 'ava'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import type { ChildProcess } from 'node:child_process'
import { createLab, labUnavailable, type LabHost } from '../../bench/lab.ts'
import { pseudoRandomBytes, type TargetRecord } from '../../src/core/index.ts'
import { initSwarm } from '../../src/node/index.ts'
import { BIN } from '../helpers/cli.ts'
import { checkDeployment, currentRelease, installed, packBytes, until } from '../helpers/faults.ts'
import { makeTarGz } from '../helpers/manager.ts'

const run = promisify(execFile)
const why = await labUnavailable()
const labTest = why == null ? test.serial : test.skip
const NAMING = { prefix: 'pf', subnet: '10.81' }
const TOKEN = 'faults-token'
const MiB = 1024 * 1024

/** First stdout line of `child` matching `pattern`. */
async function line (child: ChildProcess, pattern: RegExp): Promise<RegExpExecArray> {
  return await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', text => { const m = pattern.exec(text); if (m != null) resolve(m) })
    child.once('exit', code => { reject(new Error(`exited (${code}) before printing ${pattern}`)) })
  })
}

interface LabFleet {
  readonly root: string
  readonly ids: string[]
  readonly agents: ChildProcess[]
  manager: ChildProcess
  startManager (): ChildProcess
  startAgent (index: number): ChildProcess
  targets (): Promise<TargetRecord[]>
  submit (files: Record<string, string | Uint8Array>): Promise<{ id: string, package: { bytes: number } }>
}

/** A lab of a manager (uplink capped at 2 MiB/s, so transfers last) and 3 agents that have registered. */
async function labFleet (t: ExecutionContext): Promise<LabFleet> {
  const root = await mkdtemp(join(tmpdir(), 'pollen-faults-lab-'))
  const lab = await createLab(4, [2 * MiB, 16 * MiB, 16 * MiB, 16 * MiB], NAMING)
  t.teardown(async () => { await lab.destroy(); await rm(root, { recursive: true, force: true }) })
  const keys = await initSwarm(join(root, 'keys'), 'faults')
  const [managerHost, ...agentHosts] = lab.hosts as [LabHost, ...LabHost[]]
  const ids = agentHosts.map((_, i) => `dev-${i + 1}`)
  const managerAddr = `/ip4/${managerHost.ip}/tcp/4001`
  const api = `http://${managerHost.ip}:8080`
  const startManager = (): ChildProcess => {
    const child = lab.spawnIn(managerHost, process.execPath, [BIN, 'manager', '--swarm', keys.swarmPath, '--key', keys.keyPath, '--data', join(root, 'manager'),
      '--api', `${managerHost.ip}:8080`, '--listen', managerAddr], { env: { POLLEN_TOKEN: TOKEN }, logFile: join(root, 'manager.log') })
    return child
  }
  const manager = startManager()
  // Printed with the peer id, which a restarted manager keeps (its peer.key).
  const managerDialAddr = (await line(manager, /listening on (\/ip4\/\S+)/))[1]!
  manager.stdout!.resume()
  const startAgent = (i: number): ChildProcess => {
    const child = lab.spawnIn(agentHosts[i]!, process.execPath, [BIN, 'agent', '--swarm', keys.swarmPath, '--data', join(root, ids[i]!), '--id', ids[i]!, '--tags', 'lab',
      '--listen', `/ip4/${agentHosts[i]!.ip}/tcp/4001`, '--bootstrap', managerDialAddr], { logFile: join(root, `${ids[i]}.log`) })
    child.stdout!.resume()
    return child
  }
  const agents = ids.map((_, i) => startAgent(i))
  const targets = async (): Promise<TargetRecord[]> => {
    const res = await fetch(`${api}/targets`, { headers: { authorization: `Bearer ${TOKEN}` } })
    return (await res.json() as { items: TargetRecord[] }).items
  }
  await until(async () => (await targets().catch(() => [])).length === ids.length ? true : undefined, 'the agents to register', 120_000, 250)
  return {
    root, ids, agents, manager, startManager, startAgent, targets,
    async submit (files) {
      const form = new FormData()
      form.append('task', 'stages:\n  transfer: [app]\n  install: ["mv app/* ."]\n  run: ["sh run.sh"]\ntarget:\n  tags: [lab]\n')
      form.append('package', new Blob([await readFile(await makeTarGz(root, files))]), 'p.tar.gz')
      const res = await fetch(`${api}/tasks`, { method: 'POST', body: form, headers: { authorization: `Bearer ${TOKEN}` } })
      t.is(res.status, 201)
      return await res.json() as { id: string, package: { bytes: number } }
    }
  }
}

/** Every agent runs the task and the registry shows it: then the three end checks. */
async function converged (t: ExecutionContext, f: LabFleet, taskId: string, files: Record<string, string | Uint8Array>, since: number): Promise<void> {
  const registry = await until(async () => {
    const ts = await f.targets().catch(() => [])
    return f.ids.every(id => ts.find(r => r.ID === id)?.History[taskId] === 'RUN-SUCCESS') ? ts : undefined
  }, 'every agent to run the task, in the registry', 180_000, 250)
  t.log(`the registry showed every agent running the task ${((Date.now() - since) / 1000).toFixed(1)} s later`)
  t.deepEqual(await checkDeployment(f.root, f.ids, { taskId, files: installed(files) }, registry), [], 'nothing lost')
}

async function killed (child: ChildProcess): Promise<void> {
  const exited = new Promise(resolve => child.once('exit', resolve))
  child.kill('SIGKILL')
  await exited
}

labTest(`a site cut off mid-deployment (links down), then healed, converges without operator action${why == null ? '' : ` (skipped: ${why})`}`, async t => {
  const f = await labFleet(t)
  const { root } = f
  const files = { 'app/run.sh': 'echo "$POLLEN_TASK_ID" > result.txt\nexec sleep 100000\n', 'app/blob.bin': pseudoRandomBytes(4 * MiB, 11) }
  const task = await f.submit(files)

  // The site: hosts 2 and 3 (dev-2, dev-3). Cut once dev-2 has stored its first 512 KiB; their bridge ports go down.
  const site = [2, 3]
  const links = site.map(i => `${NAMING.prefix}v${i}b`)
  await until(async () => await packBytes(join(root, 'dev-2')) > MiB / 2 ? true : undefined, 'dev-2 to start fetching', 120_000)
  for (const link of links) await run('ip', ['netns', 'exec', `${NAMING.prefix}-br`, 'ip', 'link', 'set', link, 'down'])
  const cutAt = await Promise.all(site.map(async i => await packBytes(join(root, `dev-${i}`))))
  t.log(`site cut with dev-2, dev-3 holding ${cutAt.join(', ')} of ${task.package.bytes} package bytes (faults injected: ${links.length} links down)`)
  // Outside the site the deployment goes on: dev-1 completes while the site is cut off.
  const cut = Date.now()
  await until(async () => await currentRelease(join(root, 'dev-1')) === task.id ? true : undefined, 'dev-1 to run the task during the cut', 120_000, 250)
  t.log(`dev-1 ran the task ${((Date.now() - cut) / 1000).toFixed(1)} s into the cut`)
  const duringCut = await Promise.all(site.map(async i => await packBytes(join(root, `dev-${i}`))))
  t.log(`while cut off, the site's agents stored ${duringCut.map((b, k) => b - cutAt[k]!).join(', ')} more bytes`)
  for (const link of links) await run('ip', ['netns', 'exec', `${NAMING.prefix}-br`, 'ip', 'link', 'set', link, 'up'])
  const healed = Date.now()
  void Promise.all(site.map(async i => {
    await until(async () => await currentRelease(join(root, `dev-${i}`)) === task.id ? true : undefined, `dev-${i} to run the task`, 180_000, 250)
    t.log(`dev-${i} ran the task ${((Date.now() - healed) / 1000).toFixed(1)} s after the heal`)
  })).catch(() => {})

  await converged(t, f, task.id, files, healed)
})

labTest(`agents and the manager killed with SIGKILL mid-deployment: the agents finish from each other, the restarted ones catch up${why == null ? '' : ` (skipped: ${why})`}`, async t => {
  const f = await labFleet(t)
  const { root } = f
  const files = { 'app/run.sh': 'echo "$POLLEN_TASK_ID" > result.txt\nexec sleep 100000\n', 'app/blob.bin': pseudoRandomBytes(4 * MiB, 12) }
  const task = await f.submit(files)
  await until(async () => await packBytes(join(root, 'dev-1')) > MiB / 2 ? true : undefined, 'dev-1 to start fetching', 120_000)
  await killed(f.agents[0]!)
  t.log(`dev-1 killed holding ${await packBytes(join(root, 'dev-1'))} of ${task.package.bytes} package bytes`)
  const holder = await until(async () => {
    for (const i of [2, 3]) if (await packBytes(join(root, `dev-${i}`)) >= task.package.bytes) return `dev-${i}`
    return undefined
  }, 'an agent to hold the whole package', 120_000)
  await killed(f.manager)
  t.log(`the manager killed once ${holder} held the whole package (faults injected: 2 SIGKILLs)`)
  await until(async () => (await Promise.all(['dev-2', 'dev-3'].map(async id => await currentRelease(join(root, id)) === task.id))).every(Boolean) ? true : undefined,
    'dev-2 and dev-3 to run the task with the manager down', 120_000, 250)
  // dev-1 comes back while the manager is still down: it resumes from its peers (found by mDNS).
  f.agents[0] = f.startAgent(0)
  await until(async () => await currentRelease(join(root, 'dev-1')) === task.id ? true : undefined, 'the restarted dev-1 to run the task from its peers', 120_000, 250)
  const restarted = Date.now()
  f.manager = f.startManager()
  f.manager.stdout!.resume()
  await converged(t, f, task.id, files, restarted)
})
