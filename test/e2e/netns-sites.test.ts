import test from 'ava'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { createSitesLab, labUnavailable, type LabHost } from '../../bench/lab.ts'
import type { TargetRecord } from '../../src/core/index.ts'
import { initSwarm } from '../../src/node/index.ts'
import { BIN } from '../helpers/cli.ts'
import { makeTarGz } from '../helpers/manager.ts'

const why = await labUnavailable()
const labTest = why == null ? test : test.skip
const TOKEN = 'sites-token'
const MiB = 1024 * 1024

labTest(`a device site behind a shaped WAN link gets the package mostly once across the WAN${why == null ? '' : ` (skipped: ${why})`}`, async t => {
  t.timeout(300_000)
  const root = await mkdtemp(join(tmpdir(), 'pollen-sites-'))
  const lab = await createSitesLab({ hostsPerSite: [1, 3], rate: () => 8 * MiB, wanRate: 1 * MiB }, { prefix: 'ps', subnet: '10.79' })
  t.teardown(async () => { await lab.destroy(); await rm(root, { recursive: true, force: true }) })
  const keys = await initSwarm(join(root, 'keys'), 'sites')
  const [managerHost, ...agentHosts] = lab.hosts as [LabHost, ...LabHost[]]
  t.deepEqual(agentHosts.map(h => h.site), [1, 1, 1])
  const manager = lab.spawnIn(managerHost, process.execPath, [BIN, 'manager', '--swarm', keys.swarmPath, '--key', keys.keyPath, '--data', join(root, 'manager'),
    '--api', `${managerHost.ip}:8080`, '--listen', `/ip4/${managerHost.ip}/tcp/4001`], { env: { POLLEN_TOKEN: TOKEN } })
  const managerAddr = await new Promise<string>((resolve, reject) => {
    createInterface({ input: manager.stdout! }).on('line', line => {
      const match = /listening on (\S+)/.exec(line)
      if (match != null) resolve(match[1]!)
    })
    manager.once('exit', () => { reject(new Error('the manager exited')) })
  })
  // mDNS does not cross the router: the agents reach the manager by its bootstrap address only.
  for (const [i, host] of agentHosts.entries()) {
    const agent = lab.spawnIn(host, process.execPath, [BIN, 'agent', '--swarm', keys.swarmPath, '--data', join(root, `dev-${i}`), '--id', `dev-${i}`,
      '--tags', 'site', '--listen', `/ip4/${host.ip}/tcp/4001`, '--bootstrap', managerAddr])
    agent.stdout!.resume()
  }
  const api = `http://${managerHost.ip}:8080`
  const targets = async (): Promise<TargetRecord[]> => {
    const res = await fetch(`${api}/targets`, { headers: { authorization: `Bearer ${TOKEN}` } })
    return (await res.json() as { items: TargetRecord[] }).items
  }
  const until = async (check: (ts: TargetRecord[]) => boolean, what: string): Promise<void> => {
    const deadline = Date.now() + 240_000
    for (;;) {
      const ts = await targets().catch(() => [])
      if (check(ts)) return
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(ts.map(x => [x.ID, x.History, x.Task?.Progress]))}`)
      await new Promise(resolve => setTimeout(resolve, 250))
    }
  }
  await until(ts => ts.length === 3, 'the three agents to register across the router')

  const form = new FormData()
  form.append('task', 'stages:\n  transfer: [app]\n  install: ["mv app/* ."]\n  run: ["sh run.sh"]\ntarget:\n  tags: [site]\n')
  form.append('package', new Blob([await readFile(await makeTarGz(root, { 'app/run.sh': 'exec sleep 100000\n', 'app/blob': randomBytes(3 * MiB) }))]), 'p.tar.gz')
  const before = await lab.wanBytes()
  const res = await fetch(`${api}/tasks`, { method: 'POST', body: form, headers: { authorization: `Bearer ${TOKEN}` } })
  t.is(res.status, 201)
  const task = await res.json() as { id: string, package: { bytes: number } }
  await until(ts => ts.length === 3 && ts.every(r => r.History[task.id] === 'RUN-SUCCESS'), 'the three agents to run the task')
  const after = await lab.wanBytes()
  const crossed = after.into - before.into
  t.log(`package ${task.package.bytes} bytes; ${crossed} bytes crossed the WAN into the site (${(crossed / task.package.bytes).toFixed(2)} F)`)
  t.true(crossed >= task.package.bytes, 'the package crossed the WAN at least once')
  t.true(crossed < 1.5 * task.package.bytes, `the site's agents fetched from each other, not each from the manager (${crossed} bytes crossed)`)
})
