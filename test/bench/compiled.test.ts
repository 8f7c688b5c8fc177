import { execFile } from 'node:child_process'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import test from 'ava'
import { buildCompiledCli } from '../../bench/compiled.ts'

const run = promisify(execFile)

test('the compiled CLI runs from its own directory, without the sources', async t => {
  t.timeout(300_000)
  const dir = await mkdtemp(join(tmpdir(), 'pollen-compiled-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const bin = await buildCompiledCli(dir)
  t.is(bin, join(dir, 'bin', 'pollen.js'))
  t.true((await stat(join(dir, 'dist', 'cli', 'main.js'))).isFile())
  // `init` loads the node layer (libp2p keys) and writes the swarm files: more than --version would.
  const { stdout } = await run(process.execPath, [bin, 'init', join(dir, 'swarm'), '--name', 'compiled'], { timeout: 120_000 })
  t.regex(stdout, /swarm/i)
  t.true((await stat(join(dir, 'swarm', 'swarm.json'))).isFile())
  const version = await run(process.execPath, [bin, '--version'], { timeout: 60_000 })
  t.is(version.stdout.trim(), '0.1.0')
})
