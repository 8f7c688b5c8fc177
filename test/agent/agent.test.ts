import test from 'ava'
import { readFile, readlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { TargetRecord } from '../../src/core/index.ts'
import { makeSwarm, makeTarGz, startAgent, startManager, waitForTargets } from '../helpers/manager.ts'

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
})
