import test, { type ExecutionContext } from 'ava'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { groupAlive, waitFor } from '../../src/agent/commands.ts'
import { createSupervisor, restartDelayMs, shouldRestart, type Supervisor, type SupervisorEvent, type SupervisorOptions } from '../../src/agent/supervisor.ts'
import type { LogEntry } from '../../src/core/index.ts'

/** Waits until the file `go` exists in the working directory, so a test decides when the program exits. */
const WAIT_FOR_GO = 'while [ ! -f go ]; do sleep 0.05; done'
const WAIT_MS = 60_000

type Timed = SupervisorEvent & { at: number }

/** Records events and lines; `until` resolves once a condition on them holds. */
function recorder () {
  const events: Timed[] = []
  const lines: LogEntry[] = []
  const waiters = new Set<() => void>()
  const notify = (): void => { for (const check of [...waiters]) check() }
  return {
    events,
    lines,
    onEvent: (event: SupervisorEvent) => { events.push({ ...event, at: performance.now() }); notify() },
    onLine: (line: LogEntry) => { lines.push(line); notify() },
    async until (condition: () => boolean, what: string): Promise<void> {
      await new Promise<void>((resolve, reject) => {
        const done = (): void => { clearTimeout(timer); waiters.delete(check) }
        const check = (): void => { if (condition()) { done(); resolve() } }
        const timer = setTimeout(() => { done(); reject(new Error(`timed out waiting for ${what}`)) }, WAIT_MS)
        waiters.add(check)
        check()
      })
    }
  }
}

interface Setup { dir: string, rec: ReturnType<typeof recorder>, sup: Supervisor }

async function setup (t: ExecutionContext, options: Partial<SupervisorOptions> & Pick<SupervisorOptions, 'commands' | 'restart'>): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), 'pollen-supervisor-'))
  const rec = recorder()
  const sup = createSupervisor({ cwd: dir, settleMs: 200, graceMs: 30_000, reapTimeoutMs: 30_000, onLine: rec.onLine, onEvent: rec.onEvent, ...options })
  t.teardown(async () => {
    sup.killAll()
    await sup.stop()
    await rm(dir, { recursive: true, force: true })
  })
  return { dir, rec, sup }
}

const ofType = (events: Timed[], type: SupervisorEvent['type']): Timed[] => events.filter(e => e.type === type)

test('restartDelayMs doubles from the minimum up to the maximum; shouldRestart follows the policy', t => {
  t.deepEqual([0, 1, 2, 3, 4, 5, 2000].map(n => restartDelayMs(n, 100, 1000)), [100, 200, 400, 800, 1000, 1000, 1000])
  t.deepEqual([shouldRestart('never', true), shouldRestart('never', false)], [false, false])
  t.deepEqual([shouldRestart('on-failure', true), shouldRestart('on-failure', false)], [true, false])
  t.deepEqual([shouldRestart('always', true), shouldRestart('always', false)], [true, true])
})

test('start succeeds for a long-running program; stop terminates it with SIGTERM; both are idempotent', async t => {
  const { rec, sup } = await setup(t, { commands: ['echo started; exec sleep 1000'], restart: 'always' })
  t.deepEqual(await sup.start(), { ok: true })
  const [status] = sup.status()
  t.true(status?.running)
  const pid = status!.pid!
  t.true(pid > 1)
  await rec.until(() => rec.lines.some(l => l.Output === 'started'), 'output')
  t.like(rec.lines[0], { Command: 'echo started; exec sleep 1000', Output: 'started', Error: false, LineNum: 1 })
  await Promise.all([sup.stop(), sup.stop()])
  t.deepEqual(rec.events.map(e => [e.type, e.signal]), [['exit', 'SIGTERM']])
  t.like(sup.status()[0], { running: false, restarts: 0, lastExit: { code: null, signal: 'SIGTERM' } })
  t.like(rec.lines.at(-1), { Output: 'killed by SIGTERM', Error: false, LineNum: 2 })
  t.false(groupAlive(pid))
  t.deepEqual(await sup.start(), { ok: true })
})

test('start fails when a program exits with failure within the settle window, and stops the others', async t => {
  const { rec, sup } = await setup(t, { commands: ['exec sleep 1000', 'exit 3'], restart: 'always', settleMs: WAIT_MS })
  const result = await sup.start()
  t.deepEqual(result, { ok: false, index: 1, command: 'exit 3', error: 'stages.run[1] ("exit 3"): exit status 3' })
  const [sleeper] = sup.status()
  t.false(sleeper?.running)
  t.false(groupAlive(sleeper!.pid!))
  t.is(ofType(rec.events, 'restart').length, 0)
  t.like(rec.lines.find(l => l.Command === 'exit 3'), { Output: 'exit status 3', Error: true })
})

test('a program exiting cleanly within the settle window is fine (one-shot)', async t => {
  const { rec, sup } = await setup(t, { commands: ['true', 'exec sleep 1000'], restart: 'on-failure', settleMs: 1_000 })
  t.deepEqual(await sup.start(), { ok: true })
  await rec.until(() => rec.events.some(e => e.index === 0 && e.type === 'exit'), 'the one-shot exit')
  t.like(rec.events[0], { type: 'exit', index: 0, code: 0, signal: null })
  t.like(sup.status()[1], { running: true })
})

test('aborting start stops what it started', async t => {
  const { sup } = await setup(t, { commands: ['exec sleep 1000'], restart: 'always', settleMs: WAIT_MS })
  const controller = new AbortController()
  const started = sup.start(controller.signal)
  controller.abort()
  t.deepEqual(await started, { ok: false, error: 'aborted' })
  const [status] = sup.status()
  t.false(status?.running)
  if (status?.pid !== undefined) t.false(groupAlive(status.pid))
})

test('on-failure restarts a failing program with exponential backoff', async t => {
  const { dir, rec, sup } = await setup(t, {
    commands: [`${WAIT_FOR_GO}; echo failing; exit 1`], restart: 'on-failure', backoffMinMs: 100, backoffMaxMs: 400, stableMs: 600_000
  })
  t.deepEqual(await sup.start(), { ok: true })
  await writeFile(join(dir, 'go'), '')
  await rec.until(() => ofType(rec.events, 'restart').length >= 4, 'four restarts')
  await sup.stop()
  const exits = ofType(rec.events, 'exit')
  const restarts = ofType(rec.events, 'restart').slice(0, 4)
  t.true(restarts.every(e => e.code === 1 && e.signal === null))
  const delays = restarts.map((restart, i) => restart.at - exits[i]!.at)
  for (const [i, expected] of [100, 200, 400, 400].entries()) t.true(delays[i]! >= expected - 5, `restart ${i} after ${delays[i]} ms, expected ${expected}`)
  t.true(sup.status()[0]!.restarts >= 4)
  t.is(ofType(rec.events, 'gave-up').length, 0)
  const failing = rec.lines.filter(l => l.Output === 'failing').map(l => l.LineNum!)
  t.true(failing.length >= 4)
  t.true(failing.every((n, i) => i === 0 || n > failing[i - 1]!), 'line numbers keep counting across restarts')
})

test('never leaves a failed program down and gives up', async t => {
  const { dir, rec, sup } = await setup(t, { commands: [`${WAIT_FOR_GO}; exit 2`], restart: 'never', backoffMinMs: 10 })
  t.deepEqual(await sup.start(), { ok: true })
  await writeFile(join(dir, 'go'), '')
  await rec.until(() => ofType(rec.events, 'gave-up').length === 1, 'gave-up')
  t.deepEqual(rec.events.map(e => [e.type, e.code]), [['exit', 2], ['gave-up', 2]])
  t.like(sup.status()[0], { running: false, restarts: 0, lastExit: { code: 2 } })
})

test('always restarts a program after a clean exit', async t => {
  const { dir, rec, sup } = await setup(t, { commands: [`${WAIT_FOR_GO}; echo run; exit 0`], restart: 'always', backoffMinMs: 20, backoffMaxMs: 40 })
  t.deepEqual(await sup.start(), { ok: true })
  await writeFile(join(dir, 'go'), '')
  await rec.until(() => ofType(rec.events, 'restart').length >= 2, 'two restarts')
  await sup.stop()
  t.true(ofType(rec.events, 'restart').every(e => e.code === 0))
  t.is(ofType(rec.events, 'gave-up').length, 0)
})

test('stop SIGKILLs a program that ignores SIGTERM after graceMs, and nothing restarts afterwards', async t => {
  const { rec, sup } = await setup(t, {
    commands: ["trap '' TERM; echo ready; while :; do sleep 0.1; done", 'exec sleep 1000'], restart: 'always', backoffMinMs: 10, graceMs: 1_000
  })
  t.deepEqual(await sup.start(), { ok: true })
  await rec.until(() => rec.lines.some(l => l.Output === 'ready'), 'the trap to be set')
  const pids = sup.status().map(s => s.pid!)
  const begun = performance.now()
  await sup.stop()
  t.true(performance.now() - begun >= 1_000 - 5)
  const exits = ofType(rec.events, 'exit')
  t.is(exits.find(e => e.index === 0)?.signal, 'SIGKILL')
  t.is(exits.find(e => e.index === 1)?.signal, 'SIGTERM')
  t.true(pids.every(pid => !groupAlive(pid)))
  await sleep(300) // a negative check: long enough for any restart a 10 ms backoff would have made
  t.is(ofType(rec.events, 'restart').length, 0)
  t.true(sup.status().every(s => !s.running && s.restarts === 0))
})

test('stop cancels a pending restart', async t => {
  const { dir, rec, sup } = await setup(t, { commands: [`${WAIT_FOR_GO}; exit 1`], restart: 'on-failure', backoffMinMs: 300 })
  t.deepEqual(await sup.start(), { ok: true })
  await writeFile(join(dir, 'go'), '')
  await rec.until(() => ofType(rec.events, 'exit').length === 1, 'the exit')
  await sup.stop()
  await sleep(600) // a negative check: twice the pending restart's delay
  t.deepEqual(rec.events.map(e => e.type), ['exit'])
})

test('killAll kills every process group at once, background children included', async t => {
  const { rec, sup } = await setup(t, { commands: ['echo $$; sleep 1000 & wait'], restart: 'always', backoffMinMs: 10 })
  t.deepEqual(await sup.start(), { ok: true })
  await rec.until(() => rec.lines.length > 0, 'the pid')
  const pgid = Number(rec.lines[0]!.Output)
  sup.killAll()
  t.true(await waitFor(() => !groupAlive(pgid), 30_000))
  await rec.until(() => ofType(rec.events, 'exit').length === 1, 'the exit')
  t.is(rec.events[0]?.signal, 'SIGKILL')
  await sup.stop()
  t.is(ofType(rec.events, 'restart').length, 0)
})

test('what a failed process left in its group is killed when it is restarted', async t => {
  const { dir, rec, sup } = await setup(t, {
    commands: [`${WAIT_FOR_GO}; echo $$; sleep 1000 & exit 1`], restart: 'on-failure', backoffMinMs: 60_000, drainMs: 200
  })
  t.deepEqual(await sup.start(), { ok: true })
  await writeFile(join(dir, 'go'), '')
  await rec.until(() => rec.lines.length > 0, 'the pid')
  const pgid = Number(rec.lines[0]!.Output)
  await rec.until(() => ofType(rec.events, 'exit').length === 1, 'the exit')
  t.true(await waitFor(() => !groupAlive(pgid), 30_000))
})

test('what a one-shot command leaves running in its group is stopped with the rest', async t => {
  const { rec, sup } = await setup(t, { commands: ['echo $$; sleep 1000 &'], restart: 'never', drainMs: 200 })
  t.deepEqual(await sup.start(), { ok: true })
  await rec.until(() => ofType(rec.events, 'exit').length === 1, 'the exit')
  const pgid = Number(rec.lines[0]!.Output)
  t.true(groupAlive(pgid), 'the background process is still running')
  await sup.stop()
  t.false(groupAlive(pgid))
  t.deepEqual(rec.events.map(e => [e.type, e.code]), [['exit', 0]])
})
