import test from 'ava'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Page, TaskDetail } from '../../src/api/service.ts'
import { packDeterministic } from '../../src/archive/index.ts'
import type { StageLog, StageStatus, TargetRecord } from '../../src/core/index.ts'
import { assessDeploy, progressLine, targetProgress } from '../../src/cli/deploy.ts'
import { formatAgo, formatLogLines, parseStage, positiveInt, statusSummary } from '../../src/cli/operator.ts'
import { normaliseApiUrl } from '../../src/cli/api-client.ts'
import { BIN, pollen } from '../helpers/cli.ts'

const TOKEN = 'operator-secret'

// ---------------------------------------------------------------- pure parts

const TASK_ID = 'task-1'

function detail (matched: string[], stages: TaskDetail['summary']['stages'] = { Transfer: {}, Install: {}, Run: {} }, bytes = 1000): TaskDetail {
  return {
    id: TASK_ID,
    stages: { transfer: ['.'], install: [], run: ['./app'] },
    target: { tags: ['drone'] },
    debug: false,
    run: { restart: 'never' },
    package: { cid: 'bafy', bytes },
    seq: 1,
    createdAt: '2025-01-01T00:00:00.000Z',
    expiresAt: '2025-01-08T00:00:00.000Z',
    signature: 'sig',
    summary: { matchedTargets: matched, stages, managerUploadBytes: 0 }
  }
}

function log (Status: StageStatus, Error?: string): StageLog {
  return { Status, Updated: '2025-01-01T00:00:01.000Z', Logs: [], ...(Error !== undefined ? { Error } : {}) }
}

function target (id: string, logs: Partial<Record<'Transfer' | 'Install' | 'Run', StageLog>>, extra: Partial<TargetRecord> = {}): TargetRecord {
  const current = Object.keys(logs).at(-1)?.toUpperCase() as 'TRANSFER' | 'INSTALL' | 'RUN' | undefined
  return {
    ID: id,
    Tags: ['drone'],
    Addresses: [],
    Created: '2025-01-01T00:00:00.000Z',
    History: {},
    ...(current !== undefined ? { Task: { ID: TASK_ID, CurrentStage: current, Error: false, StageLogs: logs } } : {}),
    ...extra
  }
}

const succeeded = (id: string): TargetRecord => target(id, { Transfer: log('SUCCESS'), Install: log('SUCCESS'), Run: log('SUCCESS') }, { History: { [TASK_ID]: 'RUN-SUCCESS' } })

test('assessDeploy: every matched target at Run SUCCESS is done', t => {
  const a = assessDeploy(detail(['a', 'b'], { Transfer: { SUCCESS: 2 }, Install: { SUCCESS: 2 }, Run: { SUCCESS: 2 } }), [succeeded('a'), succeeded('b')])
  t.is(a.state, 'done')
  t.deepEqual(a.matched, ['a', 'b'])
  t.deepEqual(a.done, { Transfer: 2, Install: 2, Run: 2 })
  t.deepEqual(a.bytes, { done: 2000, total: 2000 })
  t.false(a.stale)
  t.deepEqual(a.failures, [])
})

test('assessDeploy: one FAILURE fails the deployment and names the target, its stage and error', t => {
  const broken = target('b', { Transfer: log('SUCCESS'), Install: log('FAILURE', 'make: exit status 2') })
  const a = assessDeploy(detail(['a', 'b', 'c']), [succeeded('a'), broken, target('c', { Transfer: log('STARTED') })])
  t.is(a.state, 'failed')
  t.deepEqual(a.failures, [{ target: 'b', stage: 'Install', status: 'FAILURE', current: true, error: 'make: exit status 2' }])
  t.regex(progressLine(a), /1 failed/)
})

test('assessDeploy: DECLINED fails the deployment, also from History once the target moved on', t => {
  const declined = target('a', { Transfer: log('DECLINED', 'not enough disk') })
  t.is(assessDeploy(detail(['a']), [declined]).state, 'failed')
  const movedOn: TargetRecord = { ...target('b', {}), History: { [TASK_ID]: 'TRANSFER-DECLINED' } }
  const a = assessDeploy(detail(['b']), [movedOn])
  t.is(a.state, 'failed')
  t.deepEqual(a.failures, [{ target: 'b', stage: 'Transfer', status: 'DECLINED', current: false }])
})

test('assessDeploy: targets still in progress (or silent) keep it waiting, with per-stage counts and bytes', t => {
  const transferring = target('a', { Transfer: log('STARTED') }, {})
  const withProgress: TargetRecord = { ...transferring, Task: { ...transferring.Task!, Progress: { Bytes: 250, Total: 1000 } } }
  const installing = target('b', { Transfer: log('SUCCESS'), Install: log('STARTED') })
  const a = assessDeploy(detail(['a', 'b', 'c', 'd']), [withProgress, installing, succeeded('c')])
  t.is(a.state, 'waiting')
  t.deepEqual(a.done, { Transfer: 2, Install: 1, Run: 1 })
  t.deepEqual(a.bytes, { done: 250 + 1000 + 1000, total: 4000 })
  t.true(a.stale, 'the (empty) summary disagrees with the records: re-read them')
})

test('assessDeploy: no matched target is waiting, not done; a target reporting on the task counts even if the summary missed it', t => {
  t.is(assessDeploy(detail([]), []).state, 'waiting')
  const a = assessDeploy(detail([]), [succeeded('late')])
  t.deepEqual(a.matched, ['late'])
  t.is(a.state, 'done')
})

test('targetProgress: History gives the stages of a target that moved on; a failure in History stands', t => {
  t.deepEqual(targetProgress(TASK_ID, { ...target('a', {}), History: { [TASK_ID]: 'INSTALL-FAILURE' } }), { Transfer: 'SUCCESS', Install: 'FAILURE' })
  t.is(targetProgress(TASK_ID, target('a', {})), undefined)
  const rebuilt = target('a', { Run: log('STARTED') }, { History: { [TASK_ID]: 'RUN-FAILURE' } })
  t.deepEqual(targetProgress(TASK_ID, rebuilt), { Transfer: 'SUCCESS', Install: 'SUCCESS', Run: 'FAILURE' })
})

test('statusSummary counts each target at its furthest stage', t => {
  const summary = { matchedTargets: ['a', 'b', 'c', 'd'], stages: { Transfer: { SUCCESS: 3 }, Install: { SUCCESS: 2, FAILURE: 1 }, Run: { SUCCESS: 2 } }, managerUploadBytes: 0 }
  t.is(statusSummary(summary), '1 INSTALL-FAILURE, 2 RUN-SUCCESS, 1 PENDING')
  t.is(statusSummary({ matchedTargets: [], stages: { Transfer: {}, Install: {}, Run: {} }, managerUploadBytes: 0 }), '-')
})

test('formatLogLines: [stage] time command: output, errors marked, the stage error last', t => {
  const lines = formatLogLines({
    Install: { Status: 'FAILURE', Updated: '2025-01-01T00:00:02.000Z', Error: 'exit status 2', Logs: [
      { Command: 'make', Output: 'building', Error: false, Time: 1_735_689_600 },
      { Command: 'make', Output: 'no rule', Error: true, Time: 1_735_689_601 }
    ] },
    Run: { Status: 'STARTED', Updated: '2025-01-01T00:00:03.000Z', Logs: [] }
  })
  t.deepEqual(lines, [
    '[install] 2025-01-01 00:00:00Z make: building',
    '[install] 2025-01-01 00:00:01Z ERROR make: no rule',
    '[install] 2025-01-01 00:00:02Z ERROR FAILURE: exit status 2',
    '[run] 2025-01-01 00:00:03Z STARTED (no log lines at the manager; --request asks the agent)'
  ])
})

test('small parsers and formatters', t => {
  t.is(formatAgo(1_000, 4_500), '3 s ago')
  t.is(formatAgo(0, 5 * 60_000), '5 min ago')
  t.is(formatAgo(5_000, 1_000), 'just now')
  t.is(parseStage('Install'), 'install')
  t.throws(() => parseStage('deploy'), { name: 'InvalidOptionError' })
  t.is(positiveInt('--page', '3'), 3)
  t.throws(() => positiveInt('--per-page', '501', 500), { name: 'InvalidOptionError' })
  t.is(normaliseApiUrl('127.0.0.1:8080/'), 'http://127.0.0.1:8080')
  t.throws(() => normaliseApiUrl('ftp://x'), { name: 'InvalidOptionError' })
})

// ------------------------------------------------- against a real manager

interface Fixture { root: string, url: string, child: ChildProcess, env: NodeJS.ProcessEnv }
let fixture: Promise<Fixture> | undefined

/** One manager for the tests of this file, started on first use. */
async function manager (): Promise<Fixture> {
  fixture ??= startManager()
  return await fixture
}

async function startManager (): Promise<Fixture> {
  const root = await mkdtemp(join(tmpdir(), 'pollen-operator-'))
  const init = await pollen(['init', join(root, 'keys'), '--name', 'fleet'])
  if (init.code !== 0) throw new Error(init.stderr)
  const args = ['manager', '--swarm', join(root, 'keys/swarm.json'), '--key', join(root, 'keys/manager.key'), '--data', join(root, 'data'),
    '--api', '127.0.0.1:0', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns']
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, POLLEN_TOKEN: TOKEN }, stdio: ['ignore', 'pipe', 'ignore'] })
  for await (const line of createInterface({ input: child.stdout! })) {
    const match = /API on (http:\/\/\S+?)[, ]/.exec(line)
    if (match != null) {
      child.stdout!.resume()
      return { root, url: match[1]!, child, env: { POLLEN_API: match[1]!, POLLEN_TOKEN: TOKEN } }
    }
  }
  throw new Error('manager exited before its API listened')
}

test.after.always(async () => {
  if (fixture === undefined) return
  const { child, root } = await fixture
  const exited = new Promise(resolve => child.once('exit', resolve))
  child.kill('SIGTERM')
  await Promise.race([exited, new Promise(resolve => setTimeout(resolve, 10_000))])
  child.kill('SIGKILL')
  await rm(root, { recursive: true, force: true })
})

/** A package directory and a task file delivering it. */
async function taskFiles (root: string, name: string, task: string): Promise<{ dir: string, file: string }> {
  const dir = join(root, `${name}-package`)
  await mkdir(join(dir, 'bin'), { recursive: true })
  await writeFile(join(dir, 'run.sh'), 'echo hello\n')
  await writeFile(join(dir, 'bin/data.bin'), Buffer.alloc(70_000, 7))
  const file = join(root, `${name}.yaml`)
  await writeFile(file, task)
  return { dir, file }
}

const VALID_TASK = 'description: operator test\nstages:\n  transfer: [.]\n  run: [sh run.sh]\ntarget:\n  tags: [drone]\n'

test('deploy with a package prints the task; the task is listed with the size of the packed directory', async t => {
  const { root, url, env } = await manager()
  const { dir, file } = await taskFiles(root, 'valid', VALID_TASK)
  const deployed = await pollen(['deploy', file, '--package', dir, '--api', url, '--token', TOKEN])
  t.is(deployed.code, 0, deployed.stderr)
  const id = /^task (\S+)$/m.exec(deployed.stdout)?.[1]
  t.truthy(id, deployed.stdout)
  t.regex(deployed.stdout, /^package \S+ \(.+, \d+ bytes\)$/m)

  const expected = join(root, 'expected.tar')
  await packDeterministic(dir, ['.'], expected)
  const listed = await pollen(['tasks', '--json'], env)
  t.is(listed.code, 0, listed.stderr)
  const page = JSON.parse(listed.stdout) as Page<TaskDetail>
  const task = page.items.find(item => item.id === id)
  t.truthy(task)
  t.is(task?.package?.bytes, (await stat(expected)).size)
  t.deepEqual(task?.summary.matchedTargets, [])
  t.regex(deployed.stdout, new RegExp(`\\(.+, ${(await stat(expected)).size} bytes\\)`))

  const table = await pollen(['tasks'], env)
  t.is(table.code, 0, table.stderr)
  t.true(table.stdout.includes(id!))
  t.true(table.stdout.includes('operator test'))
})

test('deploy of an invalid task prints the API message naming the field and exits 1', async t => {
  const { root, env } = await manager()
  const { dir, file } = await taskFiles(root, 'invalid', 'stages:\n  transfer: [.]\n  run: sh run.sh\ntarget:\n  tags: [drone]\n')
  const withPackage = await pollen(['deploy', file, '--package', dir], env)
  t.is(withPackage.code, 1)
  t.regex(withPackage.stderr, /400 Bad Request: .*stages\.run.*\[field stages\.run\]/)
  const json = join(root, 'invalid.json')
  await writeFile(json, JSON.stringify({ stages: { run: ['x'] }, target: { tags: ['drone'] }, colour: 'blue' }))
  const without = await pollen(['deploy', json], env)
  t.is(without.code, 1)
  t.regex(without.stderr, /colour/)
})

test('a wrong token exits 1 with the 401 message; an unreachable manager is named', async t => {
  const { root, env } = await manager()
  const { file } = await taskFiles(root, 'token', VALID_TASK)
  const wrong = await pollen(['deploy', file], { ...env, POLLEN_TOKEN: 'not-the-token' })
  t.is(wrong.code, 1)
  t.regex(wrong.stderr, /401 Unauthorized: unknown token/)

  const unreachable = await pollen(['targets', '--api', 'http://127.0.0.1:1'], env)
  t.is(unreachable.code, 1)
  t.regex(unreachable.stderr, /cannot reach the manager at http:\/\/127\.0\.0\.1:1/)
})

test('bad flags exit 2; an unknown target is the API\'s 404', async t => {
  const { root, env } = await manager()
  const { file } = await taskFiles(root, 'flags', VALID_TASK)
  t.is((await pollen(['tasks', '--per-page', '0'], env)).code, 2)
  t.is((await pollen(['deploy', file, '--wait', '--timeout', 'soon'], env)).code, 2)
  t.is((await pollen(['logs', 'drone-1', '--stage', 'deploy'], env)).code, 2)
  const missing = await pollen(['logs', 'drone-1'], env)
  t.is(missing.code, 1)
  t.regex(missing.stderr, /404 Not Found/)
})

test('targets --json on a fresh manager is an empty list', async t => {
  const { env } = await manager()
  const listed = await pollen(['targets', '--json'], env)
  t.is(listed.code, 0, listed.stderr)
  t.deepEqual(JSON.parse(listed.stdout), [])
  const table = await pollen(['targets', '--tags', 'drone,arm'], env)
  t.is(table.code, 0, table.stderr)
})

test('deploy --wait with no agents gives up after the timeout: no target completed', async t => {
  const { root, env } = await manager()
  const { dir, file } = await taskFiles(root, 'wait', VALID_TASK)
  const waited = await pollen(['deploy', file, '--package', dir, '--wait', '--timeout', '5'], env)
  t.is(waited.code, 1, waited.stderr)
  t.regex(waited.stdout, /^task \S+$/m)
  t.regex(waited.stderr, /timed out after 5 s: no target completed \(matched 0\)/)
  t.regex(waited.stderr, /matched 0 · transfer 0\/0/, 'a progress line when stderr is not a terminal')
  t.true(waited.ms >= 5_000, `took ${waited.ms} ms`)
  t.true(waited.ms < 90_000, `took ${waited.ms} ms`)
})
