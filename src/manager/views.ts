/**
 * Pure projections of registry records into what the API shows: task views,
 * per-task summaries, and the figures of `/metrics`.
 */
import { matchesSelector, stageKey, STAGES, type StageKey, type StageStatus, type TargetRecord } from '../core/index.ts'
import type { TaskRecord } from './registry.ts'

/** A task as the API shows it (`TaskView` of src/api/service.ts). */
export function taskView (record: TaskRecord): TaskViewShape {
  const body = record.signed.body
  return {
    id: body.id,
    ...(body.description != null ? { description: body.description } : {}),
    stages: {
      ...(record.assemble != null && record.assemble.length > 0 ? { assemble: record.assemble } : {}),
      transfer: body.stages.transfer,
      install: body.stages.install,
      run: body.stages.run
    },
    target: body.target,
    debug: body.debug,
    run: { restart: body.restart },
    package: body.package,
    seq: body.seq,
    createdAt: new Date(body.createdAt).toISOString(),
    expiresAt: new Date(body.expiresAt).toISOString(),
    signature: record.signed.sig,
    ...(record.stop != null ? { stoppedAt: new Date(record.stop.body.createdAt).toISOString() } : {})
  }
}

/** Structural twin of the API's TaskView (the manager does not import `api`). */
export type TaskViewShape = {
  id: string
  description?: string
  stages: { assemble?: readonly string[], transfer: readonly string[], install: readonly string[], run: readonly string[] }
  target: TaskRecord['signed']['body']['target']
  debug: boolean
  run: { restart: TaskRecord['signed']['body']['restart'] }
  package: TaskRecord['signed']['body']['package']
  seq: number
  createdAt: string
  expiresAt: string
  signature: string
  stoppedAt?: string
}

/** How targets stand on one task. */
export interface SummaryShape {
  matchedTargets: string[]
  stages: Record<StageKey, Partial<Record<StageStatus, number>>>
  managerUploadBytes: number
}

/**
 * Targets the selector matches or that reported on the task, and how many
 * report each status per stage. A target that moved on to a newer task
 * counts by its history entry (`RUN-SUCCESS` counts as SUCCESS for every
 * stage up to Run).
 */
export function taskSummary (record: TaskRecord, targets: Iterable<TargetRecord>, managerUploadBytes: number): SummaryShape {
  const body = record.signed.body
  const stages: SummaryShape['stages'] = { Transfer: {}, Install: {}, Run: {} }
  const matched: string[] = []
  const count = (key: StageKey, status: StageStatus): void => { stages[key][status] = (stages[key][status] ?? 0) + 1 }
  for (const target of targets) {
    const reported = target.Task?.ID === body.id || target.History[body.id] != null
    if (!reported && !matchesSelector(body.target, { id: target.ID, tags: target.Tags })) continue
    matched.push(target.ID)
    if (target.Task?.ID === body.id) {
      for (const [key, log] of Object.entries(target.Task.StageLogs)) count(key as StageKey, log.Status)
    } else if (target.History[body.id] != null) {
      countHistory(target.History[body.id]!, count)
    }
  }
  return { matchedTargets: matched.sort(), stages, managerUploadBytes }
}

function countHistory (entry: string, count: (key: StageKey, status: StageStatus) => void): void {
  const [stage, status] = entry.split('-') as [string, StageStatus]
  const last = STAGES.findIndex(s => s.toUpperCase() === stage)
  STAGES.forEach((s, i) => {
    if (i < last) count(stageKey(s), 'SUCCESS')
    else if (i === last) count(stageKey(s), status)
  })
}

/** `RUN-SUCCESS`, `TRANSFER-STARTED`, …, or `IDLE` for a target without a task. */
export function targetStatus (target: TargetRecord): string {
  const task = target.Task
  if (task == null) return 'IDLE'
  const log = task.StageLogs[stageKey(task.CurrentStage.toLowerCase() as typeof STAGES[number])]
  return `${task.CurrentStage}-${log?.Status ?? 'PENDING'}`
}
