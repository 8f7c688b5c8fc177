import test from 'ava'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { makeTarGz } from '../helpers/manager.ts'
import { BIN, pollen } from '../helpers/cli.ts'

/** Start `pollen manager` and resolve with its API URL once it listens. */
async function startManager (args: string[], env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess, url: string }> {
  const child = spawn(process.execPath, [BIN, 'manager', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'ignore'] })
  for await (const line of createInterface({ input: child.stdout! })) {
    const match = /API on (http:\/\/\S+?)[, ]/.exec(line)
    if (match != null) return { child, url: match[1]! }
  }
  throw new Error('manager exited before its API listened')
}

test('pollen init, then a manager that refuses to start without a token and serves the API with one', async t => {
  const root = await mkdtemp(join(tmpdir(), 'pollen-cli-'))
  t.teardown(async () => { await rm(root, { recursive: true, force: true }) })
  const init = await pollen(['init', join(root, 'keys'), '--name', 'fleet'])
  t.is(init.code, 0, init.stderr)
  t.is((await pollen(['init', join(root, 'keys')])).code, 1, 'init refuses to overwrite')
  const base = ['--swarm', join(root, 'keys/swarm.json'), '--key', join(root, 'keys/manager.key'), '--data', join(root, 'data'), '--api', '127.0.0.1:0', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns']

  const refused = await pollen(['manager', ...base], { POLLEN_TOKEN: '' })
  t.is(refused.code, 2)
  t.regex(refused.stderr, /refusing to start without an API token/)
  const badChunk = await pollen(['manager', ...base, '--chunk-avg', '1KiB'], { POLLEN_TOKEN: 'operator-secret' })
  t.is(badChunk.code, 2)
  t.regex(badChunk.stderr, /avgChunkBytes must be a whole number of bytes from 16 KiB to 2 MiB/)

  const { child, url } = await startManager(base, { POLLEN_TOKEN: 'operator-secret' })
  const exited = new Promise<number | null>(resolve => child.once('exit', resolve))
  t.teardown(() => { child.kill('SIGKILL') })
  const bearer = { authorization: 'Bearer operator-secret' }

  t.is((await fetch(`${url}/health`)).status, 200)
  t.is((await fetch(`${url}/tasks`)).status, 401)

  const form = new FormData()
  form.append('task', 'stages:\n  transfer: [app]\n  run: [sh app/run.sh]\ntarget:\n  tags: [drone]\n')
  form.append('package', new Blob([await readFile(await makeTarGz(root, { 'app/run.sh': 'echo hi\n' }))]), 'package.tar.gz')
  const created = await fetch(`${url}/tasks`, { method: 'POST', body: form, headers: bearer })
  t.is(created.status, 201)
  const task = await created.json() as { id: string, package: { cid: string } }
  t.is(created.headers.get('location'), `/tasks/${task.id}`)
  const detail = await (await fetch(`${url}/tasks/${task.id}`, { headers: bearer })).json() as { summary: unknown }
  t.truthy(detail.summary)

  // A read token created while the manager runs is honoured at once.
  const token = await pollen(['token', 'create', '--data', join(root, 'data'), '--scope', 'read', '--name', 'dashboard'])
  t.is(token.code, 0, token.stderr)
  const read = { authorization: `Bearer ${token.stdout.trim()}` }
  t.is((await fetch(`${url}/tasks`, { headers: read })).status, 200)
  t.is((await fetch(`${url}/tasks`, { method: 'POST', headers: { ...read, 'content-type': 'application/json' }, body: '{}' })).status, 403)
  const listed = await pollen(['token', 'list', '--data', join(root, 'data'), '--json'])
  t.false(listed.stdout.includes(token.stdout.trim()), 'token list never shows a token')

  child.kill("SIGTERM")
  t.is(await exited, 0)
})
