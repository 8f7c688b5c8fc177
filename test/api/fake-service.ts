/**
 * An in-memory {@link ManagerService} for API tests: tasks and targets in
 * maps, the named errors of `src/core`, events through `subscribe`, and
 * hooks to make the next call of a method fail.
 */
import { readFile } from 'node:fs/promises'
import { matchesSelector, stageKey, TargetExistsError, TargetNotFoundError, TaskNotFoundError } from '../../src/core/index.ts'
import type { Stage, TargetRecord } from '../../src/core/index.ts'
import type {
  CreateTaskInput, ManagerEvent, ManagerMetrics, ManagerService, Page, PageRequest, Scope, TargetInput, TaskDetail, TaskSummary, TaskView
} from '../../src/api/service.ts'

/** Tokens the fake accepts. */
export const TOKENS = { read: 'read-token', deploy: 'deploy-token' } as const

/** A createTask call as the fake saw it. */
export interface CreateCall {
  readonly input: CreateTaskInput
  /** Bytes of the package file at the time of the call. */
  readonly packageBytes?: Buffer
}

type Method = Exclude<keyof ManagerService, 'subscribe'>

/** The fake, with what tests inspect and drive. */
export interface FakeService extends ManagerService {
  readonly tasks: Map<string, TaskView>
  readonly targets: Map<string, TargetRecord>
  readonly creates: CreateCall[]
  readonly logRequests: Array<{ id: string, stage: Stage }>
  bytesServed: number
  sentBytes: Record<string, number>
  /** Make the next call of `method` throw `error`. */
  failNext: (method: Method, error: Error) => void
  /** Send an event to every subscriber. */
  emit: (event: ManagerEvent) => void
  /** Current number of subscribers. */
  listeners: () => number
  /** Resolves once there are exactly `count` subscribers. */
  untilListeners: (count: number) => Promise<void>
}

function paginate<T> (items: readonly T[], page: PageRequest): Page<T> {
  const start = (page.page - 1) * page.perPage
  return { items: items.slice(start, start + page.perPage), total: items.length, page: page.page, perPage: page.perPage }
}

/** Create an empty fake. */
export function createFakeService (): FakeService {
  const tasks = new Map<string, TaskView>()
  const targets = new Map<string, TargetRecord>()
  const listeners = new Set<(event: ManagerEvent) => void>()
  const failures = new Map<Method, Error>()
  const watchers = new Set<() => void>()
  let seq = 0

  function maybeFail (method: Method): void {
    const error = failures.get(method)
    if (error === undefined) return
    failures.delete(method)
    throw error
  }

  function changed (): void {
    for (const watcher of [...watchers]) watcher()
  }

  function emit (event: ManagerEvent): void {
    for (const listener of [...listeners]) listener(event)
  }

  function targetOf (id: string): TargetRecord {
    const target = targets.get(id)
    if (target === undefined) throw new TargetNotFoundError(`no target ${id}`)
    return target
  }

  function taskOf (id: string): TaskView {
    const task = tasks.get(id)
    if (task === undefined) throw new TaskNotFoundError(`no task ${id}`)
    return task
  }

  function summaryOf (task: TaskView): TaskSummary {
    const matched = [...targets.values()].filter(t => matchesSelector(task.target, { id: t.ID, tags: t.Tags }))
    const stages: Record<string, Record<string, number>> = { Transfer: {}, Install: {}, Run: {} }
    for (const target of matched) {
      if (target.Task?.ID !== task.id) continue
      for (const [key, log] of Object.entries(target.Task.StageLogs)) stages[key]![log.Status] = (stages[key]![log.Status] ?? 0) + 1
    }
    return { matchedTargets: matched.map(t => t.ID), stages: stages as TaskSummary['stages'], managerUploadBytes: 0 }
  }

  const fake: FakeService = {
    tasks,
    targets,
    creates: [],
    logRequests: [],
    bytesServed: 0,
    sentBytes: {},
    failNext (method, error) { failures.set(method, error) },
    emit,
    listeners: () => listeners.size,
    async untilListeners (count) {
      await new Promise<void>(resolve => {
        const check = (): void => { if (listeners.size === count) { watchers.delete(check); resolve() } }
        watchers.add(check)
        check()
      })
    },

    async createTask (input) {
      maybeFail('createTask')
      const packageBytes = input.packagePath === undefined ? undefined : await readFile(input.packagePath)
      fake.creates.push(packageBytes === undefined ? { input } : { input, packageBytes })
      seq += 1
      const now = Date.now()
      const { spec } = input
      const task: TaskView = {
        id: `task-${seq}`,
        ...(spec.description === undefined ? {} : { description: spec.description }),
        stages: { ...(spec.stages.assemble === undefined ? {} : { assemble: spec.stages.assemble }), transfer: spec.stages.transfer ?? [], install: spec.stages.install ?? [], run: spec.stages.run ?? [] },
        target: spec.target,
        debug: spec.debug ?? false,
        run: { restart: spec.run?.restart ?? 'never' },
        package: packageBytes === undefined ? null : { cid: `bafkfake${seq}`, bytes: packageBytes.length },
        seq,
        createdAt: new Date(now).toISOString(),
        expiresAt: new Date(now + 86_400_000).toISOString(),
        signature: 'c2lnbmF0dXJl'
      }
      tasks.set(task.id, task)
      emit({ topic: 'task', payload: task })
      return task
    },
    async listTasks (page) {
      maybeFail('listTasks')
      return paginate([...tasks.values()].reverse(), page)
    },
    async getTask (id) {
      maybeFail('getTask')
      const task = taskOf(id)
      return { ...task, summary: summaryOf(task) } satisfies TaskDetail
    },
    async stopTask (id) {
      maybeFail('stopTask')
      const task = { ...taskOf(id), stoppedAt: new Date().toISOString() }
      tasks.set(id, task)
      emit({ topic: 'task', payload: task })
      return task
    },
    async listTargets (filter) {
      maybeFail('listTargets')
      const wanted = filter.tags ?? []
      const all = [...targets.values()].filter(t => wanted.every(tag => t.Tags.includes(tag))).sort((a, b) => a.ID.localeCompare(b.ID))
      return paginate(all, filter)
    },
    async createTarget (input: TargetInput) {
      maybeFail('createTarget')
      if (targets.has(input.id)) throw new TargetExistsError(`target ${input.id} exists`)
      const target: TargetRecord = { ID: input.id, Tags: [...input.tags], Addresses: [], Created: new Date().toISOString(), History: {} }
      targets.set(input.id, target)
      emit({ topic: 'target', payload: target })
      return target
    },
    async getTarget (id) {
      maybeFail('getTarget')
      return targetOf(id)
    },
    async updateTarget (input) {
      maybeFail('updateTarget')
      const target = { ...targetOf(input.id), Tags: [...input.tags] }
      targets.set(input.id, target)
      emit({ topic: 'target', payload: target })
      return target
    },
    async deleteTarget (id) {
      maybeFail('deleteTarget')
      targetOf(id)
      targets.delete(id)
    },
    async requestLogs (id, stage) {
      maybeFail('requestLogs')
      targetOf(id)
      fake.logRequests.push({ id, stage })
    },
    subscribe (listener) {
      listeners.add(listener)
      changed()
      return () => { listeners.delete(listener); changed() }
    },
    async metrics (): Promise<ManagerMetrics> {
      maybeFail('metrics')
      const targetsByStatus: Record<string, number> = {}
      for (const target of targets.values()) {
        const task = target.Task
        const log = task === undefined ? undefined : task.StageLogs[stageKey(task.CurrentStage.toLowerCase() as Stage)]
        const status = task === undefined || log === undefined ? 'IDLE' : `${task.CurrentStage}-${log.Status}`
        targetsByStatus[status] = (targetsByStatus[status] ?? 0) + 1
      }
      return { tasks: tasks.size, targets: targets.size, targetsByStatus, bytesServed: fake.bytesServed, sentBytes: { ...fake.sentBytes } }
    },
    async authenticate (token): Promise<Scope | undefined> {
      maybeFail('authenticate')
      if (token === TOKENS.deploy) return 'deploy'
      if (token === TOKENS.read) return 'read'
      return undefined
    }
  }
  return fake
}
