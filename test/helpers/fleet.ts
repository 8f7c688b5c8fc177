/**
 * A fleet of real `pollen` processes for end-to-end tests: a manager and
 * agents on loopback, driven through the REST API.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startPollen, type PollenProcess } from '../../src/cli/processes.ts'
import { initSwarm } from '../../src/node/index.ts'
import type { TargetRecord } from '../../src/core/index.ts'
import type { TaskDetail, TaskView } from '../../src/api/index.ts'

export interface Fleet {
  readonly root: string
  readonly swarmPath: string
  readonly token: string
  manager?: { process: PollenProcess, url: string, addr: string }
  readonly agents: Map<string, PollenProcess>
  /** Start the manager (again: same data); `listen` defaults to a free loopback port. */
  startManager (extra?: string[], listen?: string): Promise<void>
  startAgent (id: string, tags: string[], bootstrap?: string, extra?: string[]): Promise<PollenProcess>
  api<T> (method: string, path: string, body?: NonNullable<Parameters<typeof fetch>[1]>['body'], headers?: Record<string, string>): Promise<{ status: number, json: T }>
  deploy (task: string, archive?: string): Promise<TaskView>
  /** Resolve when `check` holds for the targets (polled every 250 ms). */
  waitForTargets (check: (targets: TargetRecord[]) => boolean, timeoutMs?: number): Promise<TargetRecord[]>
  close (): Promise<void>
}

export async function createFleet (): Promise<Fleet> {
  const root = await mkdtemp(join(tmpdir(), 'pollen-e2e-'))
  const keys = await initSwarm(join(root, 'keys'), 'e2e')
  const token = randomBytes(12).toString('hex')
  const common = ['--swarm', keys.swarmPath, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns']
  const fleet: Fleet = {
    root, swarmPath: keys.swarmPath, token, agents: new Map(),
    async startManager (extra = [], listen = '/ip4/127.0.0.1/tcp/0') {
      const args = ['--swarm', keys.swarmPath, '--listen', listen, '--no-mdns']
      const process = startPollen('manager', ['manager', ...args, '--key', keys.keyPath, '--data', join(root, 'manager'), '--api', '127.0.0.1:0', ...extra], { POLLEN_TOKEN: token }, join(root, 'manager.log'))
      const url = (await process.waitFor(/API on (http:\/\/[^\s,]+)/, 60_000))[1]!
      const addr = (await process.waitFor(/listening on (\S+)/, 10_000))[1]!
      fleet.manager = { process, url, addr }
    },
    async startAgent (id, tags, bootstrap, extra = []) {
      const to = bootstrap ?? fleet.manager!.addr
      const agent = startPollen(id, ['agent', ...common, '--data', join(root, id), '--id', id, '--tags', tags.join(','), '--bootstrap', to, ...extra], {}, join(root, `${id}.log`))
      fleet.agents.set(id, agent)
      await agent.waitFor(/^agent /, 120_000)
      return agent
    },
    async api (method, path, body, headers = {}) {
      const res = await fetch(`${fleet.manager!.url}${path}`, { method, body, headers: { authorization: `Bearer ${token}`, ...headers } })
      const text = await res.text()
      return { status: res.status, json: text === '' ? undefined : JSON.parse(text) }
    },
    async deploy (task, archive) {
      const form = new FormData()
      form.append('task', task)
      if (archive != null) form.append('package', new Blob([await readFile(archive)]), 'package.tar.gz')
      const res = await fleet.api<TaskView>('POST', '/tasks', form)
      if (res.status !== 201) throw new Error(`deploy: ${res.status} ${JSON.stringify(res.json)}`)
      return res.json
    },
    async waitForTargets (check, timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const { json } = await fleet.api<{ items: TargetRecord[] }>('GET', '/targets?perPage=500')
        if (check(json.items)) return json.items
        if (Date.now() > deadline) throw new Error(`targets not as expected: ${JSON.stringify(json.items.map(t => [t.ID, t.Task, t.History]))}`)
        await new Promise(resolve => setTimeout(resolve, 250))
      }
    },
    async close () {
      await Promise.all([...fleet.agents.values(), ...(fleet.manager == null ? [] : [fleet.manager.process])].map(async p => { await p.stop() }))
      await rm(root, { recursive: true, force: true })
    }
  }
  return fleet
}

export const historyOf = (targets: TargetRecord[], id: string): Record<string, string> => targets.find(t => t.ID === id)?.History ?? {}

export type { TaskDetail }
