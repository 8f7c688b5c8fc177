/**
 * Fault suites on loopback: real `pollen` processes, faults injected at
 * moments read off the agents' data directories, the registry and the
 * manager's metrics. Every case ends with the three checks of
 * {@link checkDeployment}; what they find wrong is counted as lost.
 * One fleet (a manager and three agents) serves the cases in order.
 */
import test from 'ava'
import { execFile } from 'node:child_process'
import { mkdir, open, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { multiaddr } from '@multiformats/multiaddr'
import { pseudoRandomBytes, type TargetRecord } from '../../src/core/index.ts'
import { createFleet, historyOf, type Fleet } from '../helpers/fleet.ts'
import { alive, checkDeployment, currentRelease, figures, installed, packBytes, until, type Expected } from '../helpers/faults.ts'
import { makeTarGz } from '../helpers/manager.ts'
import { startRogue } from '../helpers/rogue.ts'
// The namespace cases (root only) are declared there and run serially in this same worker, never beside the loopback ones.
import './faults-netns.ts'

const run = promisify(execFile)
const AGENTS = ['k1', 'k2', 'k3'] as const
const counts = figures()
let fleet: Fleet
/** Marks the programs leave (pids) and gates the install commands wait for. */
let marks: string
let gates: string

const RUN_SH = 'echo $$ >> "$1/$POLLEN_TARGET_ID-$POLLEN_TASK_ID.pids"\necho "$POLLEN_TASK_ID" > result.txt\nexec sleep 100000\n'
const pkg = (version: string, blobMiB = 0, seed = 1): Record<string, string | Uint8Array> => ({
  'app/run.sh': RUN_SH,
  'app/VERSION': `${version}\n`,
  ...(blobMiB > 0 ? { 'app/blob.bin': pseudoRandomBytes(blobMiB * 1024 * 1024, seed) } : {})
})
const taskYaml = (tags: string[], install: string[], debug = false): string =>
  `stages:\n  transfer: [app]\n  install:\n${install.map(c => `    - ${JSON.stringify(c)}`).join('\n')}\n  run: [${JSON.stringify(`sh run.sh ${marks}`)}]\n` +
  `target:\n  tags: [${tags.join(', ')}]\ndebug: ${debug}\n`

async function deploy (tags: string[], files: Record<string, string | Uint8Array>, install = ['mv app/* .'], debug = false): Promise<Expected & { bytes: number }> {
  const task = await fleet.deploy(taskYaml(tags, install, debug), await makeTarGz(fleet.root, files))
  return { taskId: task.id, files: installed(files), bytes: task.package?.bytes ?? 0 }
}

const agentDir = (id: string): string => join(fleet.root, id)
const pidsOf = async (id: string, taskId: string): Promise<number[]> =>
  (await readFile(join(marks, `${id}-${taskId}.pids`), 'utf8').catch(() => '')).split('\n').filter(l => l !== '').map(Number)

async function kill9 (id: string): Promise<void> {
  const agent = fleet.agents.get(id)!
  const exited = new Promise(resolve => agent.child.once('exit', resolve))
  agent.child.kill('SIGKILL')
  await exited
  counts.faultsInjected++
}

/** The end checks; what they find is counted as lost and must be nothing. */
async function endChecks (targets: readonly string[], expected: Expected, registry: TargetRecord[]): Promise<string[]> {
  const problems = await checkDeployment(fleet.root, targets, expected, registry)
  counts.lost += problems.length
  return problems
}

const allAt = (ids: readonly string[], taskId: string, outcome = 'RUN-SUCCESS') => (ts: TargetRecord[]): boolean => ids.every(id => historyOf(ts, id)[taskId] === outcome)

test.before(async () => {
  fleet = await createFleet()
  marks = join(fleet.root, 'marks')
  gates = join(fleet.root, 'gates')
  await mkdir(marks)
  await mkdir(gates)
  await fleet.startManager(['--upload-limit', '4MiB/s'])
  await Promise.all(AGENTS.map(async id => await fleet.startAgent(id, ['fleet'])))
  await fleet.waitForTargets(ts => ts.length === AGENTS.length)
  const v1 = await deploy(['fleet'], pkg('1'))
  await fleet.waitForTargets(allAt(AGENTS, v1.taskId))
})

test.after.always(async () => {
  // Whatever install is still waiting ends now; then the fleet goes.
  await Promise.all(AGENTS.map(async id => { await writeFile(join(gates, id), '') }))
  await fleet?.close()
})

test.serial('agents killed with SIGKILL during transfer, install and run start resume and never activate a half-installed release', async t => {
  const v1 = await currentRelease(agentDir('k1'))
  // k1 and k3 install at once; k2's install waits for its gate, and is killed while it waits.
  await writeFile(join(gates, 'k1'), '')
  await writeFile(join(gates, 'k3'), '')
  const install = ['mv app/* .', `echo $$ > ${marks}/$POLLEN_TARGET_ID.install; while [ ! -e ${gates}/$POLLEN_TARGET_ID ]; do sleep 0.05; done`]
  const task = await deploy(['fleet'], pkg('2', 4, 2), install)

  const duringTransfer = async (): Promise<void> => {
    await until(async () => await packBytes(agentDir('k1')) > 512 * 1024 ? true : undefined, 'k1 to store its first MiB')
    await kill9('k1')
    t.is(await currentRelease(agentDir('k1')), v1, 'k1: the previous release is still current after the kill')
    await fleet.startAgent('k1', ['fleet'])
  }
  const duringInstall = async (): Promise<void> => {
    const installPid = Number(await until(async () => (await readFile(join(marks, 'k2.install'), 'utf8').catch(() => '')).trim() || undefined, 'k2 to install'))
    await kill9('k2')
    t.is(await currentRelease(agentDir('k2')), v1, 'k2: the previous release is still current after the kill')
    t.deepEqual((await readdir(join(agentDir('k2'), 'releases'))).filter(n => n.startsWith(task.taskId)), [], 'k2: no release directory for the interrupted install')
    await rm(join(marks, 'k2.install'))
    await fleet.startAgent('k2', ['fleet'])
    await until(() => alive(installPid) ? undefined : true, 'the orphaned install command of k2 to be ended after the restart')
    await until(async () => (await readFile(join(marks, 'k2.install'), 'utf8').catch(() => '')).trim() || undefined, 'k2 to install again')
    t.is(await currentRelease(agentDir('k2')), v1, 'k2: the previous release is current until the install completes')
    await writeFile(join(gates, 'k2'), '')
  }
  const duringRunStart = async (): Promise<void> => {
    const [orphan] = await until(async () => { const pids = await pidsOf('k3', task.taskId); return pids.length > 0 ? pids : undefined }, 'k3 to start the new release')
    await kill9('k3')
    t.is(await currentRelease(agentDir('k3')), v1, 'k3: killed while the new program settled, the previous release is still current')
    await fleet.startAgent('k3', ['fleet'])
    await until(() => alive(orphan!) ? undefined : true, 'the program k3 left starting to be ended after the restart')
  }
  await Promise.all([duringTransfer(), duringInstall(), duringRunStart()])

  const registry = await fleet.waitForTargets(allAt(AGENTS, task.taskId))
  t.deepEqual(await endChecks(AGENTS, task, registry), [])
  for (const id of AGENTS) {
    const running = (await pidsOf(id, task.taskId)).filter(alive)
    t.is(running.length, 1, `${id} runs the release once`)
  }
  t.log(`faults injected so far: ${counts.faultsInjected}`)
})

test.serial('the manager killed with SIGKILL mid-deployment: agents complete from each other, the restarted manager catches up', async t => {
  const stored = async (): Promise<number[]> => await Promise.all(AGENTS.map(async id => await packBytes(agentDir(id))))
  const before = await stored()
  const task = await deploy(['fleet'], pkg('3', 4, 3))
  // Killed once one agent holds every chunk (so the swarm can finish without the manager), while the others still fetch.
  const atKill = await until(async () => {
    const now = (await stored()).map((bytes, i) => bytes - before[i]!)
    return now.some(bytes => bytes >= task.bytes) ? now : undefined
  }, 'an agent to hold the whole package', 90_000, 20)
  const addr = fleet.manager!.addr
  const manager = fleet.manager!.process
  const exited = new Promise(resolve => manager.child.once('exit', resolve))
  manager.child.kill('SIGKILL')
  await exited
  counts.faultsInjected++
  t.log(`package bytes each agent had stored when the manager died: ${atKill.join(', ')} of ${task.bytes}`)

  const killed = Date.now()
  await until(async () => (await Promise.all(AGENTS.map(async id => await currentRelease(agentDir(id)) === task.taskId))).every(Boolean) ? true : undefined,
    'every agent to run the task with the manager down', 150_000)
  t.log(`every agent ran the task ${((Date.now() - killed) / 1000).toFixed(1)} s after the manager died`)
  await fleet.startManager(['--upload-limit', '4MiB/s'], addr.replace(/\/p2p\/.*$/, ''))
  const restarted = Date.now()
  const registry = await fleet.waitForTargets(allAt(AGENTS, task.taskId), 90_000)
  t.log(`the restarted manager's registry showed every agent running it ${((Date.now() - restarted) / 1000).toFixed(1)} s after its start`)
  t.deepEqual(await endChecks(AGENTS, task, registry), [])
})

test.serial('a member serving corrupted chunks and flooding invalid gossip: honest agents complete, the bad peer is refused', async t => {
  const listening = await Promise.all(AGENTS.map(async id => (await fleet.agents.get(id)!.waitFor(/listening on (\S+)/, 10_000))[1]!))
  const rogue = await startRogue(fleet.swarmPath, listening.map(a => multiaddr(a)))
  t.teardown(rogue.stop)
  const ids = listening.map(a => a.replace(/^.*\/p2p\//, ''))
  await until(() => ids.every(id => rogue.node.libp2p.getPeers().some(p => p.toString() === id)) ? true : undefined, 'the rogue to connect to every agent')
  await until(() => rogue.subscribers() >= AGENTS.length ? true : undefined, 'the rogue to learn the agents\' subscriptions')
  // On a loaded machine the honest agents may finish before the rogue has fetched the manifest
  // and claimed the chunks; then a new version goes out (the rogue claims each announced package).
  let registry: TargetRecord[] = []
  for (let attempt = 1; attempt <= 3; attempt++) {
    const served = rogue.corruptChunksServed
    const task = await deploy(['fleet'], pkg(`4.${attempt}`, 4, 4 + attempt), ['mv app/* .'], true)
    if (attempt === 1) {
      // It floods once it serves the package: a peer graylisted first would never hear of the task.
      let heard = false
      void rogue.serving.then(() => { heard = true })
      await until(() => heard ? true : undefined, 'the rogue to hear of the task and claim its chunks')
      await rogue.flood(800)
    }
    registry = await fleet.waitForTargets(allAt(AGENTS, task.taskId))
    t.deepEqual(await endChecks(AGENTS, task, registry), [])
    if (rogue.corruptChunksServed > served) break
    t.log(`attempt ${attempt}: the agents finished before the rogue served anything; deploying again`)
  }
  counts.hostileMessages += rogue.hostileMessages
  counts.corruptChunksServed += rogue.corruptChunksServed

  t.true(rogue.corruptChunksServed > 0, 'the rogue got to serve corrupted chunks')
  for (const id of AGENTS) {
    const transfer = registry.find(r => r.ID === id)!.Task!.StageLogs.Transfer!.Logs.map(l => l.Output)
    const summary = transfer.find(o => o.startsWith('fetched ')) ?? ''
    t.log(`${id}: ${summary}`)
    const log = await readFile(join(fleet.root, `${id}.log`), 'utf8')
    const refusals = log.split('\n').filter(l => l.includes('gossip message refused') && l.includes(rogue.peerId))
    const onTasks = refusals.filter(l => l.includes('"topic":"tasks"')).length
    t.log(`${id}: refused ${refusals.length} of the rogue's ${rogue.hostileMessages} invalid messages before ignoring it (${onTasks} of ${rogue.hostileTaskMessages} on the tasks topic)`)
    t.true(refusals.length > 0, `${id} saw invalid messages from the rogue`)
    // The tasks topic reaches every agent (the status topic only those relaying it): most of its flood must go unheard.
    t.true(onTasks < rogue.hostileTaskMessages / 2, `${id}'s gossipsub stopped hearing the rogue (score below the graylist threshold)`)
  }
  const banned = AGENTS.filter(id => /refused for sending bad data/.test(registry.find(r => r.ID === id)!.Task!.StageLogs.Transfer!.Logs.map(l => l.Output).join('\n')))
  t.log(`agents that refused the rogue for bad data: ${banned.join(', ')}`)
  t.true(banned.length > 0, 'an honest fetcher refused the rogue after its first corrupted chunk')
  t.log(`hostile messages sent: ${rogue.hostileMessages}; corrupted chunks served: ${rogue.corruptChunksServed}`)
})

const root = process.getuid?.() === 0
const rootTest = root ? test.serial : test.serial.skip
rootTest(`a full disk fails the task cleanly: clear status, previous release kept running, no partial files${root ? '' : ' (skipped: mounting a small tmpfs needs root)'}`, async t => {
  const dir = agentDir('d1')
  await mkdir(dir)
  await run('mount', ['-t', 'tmpfs', '-o', 'size=100m,mode=0700', 'tmpfs', dir])
  t.teardown(async () => { await run('umount', ['-l', dir]).catch(() => {}) })
  await fleet.startAgent('d1', ['disk'])
  await fleet.waitForTargets(ts => ts.some(r => r.ID === 'd1'))
  const v1 = await deploy(['disk'], pkg('d1'))
  await fleet.waitForTargets(allAt(['d1'], v1.taskId))
  const [pid] = await pidsOf('d1', v1.taskId)

  const task = await deploy(['disk'], pkg('d2', 8, 5), ['mv app/* .'], true)
  await until(async () => await packBytes(dir) > 256 * 1024 ? true : undefined, 'd1 to start storing the package')
  await fillDisk(join(dir, 'filler'))
  counts.faultsInjected++
  // The disk fills while the chunks arrive (or, on a slow machine, just after: then unpacking hits it).
  const registry = await fleet.waitForTargets(ts => /^(TRANSFER|INSTALL)-FAILURE$/.test(historyOf(ts, 'd1')[task.taskId] ?? ''))
  const outcome = historyOf(registry, 'd1')[task.taskId]!
  const stage = registry.find(r => r.ID === 'd1')!.Task!.StageLogs[outcome.startsWith('TRANSFER') ? 'Transfer' : 'Install']!
  t.is(stage.Status, 'FAILURE')
  t.regex(stage.Error ?? '', /no space left on device/, 'the failure names the cause')
  t.log(`d1 reported: ${outcome}: ${stage.Error}`)
  t.deepEqual(await endChecks(['d1'], v1, registry), [])
  t.true(alive(pid!), 'the previous release still runs')
  t.deepEqual(await readdir(join(dir, 'staging')).catch(() => []), [], 'no staging left')
  const leftovers = (await readdir(dir, { recursive: true })).filter(p => p.includes(task.taskId) || p.endsWith('.tmp'))
  t.deepEqual(leftovers, [], 'no release, manifest or temporary file of the failed task')
  await rm(join(dir, 'filler'))
  t.log(`chunk packs after the failure: ${await packBytes(dir)} bytes (the verified chunks stay for a later attempt)`)
  // Once space is back, the agent takes the next task as usual (its chunk index and state survived the full disk).
  const v3 = await deploy(['disk'], pkg('d3', 1, 6))
  t.deepEqual(await endChecks(['d1'], v3, await fleet.waitForTargets(allAt(['d1'], v3.taskId))), [])
})

/** Write `path` until the file system refuses (ENOSPC), whatever else writes meanwhile. */
async function fillDisk (path: string): Promise<void> {
  const handle = await open(path, 'w')
  try {
    for (const size of [1024 * 1024, 4096]) {
      const block = Buffer.alloc(size, 1)
      for (;;) {
        const written = await handle.write(block).then(r => r.bytesWritten, (err: NodeJS.ErrnoException) => { if (err.code === 'ENOSPC') return 0; throw err })
        if (written < size) break
      }
    }
  } finally {
    await handle.close()
  }
}

test.serial('figures: faults injected, hostile messages sent, nothing lost', t => {
  t.log(`faults injected: ${counts.faultsInjected}; hostile gossip messages: ${counts.hostileMessages}; corrupted chunks served: ${counts.corruptChunksServed}; lost: ${counts.lost}`)
  t.true(counts.faultsInjected >= 4)
  t.true(counts.hostileMessages > 0)
  t.is(counts.lost, 0)
})
