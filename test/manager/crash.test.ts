import test from 'ava'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { createInterface } from 'node:readline'
import { makeSwarm, makeTarGz, startManager, type TestSwarm } from '../helpers/manager.ts'

/**
 * A child process runs a manager and creates tasks (with packages) and
 * targets from several loops at once, printing each one the manager
 * acknowledged; it is killed with SIGKILL mid-way. The restarted manager must
 * hold every acknowledged task, its package, and every acknowledged target,
 * and number new tasks above every sequence number handed out. Two rounds.
 */
test('kill -9 of the manager loses nothing it acknowledged', async t => {
  const s = await makeSwarm()
  t.teardown(s.cleanup)
  const upload = await makeTarGz(s.root, { 'app/run.sh': 'echo hi\n' })
  const tasks = new Map<string, number>()
  const targets: string[] = []
  for (let round = 0; round < 2; round++) {
    for (const line of await createUntilKilled(s, upload, 25)) {
      const [kind, id, seq] = line.split(' ')
      if (kind === 'task') tasks.set(id!, Number(seq))
      else targets.push(id!)
    }
    const manager = await startManager(s, 'crashing')
    try {
      for (const [id, seq] of tasks) {
        const task = await manager.getTask(id)
        t.is(task.seq, seq)
        if (task.package != null) await t.notThrowsAsync(manager.store.getManifest(task.package.cid), `package of task ${id}`)
      }
      for (const id of targets) t.is((await manager.getTarget(id)).ID, id)
      const next = await manager.createTask({ spec: { stages: {}, target: { ids: ['x'] } } })
      t.true(next.seq > Math.max(...tasks.values()))
      tasks.set(next.id, next.seq)
    } finally {
      await manager.stop()
    }
  }
  t.true(tasks.size >= 30, `${tasks.size} tasks checked`)
})

async function createUntilKilled (s: TestSwarm, upload: string, count: number): Promise<string[]> {
  const helper = pathToFileURL(join(import.meta.dirname, '../helpers/manager.ts')).href
  const script = `
    import { startManager } from ${JSON.stringify(helper)}
    const [swarm, upload] = JSON.parse(process.argv[1])
    const manager = await startManager(swarm, 'crashing')
    let n = 0
    const loop = async (k) => {
      for (;;) {
        const i = n++
        if (i % 3 === 0) {
          await manager.createTarget({ id: 'target-' + process.pid + '-' + i, tags: ['t'] })
          process.stdout.write('target target-' + process.pid + '-' + i + '\\n')
        } else {
          const task = await manager.createTask({ spec: { stages: { transfer: ['app'], run: ['sh app/run.sh ' + i] }, target: { tags: ['t'] } }, packagePath: upload })
          process.stdout.write('task ' + task.id + ' ' + task.seq + '\\n')
        }
      }
    }
    await Promise.all([loop(), loop(), loop()])
  `
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', '--input-type=module', '-e', script, JSON.stringify([s, upload])], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise(resolve => child.once('exit', resolve))
  const acknowledged: string[] = []
  for await (const line of createInterface({ input: child.stdout })) {
    acknowledged.push(line)
    if (acknowledged.length === count) child.kill('SIGKILL')
  }
  await exited
  return acknowledged
}
