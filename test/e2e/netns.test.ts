import test from 'ava'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { createLab, labUnavailable, type LabHost } from '../../bench/lab.ts'
import type { TargetRecord } from '../../src/core/index.ts'
import { initSwarm } from '../../src/node/index.ts'
import { BIN } from '../helpers/cli.ts'
import { makeTarGz } from '../helpers/manager.ts'

const why = await labUnavailable()
const labTest = why == null ? test : test.skip
const TOKEN = 'lab-token'

labTest(`hosts in network namespaces find each other with mDNS alone and deploy end to end${why == null ? '' : ` (skipped: ${why})`}`, async t => {
  const root = await mkdtemp(join(tmpdir(), 'pollen-lab-'))
  const lab = await createLab(3, [8 * 1024 * 1024, 8 * 1024 * 1024, 8 * 1024 * 1024], { prefix: 'pt', subnet: '10.78' })
  t.teardown(async () => { await lab.destroy(); await rm(root, { recursive: true, force: true }) })
  const keys = await initSwarm(join(root, 'keys'), 'lab')
  const [managerHost, ...agentHosts] = lab.hosts as [LabHost, ...LabHost[]]
  const manager = lab.spawnIn(managerHost, process.execPath, [BIN, 'manager', '--swarm', keys.swarmPath, '--key', keys.keyPath, '--data', join(root, 'manager'),
    '--api', `${managerHost.ip}:8080`, '--listen', `/ip4/${managerHost.ip}/tcp/4001`], { env: { POLLEN_TOKEN: TOKEN } })
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: manager.stdout! }).on('line', line => { if (line.includes('API on')) resolve() })
    manager.once('exit', () => { reject(new Error('the manager exited')) })
  })
  // No bootstrap address: the agents must find the manager and each other on the LAN.
  for (const [i, host] of agentHosts.entries()) {
    const agent = lab.spawnIn(host, process.execPath, [BIN, 'agent', '--swarm', keys.swarmPath, '--data', join(root, `dev-${i}`), '--id', `dev-${i}`, '--tags', 'lab', '--listen', `/ip4/${host.ip}/tcp/4001`])
    agent.stdout!.resume()
  }
  const api = `http://${managerHost.ip}:8080`
  const targets = async (): Promise<TargetRecord[]> => {
    const res = await fetch(`${api}/targets`, { headers: { authorization: `Bearer ${TOKEN}` } })
    return (await res.json() as { items: TargetRecord[] }).items
  }
  const until = async (check: (ts: TargetRecord[]) => boolean, what: string): Promise<TargetRecord[]> => {
    const deadline = Date.now() + 120_000
    for (;;) {
      const ts = await targets().catch(() => [])
      if (check(ts)) return ts
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(ts.map(x => [x.ID, x.History]))}`)
      await new Promise(resolve => setTimeout(resolve, 250))
    }
  }
  const registered = await until(ts => ts.length === 2, 'both agents to register over mDNS')
  t.deepEqual(registered.map(r => r.Addresses.some(a => a.includes(agentHosts[0]!.ip) || a.includes(agentHosts[1]!.ip))), [true, true])

  const form = new FormData()
  form.append('task', 'stages:\n  transfer: [app]\n  install: ["mv app/* ."]\n  run: ["sh run.sh"]\ntarget:\n  tags: [lab]\n')
  form.append('package', new Blob([await readFile(await makeTarGz(root, { 'app/run.sh': 'echo "on $(hostname -I 2>/dev/null || echo host)" > where.txt\nexec sleep 100000\n', 'app/blob': 'b'.repeat(1_000_000) }))]), 'p.tar.gz')
  const res = await fetch(`${api}/tasks`, { method: 'POST', body: form, headers: { authorization: `Bearer ${TOKEN}` } })
  t.is(res.status, 201)
  const task = await res.json() as { id: string }
  await until(ts => ts.every(r => r.History[task.id] === 'RUN-SUCCESS'), 'both agents to run the task')
  for (const i of [0, 1]) t.true((await readFile(join(root, `dev-${i}`, 'current', 'where.txt'), 'utf8')).startsWith('on '))
})
