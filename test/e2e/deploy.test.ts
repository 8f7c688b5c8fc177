import test from 'ava'
import { createHash } from 'node:crypto'
import { readFile, readlink } from 'node:fs/promises'
import { pseudoRandomBytes } from '../../src/core/index.ts'
import { join } from 'node:path'
import { createFleet, historyOf } from '../helpers/fleet.ts'
import { makeTarGz } from '../helpers/manager.ts'

const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true } catch { return false } }

const APP = {
  'app/run.sh': 'echo $$ > pid\necho "deployed to $POLLEN_TARGET_ID by task $POLLEN_TASK_ID" > result.txt\nexec sleep 1000\n',
  'app/VERSION': '1\n'
}
const taskYaml = (tags: string[], install: string[], debug = false): string =>
  `stages:\n  transfer: [app]\n  install:\n${install.map(c => `    - ${JSON.stringify(c)}`).join('\n')}\n  run: [sh run.sh]\ntarget:\n  tags: [${tags.join(', ')}]\ndebug: ${debug}\n`

test('processes: a task for a tag reaches only those agents; a failing install reports its output and leaves the previous release running', async t => {
  const fleet = await createFleet()
  t.teardown(fleet.close)
  await fleet.startManager()
  await Promise.all([
    fleet.startAgent('drone-1', ['drone', 'hanger']),
    fleet.startAgent('drone-2', ['drone']),
    fleet.startAgent('rover-1', ['rover', 'hanger']),
    fleet.startAgent('rover-2', ['rover'])
  ])
  await fleet.waitForTargets(ts => ts.length === 4)

  const v1 = await fleet.deploy(taskYaml(['drone'], ['mv app/* .']), await makeTarGz(fleet.root, APP))
  const targets = await fleet.waitForTargets(ts => ['drone-1', 'drone-2'].every(id => historyOf(ts, id)[v1.id] === 'RUN-SUCCESS'))
  for (const id of ['drone-1', 'drone-2']) {
    t.is(await readFile(join(fleet.root, id, 'current', 'result.txt'), 'utf8'), `deployed to ${id} by task ${v1.id}\n`)
  }
  for (const id of ['rover-1', 'rover-2']) {
    t.is(targets.find(r => r.ID === id)?.Task, undefined, `${id} has no task`)
    await t.throwsAsync(readlink(join(fleet.root, id, 'current')))
  }
  const pid = Number(await readFile(join(fleet.root, 'drone-1', 'current', 'pid'), 'utf8'))

  const v2 = await fleet.deploy(taskYaml(['drone'], ['mv app/* .', 'echo "building v2"; echo "error: disk on fire" >&2; exit 4'], true), await makeTarGz(fleet.root, { ...APP, 'app/VERSION': '2\n' }))
  const after = await fleet.waitForTargets(ts => ['drone-1', 'drone-2'].every(id => historyOf(ts, id)[v2.id] === 'INSTALL-FAILURE' &&
    (ts.find(r => r.ID === id)?.Task?.StageLogs.Install?.Logs.some(l => l.Output === 'exit status 4') ?? false)))
  const install = after.find(r => r.ID === 'drone-1')!.Task!.StageLogs.Install!
  t.is(install.Status, 'FAILURE')
  t.true(install.Logs.some(l => l.Output === 'error: disk on fire' && l.Error && l.Command?.includes('exit 4') === true))
  t.true(install.Logs.some(l => l.Output === 'building v2' && !l.Error))
  t.is(await readlink(join(fleet.root, 'drone-1', 'current')), `releases/${v1.id}`)
  t.true(alive(pid), 'the previous release still runs')
  const detail = await fleet.api<{ summary: { stages: Record<string, Record<string, number>> } }>('GET', `/tasks/${v2.id}`)
  t.deepEqual(detail.json.summary.stages.Install, { FAILURE: 2 })
})

test('processes: an agent killed with SIGKILL mid-transfer resumes from its chunks after a restart', async t => {
  const fleet = await createFleet()
  t.teardown(fleet.close)
  await fleet.startManager(['--upload-limit', '2MiB/s'])
  const agent = await fleet.startAgent('dev-1', ['fleet'])
  await fleet.waitForTargets(ts => ts.length === 1)
  const blob = pseudoRandomBytes(8 * 1024 * 1024, 7)
  const task = await fleet.deploy(taskYaml(['fleet'], ['mv app/* .'], true), await makeTarGz(fleet.root, { ...APP, 'app/blob.bin': blob }))
  const total = task.package!.bytes
  await fleet.waitForTargets(ts => (ts[0]?.Task?.Progress?.Bytes ?? 0) > total / 3)
  agent.child.kill('SIGKILL')
  await new Promise(resolve => agent.child.once('exit', resolve))

  await fleet.startAgent('dev-1', ['fleet'])
  const targets = await fleet.waitForTargets(ts => historyOf(ts, 'dev-1')[task.id] === 'RUN-SUCCESS')
  const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')
  t.is(sha(await readFile(join(fleet.root, 'dev-1', 'current', 'blob.bin'))), sha(blob))
  // The restarted transfer fetched only what the killed one had not stored: "fetched <n> <unit> of 8.0 MiB …".
  const line = targets[0]!.Task!.StageLogs.Transfer!.Logs.map(l => l.Output).find(o => o.startsWith('fetched ')) ?? ''
  const match = /^fetched ([\d.]+) (B|KiB|MiB) of/.exec(line)
  t.truthy(match, line)
  const fetched = Number(match![1]) * { B: 1, KiB: 1024, MiB: 1024 * 1024 }[match![2] as 'B' | 'KiB' | 'MiB']
  t.true(fetched < total * 0.8, `the resumed transfer fetched ${line}`)
})
