/**
 * Operator commands that read a manager through its REST API: `pollen tasks`,
 * `pollen targets` and `pollen logs`, with the flags and formatting helpers
 * `pollen deploy` shares.
 */
import type { Command } from 'commander'
import Table from 'cli-table3'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Page, TaskDetail, TaskSummary } from '../api/service.ts'
import { CLI_DEFAULTS } from '../constants.ts'
import { formatBytes, InvalidOptionError, stageKey, STAGES, type Stage, type StageKey, type StageLog, type TargetRecord } from '../core/index.ts'
import { createApiClient, mapLimit, type ApiClient } from './api-client.ts'

/** `--api` and `--token`. */
export interface ApiFlags { api?: string, token?: string }

/** Add `--api` and `--token` to a command. */
export function apiFlags<T extends Command> (command: T): T {
  return command
    .option('--api <url>', `the manager's REST API (default: $POLLEN_API, else ${CLI_DEFAULTS.apiUrl})`)
    .option('--token <token>', 'API token (default: $POLLEN_TOKEN)')
}

/** A client of the API the flags (or `POLLEN_API`, `POLLEN_TOKEN`) name. */
export function clientOf (flags: ApiFlags): ApiClient {
  const url = nonEmpty(flags.api) ?? nonEmpty(process.env.POLLEN_API) ?? CLI_DEFAULTS.apiUrl
  const token = nonEmpty(flags.token) ?? nonEmpty(process.env.POLLEN_TOKEN)
  return createApiClient(token === undefined ? { url } : { url, token })
}

function nonEmpty (text: string | undefined): string | undefined {
  return text == null || text === '' ? undefined : text
}

/** Register `tasks`, `targets` and `logs`. */
export function registerOperator (program: Command): void {
  apiFlags(program.command('tasks'))
    .description('list the manager\'s tasks, newest first, with how their targets stand')
    .option('--page <n>', 'page to show, from 1', '1')
    .option('--per-page <n>', 'tasks per page', String(CLI_DEFAULTS.tasksPerPage))
    .option('--json', 'print JSON: the page, each task with its summary')
    .action(async (flags: ApiFlags & { page: string, perPage: string, json?: boolean }) => { await listTasks(flags) })
  apiFlags(program.command('targets'))
    .description('list the targets the manager knows')
    .option('--tags <tags>', 'only targets carrying every one of these tags (comma-separated)')
    .option('--json', 'print JSON: an array of target records')
    .action(async (flags: ApiFlags & { tags?: string, json?: boolean }) => { await listTargets(flags) })
  apiFlags(program.command('logs <target>'))
    .description('print the logs of a target\'s current task, as the manager holds them')
    .option('--stage <stage>', 'transfer, install or run (default: all)')
    .option('--request', `ask the agent for the logs first and wait for them (up to ${CLI_DEFAULTS.logWaitMs / 1000} s)`)
    .option('--json', 'print JSON: the target, its task id and the stage logs')
    .action(async (target: string, flags: ApiFlags & { stage?: string, request?: boolean, json?: boolean }) => { await showLogs(target, flags) })
}

/** A whole number ≥ 1 (≤ `max`) from a flag. @throws {InvalidOptionError} */
export function positiveInt (flag: string, text: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(text)
  if (!/^\d+$/.test(text.trim()) || n < 1 || n > max) throw new InvalidOptionError(`${flag} must be a whole number from 1 to ${max}, got ${JSON.stringify(text)}`)
  return n
}

/** `install`, `Install`, `INSTALL` → `install`. @throws {InvalidOptionError} */
export function parseStage (text: string): Stage {
  const stage = text.toLowerCase()
  if (!(STAGES as readonly string[]).includes(stage)) throw new InvalidOptionError(`--stage must be one of ${STAGES.join(', ')}, got ${JSON.stringify(text)}`)
  return stage as Stage
}

async function listTasks (flags: ApiFlags & { page: string, perPage: string, json?: boolean }): Promise<void> {
  const page = positiveInt('--page', flags.page)
  const perPage = positiveInt('--per-page', flags.perPage, CLI_DEFAULTS.listPerPage)
  const client = clientOf(flags)
  const listed = await client.listTasks(page, perPage)
  const items = await mapLimit(listed.items, CLI_DEFAULTS.concurrency, async task => await client.getTask(task.id))
  if (flags.json === true) {
    process.stdout.write(`${JSON.stringify({ ...listed, items } satisfies Page<TaskDetail>)}\n`)
    return
  }
  const table = newTable(['id', 'created', 'description', 'package', 'targets', 'status'])
  for (const task of items) {
    table.push([
      task.id,
      formatIso(task.createdAt),
      truncate(task.description ?? '', 40),
      task.package == null ? '-' : formatBytes(task.package.bytes),
      `${task.summary.stages.Run.SUCCESS ?? 0}/${task.summary.matchedTargets.length}`,
      statusSummary(task.summary) + (task.stoppedAt !== undefined ? ' (stopped)' : '')
    ])
  }
  process.stdout.write(`${table.toString()}\n`)
  const pages = Math.max(1, Math.ceil(listed.total / perPage))
  if (pages > 1) process.stderr.write(`page ${page} of ${pages} (${listed.total} tasks; --page N for another)\n`)
}

/**
 * Where a task's targets stand, from its summary: `2 RUN-SUCCESS, 1
 * INSTALL-FAILURE, 3 PENDING`. A target is counted at its furthest stage:
 * SUCCESS at a stage counts there only for targets that reported nothing on
 * the next stage; PENDING are matched targets that reported nothing.
 */
export function statusSummary (summary: TaskSummary): string {
  const keys = STAGES.map(stageKey)
  const parts: Array<[string, number]> = []
  keys.forEach((key, i) => {
    const next = keys[i + 1]
    const reportedNext = next === undefined ? 0 : Object.values(summary.stages[next] ?? {}).reduce((a, b) => a + (b ?? 0), 0)
    for (const [status, count] of Object.entries(summary.stages[key] ?? {})) {
      const n = status === 'SUCCESS' ? (count ?? 0) - reportedNext : (count ?? 0)
      if (n > 0) parts.push([`${key.toUpperCase()}-${status}`, n])
    }
  })
  const pending = summary.matchedTargets.length - parts.reduce((a, [, n]) => a + n, 0)
  if (pending > 0) parts.push(['PENDING', pending])
  return parts.length === 0 ? '-' : parts.map(([label, n]) => `${n} ${label}`).join(', ')
}

async function listTargets (flags: ApiFlags & { tags?: string, json?: boolean }): Promise<void> {
  const tags = (flags.tags ?? '').split(',').map(t => t.trim()).filter(t => t !== '')
  const targets = await clientOf(flags).allTargets(tags)
  if (flags.json === true) {
    process.stdout.write(`${JSON.stringify(targets)}\n`)
    return
  }
  const now = Date.now()
  const table = newTable(['id', 'tags', 'platform', 'agent', 'last seen', 'task', 'status'])
  for (const t of targets) {
    table.push([
      t.ID,
      t.Tags.join(','),
      t.Platform == null ? '-' : `${t.Platform.OS}/${t.Platform.Arch}`,
      t.AgentVersion ?? '-',
      t.LastSeen === undefined ? 'never' : formatAgo(Date.parse(t.LastSeen), now),
      t.Task?.ID.slice(0, 8) ?? '-',
      targetStatus(t)
    ])
  }
  process.stdout.write(`${table.toString()}\n`)
}

/** `RUN-SUCCESS`, `INSTALL-STARTED`…, or `IDLE` for a target without a task. */
export function targetStatus (target: TargetRecord): string {
  const task = target.Task
  if (task == null) return 'IDLE'
  const log = task.StageLogs[stageKey(task.CurrentStage.toLowerCase() as Stage)]
  return `${task.CurrentStage}-${log?.Status ?? 'PENDING'}`
}

/** `3 s ago`, `5 min ago`, `2 h ago`, `4 d ago` (a time in the future reads `just now`). */
export function formatAgo (thenMs: number, nowMs: number): string {
  const s = Math.floor((nowMs - thenMs) / 1000)
  if (Number.isNaN(s)) return '?'
  if (s < 1) return 'just now'
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.floor(s / 60)} min ago`
  if (s < 48 * 3600) return `${Math.floor(s / 3600)} h ago`
  return `${Math.floor(s / 86_400)} d ago`
}

/** A table, in colour only on a terminal. */
function newTable (head: string[]): Table.Table {
  return new Table(process.stdout.isTTY === true ? { head } : { head, style: { head: [], border: [] } })
}

function formatIso (iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')
}

function truncate (text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`
}

async function showLogs (targetId: string, flags: ApiFlags & { stage?: string, request?: boolean, json?: boolean }): Promise<void> {
  const stages = flags.stage === undefined ? [...STAGES] : [parseStage(flags.stage)]
  const client = clientOf(flags)
  const target = flags.request === true ? await requestLogs(client, targetId, stages) : await client.getTarget(targetId)
  const keys = stages.map(stageKey)
  if (flags.json === true) {
    const logs = Object.fromEntries(keys.flatMap(k => target.Task?.StageLogs[k] != null ? [[k, target.Task.StageLogs[k]]] : []))
    process.stdout.write(`${JSON.stringify({ target: target.ID, task: target.Task?.ID ?? null, stages: logs })}\n`)
    return
  }
  if (target.Task == null) {
    process.stderr.write(`target ${target.ID} has no current task\n`)
    return
  }
  process.stderr.write(`target ${target.ID}, task ${target.Task.ID}\n`)
  for (const line of formatLogLines(target.Task.StageLogs, keys)) process.stdout.write(`${line}\n`)
}

/**
 * Lines `[stage] time command: output` of the given stages, in stage order;
 * error lines carry `ERROR` before the command, and a stage's own error
 * (a FAILURE or DECLINED) ends its lines.
 */
export function formatLogLines (logs: Partial<Record<StageKey, StageLog>>, keys: readonly StageKey[] = STAGES.map(stageKey)): string[] {
  const lines: string[] = []
  for (const key of keys) {
    const log = logs[key]
    if (log == null) continue
    const tag = `[${key.toLowerCase()}]`
    for (const entry of log.Logs) {
      const source = entry.Command !== undefined ? `${entry.Command}: ` : 'agent: '
      lines.push(`${tag} ${formatSeconds(entry.Time)} ${entry.Error ? 'ERROR ' : ''}${source}${entry.Output}`)
    }
    if (log.Error !== undefined) lines.push(`${tag} ${formatIso(log.Updated)} ERROR ${log.Status}: ${log.Error}`)
    else if (log.Logs.length === 0) lines.push(`${tag} ${formatIso(log.Updated)} ${log.Status} (no log lines at the manager; --request asks the agent)`)
  }
  return lines
}

function formatSeconds (seconds: number): string {
  return formatIso(new Date(seconds * 1000).toISOString())
}

/**
 * Ask a target's agent for the logs of `stages`, then re-read the target
 * until every asked stage it has a log for holds more lines than before
 * (or, when each held lines already, until the agent reported anything),
 * or `waitMs` pass; resolves with the last record read. With `taskId`,
 * nothing is asked when the target's current task is another one.
 */
export async function requestLogs (client: ApiClient, targetId: string, stages: readonly Stage[], options: { taskId?: string, waitMs?: number } = {}): Promise<TargetRecord> {
  const before = await client.getTarget(targetId)
  if (before.Task == null || (options.taskId !== undefined && before.Task.ID !== options.taskId)) return before
  const counts = new Map(stages.map(s => [s, before.Task?.StageLogs[stageKey(s)]?.Logs.length ?? 0]))
  for (const stage of stages) await client.requestLogs(targetId, stage)
  const deadline = Date.now() + (options.waitMs ?? CLI_DEFAULTS.logWaitMs)
  let record = before
  while (Date.now() < deadline) {
    await sleep(Math.min(CLI_DEFAULTS.logPollMs, Math.max(0, deadline - Date.now())))
    record = await client.getTarget(targetId)
    if (record.Task?.ID !== before.Task.ID) return record
    const present = stages.filter(s => record.Task?.StageLogs[stageKey(s)] != null)
    if (present.length === 0) continue
    if (present.every(s => (record.Task?.StageLogs[stageKey(s)]?.Logs.length ?? 0) > counts.get(s)!)) return record
    // Lines already held are not added twice: with lines before, any report since the request ends the wait.
    if (present.every(s => counts.get(s)! > 0) && record.LastSeen !== before.LastSeen) return record
  }
  return record
}
