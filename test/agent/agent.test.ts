import test, { type ExecutionContext } from 'ava'
import { readFile, readlink, realpath } from 'node:fs/promises'
import { arch, platform } from 'node:os'
import { join } from 'node:path'
import type { TargetRecord } from '../../src/core/index.ts'
import { makeSwarm, makeTarGz, startAgent, startManager, waitForTargets, type TestSwarm } from '../helpers/manager.ts'
import type { Manager } from '../../src/manager/index.ts'

const historyOf = (targets: TargetRecord[], id: string): Record<string, string> => targets.find(t => t.ID === id)?.History ?? {}

test('a task reaches only the agents whose tags match; they install, run, report, and the program runs', async t => {
  const s = await makeSwarm()
  t.teardown(s.cleanup)
  const manager = await startManager(s)
  t.teardown(async () => { await manager.stop() })
  const agents = await Promise.all([
    startAgent(s, 'drone-1', ['drone', 'hanger'], manager.node),
    startAgent(s, 'drone-2', ['drone', 'hanger'], manager.node),
    startAgent(s, 'rover-1', ['rover', 'hanger'], manager.node)
  ])
  t.teardown(async () => { await Promise.all(agents.map(async a => { await a.stop() })) })
  await waitForTargets(manager, targets => targets.length === 3)

  const upload = await makeTarGz(s.root, { 'package/app.sh': 'echo "hello from $POLLEN_TARGET_ID" > out.txt\nexec sleep 1000\n', 'package/VERSION': '1\n' })
  const task = await manager.createTask({
    spec: { stages: { transfer: ['package'], install: ['mv package/* .', 'test -f VERSION'], run: ['sh app.sh'] }, target: { tags: ['drone'] } },
    packagePath: upload
  })
  const targets = await waitForTargets(manager, ts => ['drone-1', 'drone-2'].every(id => historyOf(ts, id)[task.id] === 'RUN-SUCCESS'))
  for (const id of ['drone-1', 'drone-2']) {
    const release = join(s.root, id, 'releases', task.id)
    t.is(await readFile(join(release, 'out.txt'), 'utf8'), `hello from ${id}\n`)
    t.is(await readlink(join(s.root, id, 'current')), `releases/${task.id}`)
    const record = targets.find(r => r.ID === id)!
    t.is(record.Task?.StageLogs.Install?.Status, 'SUCCESS')
    t.is(record.Task?.CurrentStage, 'RUN')
  }
  t.is(targets.find(r => r.ID === 'rover-1')?.Task, undefined, 'the rover does not take a task for drones')
  const summary = (await manager.getTask(task.id)).summary
  t.deepEqual(summary.matchedTargets, ['drone-1', 'drone-2'])
  t.deepEqual(summary.stages.Run, { SUCCESS: 2 })

  // Every agent also carries implicit platform tags.
  const byArch = await manager.createTask({ spec: { stages: { run: ['true'] }, target: { tags: ['rover', `arch:${arch()}`, `os:${platform()}`] } } })
  await waitForTargets(manager, ts => historyOf(ts, 'rover-1')[byArch.id] === 'RUN-SUCCESS')
})

test('run commands start in run.workdir inside the release; a workdir the release lacks fails the run', async t => {
  const s = await makeSwarm()
  t.teardown(s.cleanup)
  const manager = await startManager(s)
  t.teardown(async () => { await manager.stop() })
  const agent = await startAgent(s, 'dev-w', [], manager.node)
  t.teardown(async () => { await agent.stop() })
  const upload = await makeTarGz(s.root, { 'app/bin/start.sh': 'pwd > where.txt\necho "$POLLEN_RELEASE_DIR" >> where.txt\nexec sleep 1000\n' })
  const task = await manager.createTask({
    spec: { stages: { transfer: ['app'], run: ['sh start.sh'] }, target: { ids: ['dev-w'] }, run: { workdir: 'app/bin' } },
    packagePath: upload
  })
  await waitForTargets(manager, ts => historyOf(ts, 'dev-w')[task.id] === 'RUN-SUCCESS')
  const release = join(s.root, 'dev-w', 'releases', task.id)
  const [cwd, releaseDir] = (await readFile(join(release, 'app', 'bin', 'where.txt'), 'utf8')).trim().split('\n')
  t.is(await realpath(cwd!), await realpath(join(release, 'app', 'bin')))
  t.is(await realpath(releaseDir!), await realpath(release), 'POLLEN_RELEASE_DIR stays the release directory')

  const missing = await manager.createTask({ spec: { stages: { run: ['true'] }, target: { ids: ['dev-w'] }, run: { workdir: 'nowhere' } } })
  const targets = await waitForTargets(manager, ts => historyOf(ts, 'dev-w')[missing.id] === 'RUN-FAILURE')
  t.regex(targets.find(x => x.ID === 'dev-w')?.Task?.StageLogs.Run?.Error ?? '', /run\.workdir "nowhere" is not a directory/)
})

/** The pid an app wrote into its release directory, and whether it is alive. */
async function appPid (root: string, agent: string, taskId: string): Promise<number> {
  return Number((await readFile(join(root, agent, 'releases', taskId, 'pid'), 'utf8')).trim())
}
const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true } catch { return false } }
const APP = { 'package/app.sh': 'echo $$ > pid\necho "running $POLLEN_TASK_ID"\nexec sleep 1000\n' }
const deploySpec = (over: Record<string, unknown> = {}): any => ({ stages: { transfer: ['package'], install: ['mv package/* .'], run: ['sh app.sh'] }, target: { ids: ['dev-1'] }, ...over })

/** A manager and agent `dev-1` running release v1 of {@link APP}; all stopped when the test ends. */
async function runningV1 (t: ExecutionContext): Promise<{ s: TestSwarm, manager: Manager, v1: { id: string } }> {
  const s = await makeSwarm()
  t.teardown(s.cleanup)
  const manager = await startManager(s)
  t.teardown(async () => { await manager.stop() })
  const agent = await startAgent(s, 'dev-1', ['x'], manager.node)
  t.teardown(async () => { await agent.stop() })
  const v1 = await manager.createTask({ spec: deploySpec(), packagePath: await makeTarGz(s.root, APP) })
  await waitForTargets(manager, ts => historyOf(ts, 'dev-1')[v1.id] === 'RUN-SUCCESS')
  return { s, manager, v1 }
}

test('a failing install reports FAILURE with its output, and the previous release keeps running', async t => {
  const { s, manager, v1 } = await runningV1(t)
  const pid = await appPid(s.root, 'dev-1', v1.id)
  t.true(alive(pid))

  const v2 = await manager.createTask({
    spec: deploySpec({ stages: { transfer: ['package'], install: ['mv package/* .', 'echo "compiling"; echo "oops: missing header" >&2; exit 3'], run: ['sh app.sh'] }, debug: true }),
    packagePath: await makeTarGz(s.root, { ...APP, 'package/v2': '2' })
  })
  const targets = await waitForTargets(manager, ts => historyOf(ts, 'dev-1')[v2.id] === 'INSTALL-FAILURE' &&
    (ts.find(r => r.ID === 'dev-1')?.Task?.StageLogs.Install?.Logs.some(l => l.Output.includes('exit status 3')) ?? false))
  const install = targets.find(r => r.ID === 'dev-1')!.Task!.StageLogs.Install!
  t.is(install.Status, 'FAILURE')
  t.regex(install.Error ?? '', /stages\.install\[1\].*exit status 3/)
  t.true(install.Logs.some(l => l.Output === 'oops: missing header' && l.Error))
  t.true(install.Logs.some(l => l.Output === 'compiling' && !l.Error && l.LineNum === 1))
  t.is(await readlink(join(s.root, 'dev-1', 'current')), `releases/${v1.id}`)
  t.true(alive(pid), 'v1 still runs')
})

test('a run that fails puts the previous release back; a stop order stops the programs', async t => {
  const { s, manager, v1 } = await runningV1(t)
  const firstPid = await appPid(s.root, 'dev-1', v1.id)

  const bad = await manager.createTask({ spec: deploySpec({ stages: { install: [], run: ['echo cannot start >&2; exit 7'] } }) })
  const targets = await waitForTargets(manager, ts => historyOf(ts, 'dev-1')[bad.id] === 'RUN-FAILURE')
  t.regex(targets[0]!.Task!.StageLogs.Run!.Error ?? '', /exit status 7/)
  t.is(await readlink(join(s.root, 'dev-1', 'current')), `releases/${v1.id}`)
  t.false(alive(firstPid), 'v1 was stopped to start the new release')
  const resumedPid = await appPid(s.root, 'dev-1', v1.id)
  t.true(alive(resumedPid), 'v1 runs again')

  await manager.stopTask(v1.id)
  await waitForTargets(manager, ts => historyOf(ts, 'dev-1')[v1.id] === 'RUN-STOPPED')
  t.false(alive(resumedPid))
})

test('logs are sent on request; a restarted agent re-verifies its release and restarts it, or refuses a tampered one', async t => {
  const s = await makeSwarm()
  t.teardown(s.cleanup)
  const manager = await startManager(s)
  t.teardown(async () => { await manager.stop() })
  let agent = await startAgent(s, 'dev-1', ['x'], manager.node)
  const task = await manager.createTask({ spec: deploySpec(), packagePath: await makeTarGz(s.root, APP) })
  await waitForTargets(manager, ts => historyOf(ts, 'dev-1')[task.id] === 'RUN-SUCCESS')
  await manager.requestLogs('dev-1', 'run')
  await waitForTargets(manager, ts => ts[0]?.Task?.StageLogs.Run?.Logs.some(l => l.Output === `running ${task.id}`) ?? false)
  const pid = await appPid(s.root, 'dev-1', task.id)

  await agent.stop()
  t.false(alive(pid), 'stopping the agent stops its programs')
  agent = await startAgent(s, 'dev-1', ['x'], manager.node)
  const restarted = await appPid(s.root, 'dev-1', task.id)
  t.not(restarted, pid)
  t.true(alive(restarted))
  await agent.stop()

  const { writeFile } = await import('node:fs/promises')
  await writeFile(join(s.root, 'dev-1', 'releases', task.id, 'app.sh'), 'echo tampered\n')
  agent = await startAgent(s, 'dev-1', ['x'], manager.node)
  t.teardown(async () => { await agent.stop() })
  const targets = await waitForTargets(manager, ts => /failed verification/.test(ts[0]?.Task?.StageLogs.Run?.Error ?? ''))
  t.is(targets[0]!.Task!.StageLogs.Run!.Status, 'FAILURE')
  t.is(await appPid(s.root, 'dev-1', task.id), restarted, 'the tampered release did not run')
})

test('a late joiner catches up from a peer while the manager is offline, and fetches the package from it', async t => {
  const s = await makeSwarm()
  t.teardown(s.cleanup)
  const manager = await startManager(s)
  const early = await startAgent(s, 'dev-1', ['fleet'], manager.node)
  t.teardown(async () => { await early.stop() })
  const task = await manager.createTask({ spec: deploySpec({ target: { tags: ['fleet'] } }), packagePath: await makeTarGz(s.root, { ...APP, 'package/blob': 'x'.repeat(3_000_000) }) })
  await waitForTargets(manager, ts => historyOf(ts, 'dev-1')[task.id] === 'RUN-SUCCESS')
  await manager.stop()

  const late = await startAgent(s, 'dev-2', ['fleet'], early.node)
  t.teardown(async () => { await late.stop() })
  const pid = await new Promise<number>((resolve, reject) => {
    const deadline = Date.now() + 120_000
    const poll = (): void => {
      appPid(s.root, 'dev-2', task.id).then(resolve, () => {
        if (Date.now() > deadline) reject(new Error('the late joiner never ran the task'))
        else setTimeout(poll, 200)
      })
    }
    poll()
  })
  t.true(alive(pid))
  t.is(await readFile(join(s.root, 'dev-2', 'releases', task.id, 'blob'), 'utf8'), 'x'.repeat(3_000_000))
})
