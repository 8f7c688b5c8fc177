import test from 'ava'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLineSplitter, runCommands } from '../../src/agent/commands.ts'
import type { LogEntry } from '../../src/core/index.ts'

async function scratch (t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pollen-commands-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** Throws ESRCH when no process of the group exists. */
const probeGroup = (pgid: number): void => { process.kill(-pgid, 0) }

test('reports output lines with line numbers and stderr flags, then the exit status; stops at the first failure', async t => {
  const dir = await scratch(t)
  const lines: LogEntry[] = []
  const result = await runCommands([
    "printf 'one\\ntwo\\n\\nlast without newline'",
    'echo oops >&2; exit 3',
    'touch after'
  ], { cwd: dir, timeoutMs: 60_000, onLine: entry => { lines.push(entry) } })
  t.deepEqual(result, { ok: false, index: 1, command: 'echo oops >&2; exit 3', error: 'exit status 3' })
  const first = "printf 'one\\ntwo\\n\\nlast without newline'"
  t.deepEqual(lines.map(({ Time, ...rest }) => rest), [
    { Command: first, Output: 'one', Error: false, LineNum: 1 },
    { Command: first, Output: 'two', Error: false, LineNum: 2 },
    { Command: first, Output: '', Error: false, LineNum: 3 },
    { Command: first, Output: 'last without newline', Error: false, LineNum: 4 },
    { Command: first, Output: 'exit status 0', Error: false, LineNum: 5 },
    { Command: 'echo oops >&2; exit 3', Output: 'oops', Error: true, LineNum: 1 },
    { Command: 'echo oops >&2; exit 3', Output: 'exit status 3', Error: true, LineNum: 2 }
  ])
  const now = Date.now() / 1000
  t.true(lines.every(l => Number.isInteger(l.Time) && Math.abs(l.Time - now) < 600))
  await t.throwsAsync(stat(join(dir, 'after')), { code: 'ENOENT' })
})

test('runs every command in the directory given, with the environment given', async t => {
  const dir = await scratch(t)
  const lines: LogEntry[] = []
  const result = await runCommands(['pwd', 'echo "$POLLEN_TEST"', 'touch made'], {
    cwd: dir, env: { PATH: process.env.PATH, POLLEN_TEST: 'hello' }, onLine: entry => { lines.push(entry) }
  })
  t.deepEqual(result, { ok: true })
  t.deepEqual(lines.filter(l => !l.Output.startsWith('exit status')).map(l => l.Output), [dir, 'hello'])
  t.true((await stat(join(dir, 'made'))).isFile())
})

test('cuts lines longer than maxLineBytes', async t => {
  const dir = await scratch(t)
  const lines: string[] = []
  const result = await runCommands(["head -c 10000 /dev/zero | tr '\\0' x; echo; echo short"], {
    cwd: dir, maxLineBytes: 100, onLine: entry => { lines.push(entry.Output) }
  })
  t.true(result.ok)
  t.deepEqual(lines, ['x'.repeat(100), 'short', 'exit status 0'])
})

test('the line splitter cuts at a UTF-8 character boundary and drops a trailing CR', t => {
  const lines: string[] = []
  const split = createLineSplitter(5, line => { lines.push(line) })
  split.write(Buffer.from('abcd\u00e9\u00e9 rest\r\nok\r\n'))
  split.write(Buffer.from('tail'))
  split.end()
  split.end()
  t.deepEqual(lines, ['abcd', 'ok', 'tail'])
})

test('a timeout kills the whole process group, background children included', async t => {
  const dir = await scratch(t)
  let pgid = 0
  const result = await runCommands(['echo $$; sleep 1000 & wait'], {
    cwd: dir,
    timeoutMs: 3_000,
    reapTimeoutMs: 30_000,
    onLine: entry => { if (pgid === 0) pgid = Number(entry.Output) }
  })
  t.deepEqual(result, { ok: false, index: 0, command: 'echo $$; sleep 1000 & wait', error: 'timed out after 3000 ms' })
  t.true(pgid > 1)
  t.throws(() => { probeGroup(pgid) }, { code: 'ESRCH' })
})

test('processes a successful command leaves in its group are killed', async t => {
  const dir = await scratch(t)
  let pgid = 0
  const result = await runCommands(['echo $$; sleep 1000 &'], {
    cwd: dir, reapTimeoutMs: 30_000, onLine: entry => { if (pgid === 0) pgid = Number(entry.Output) }
  })
  t.deepEqual(result, { ok: true })
  t.throws(() => { probeGroup(pgid) }, { code: 'ESRCH' })
})

test('aborting kills the running command and skips the rest', async t => {
  const dir = await scratch(t)
  const controller = new AbortController()
  let pgid = 0
  const result = await runCommands(['echo $$; sleep 1000', 'touch after'], {
    cwd: dir,
    signal: controller.signal,
    reapTimeoutMs: 30_000,
    onLine: entry => {
      if (pgid === 0) { pgid = Number(entry.Output); controller.abort() }
    }
  })
  t.deepEqual(result, { ok: false, index: 0, command: 'echo $$; sleep 1000', error: 'aborted' })
  t.throws(() => { probeGroup(pgid) }, { code: 'ESRCH' })
  await t.throwsAsync(stat(join(dir, 'after')), { code: 'ENOENT' })
  const again = await runCommands(['touch after'], { cwd: dir, signal: controller.signal, onLine: () => {} })
  t.deepEqual(again, { ok: false, index: 0, command: 'touch after', error: 'aborted' })
})

test('a command killed by a signal and a directory that does not exist are failures', async t => {
  const dir = await scratch(t)
  const killed = await runCommands(['kill -TERM $$'], { cwd: dir, onLine: () => {} })
  t.deepEqual(killed, { ok: false, index: 0, command: 'kill -TERM $$', error: 'killed by SIGTERM' })
  const missing = await runCommands(['true'], { cwd: join(dir, 'nope'), onLine: () => {} })
  t.false(missing.ok)
  if (!missing.ok) t.regex(missing.error, /^failed to start: /)
  t.deepEqual(await runCommands([], { cwd: dir, onLine: () => {} }), { ok: true })
})
