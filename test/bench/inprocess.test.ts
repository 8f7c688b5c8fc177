import test from 'ava'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sharePositions } from '../../bench/agent-group.ts'

const BENCH = fileURLToPath(new URL('../../bench/index.ts', import.meta.url))

/** Run `bench` with `args`; resolves with its stdout, rejects with its stderr's tail when it fails. */
async function bench (args: string[]): Promise<string> {
  const child = spawn(process.execPath, [BENCH, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (b: Buffer) => { out += b.toString() })
  child.stderr.on('data', (b: Buffer) => { err += b.toString() })
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
  if (code !== 0) throw new Error(`bench exited ${code}:\n${err.slice(-4000)}`)
  return out
}

/** Run `bench inprocess` without baselines and return the JSON line it prints last. */
async function runInprocess (args: string[]): Promise<Record<string, any>> {
  // The Helia baseline, where the bench has it, is skipped too.
  const skipHelia = (await bench(['inprocess', '--help'])).includes('--no-helia') ? ['--no-helia'] : []
  const out = await bench(['inprocess', '--json', '--no-http', ...skipHelia, ...args])
  return JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, any>
}

test('positions are dealt out contiguously, every agent exactly once', t => {
  const all = [0, 1, 2].flatMap(w => sharePositions(10, 3, w))
  t.deepEqual(all, Array.from({ length: 10 }, (_, i) => i))
  t.deepEqual(sharePositions(3, 2, 0), [0])
  t.deepEqual(sharePositions(3, 2, 1), [1, 2])
})

test('3 agents in 2 worker processes, reports straight to the manager, deploy end to end and report per-process figures', async t => {
  t.timeout(300_000)
  const out = await mkdtemp(join(tmpdir(), 'pollen-inprocess-test-'))
  t.teardown(async () => { await rm(out, { recursive: true, force: true }) })
  const r = await runInprocess(['--agents', '3', '--size', '1MiB', '--workers', '2', '--degree', '2', '--status-relay', 'never', '--connection-target', '4', '--out', out])
  t.is(r.agents, 3)
  t.is(r.connectionTarget, 4)
  t.is(r.workers, 2)
  t.is(r.relayStatus, 'never')
  t.is(r.payloadsVerified, 3)
  t.true(r.systems.pollen.allVerified)
  t.is(r.systems.pollen.times.length, 3)
  t.is(r.workerPeakRssBytes.length, 2)
  for (const bytes of r.workerPeakRssBytes) t.true(bytes > 10 * 1024 * 1024)
  t.true(r.cpuSecondsPerAgent > 0)
  t.true(r.peakRssBytesPerAgent > 0)
  // Each agent dialled two others: with the manager, everyone sees at least two peers.
  t.true(r.meanPeersAtSubmit >= 2, `${r.meanPeersAtSubmit}`)
})
