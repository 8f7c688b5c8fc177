/**
 * `pollen deploy`: submit a task (and its package directory, packed as a
 * .tar.gz) to the manager's REST API and, with `--wait`, follow it until
 * every matched target runs it, one fails, or the timeout passes.
 */
import type { Command } from 'commander'
import { openAsBlob } from 'node:fs'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { extname, join } from 'node:path'
import { MultiBar, Presets, type SingleBar } from 'cli-progress'
import * as tar from 'tar'
import type { TaskDetail, TaskView } from '../api/service.ts'
import { CLI_DEFAULTS } from '../constants.ts'
import {
  ApiRequestError, DeployFailedError, formatBytes, InvalidOptionError, ManagerUnreachableError, stageKey, STAGES,
  type StageKey, type StageStatus, type TargetRecord
} from '../core/index.ts'
import type { ApiClient } from './api-client.ts'
import { apiFlags, clientOf, formatLogLines, requestLogs, targetStatus, type ApiFlags } from './operator.ts'

interface DeployFlags extends ApiFlags {
  package?: string
  wait?: boolean
  timeout?: string
}

/** `pollen deploy <task file>`. */
export function registerDeploy (program: Command): void {
  apiFlags(program.command('deploy <task>'))
    .description('submit a task (YAML or JSON file) to the manager, with a package directory to deliver; --wait follows it')
    .option('--package <dir>', 'directory to pack (.tar.gz) and upload as the task\'s package')
    .option('--wait', 'follow the task until every matched target runs it (exit 0) or one fails (exit 1)')
    .option('--timeout <seconds>', `with --wait: give up (exit 1) after following the task this long (default: ${CLI_DEFAULTS.waitTimeoutSeconds})`)
    .action(async (file: string, flags: DeployFlags) => { await deploy(file, flags) })
}

async function deploy (file: string, flags: DeployFlags): Promise<void> {
  const timeoutMs = waitTimeoutMs(flags)
  const task = await readTaskFile(file)
  const client = clientOf(flags)
  const packed = flags.package === undefined ? undefined : await packDirectory(flags.package)
  let created: TaskView
  try {
    created = await client.createTask(packed === undefined ? task : { ...task, package: await openAsBlob(packed.file) })
  } catch (err) {
    if (err instanceof ApiRequestError && err.output !== undefined) process.stderr.write(`assemble output:\n${err.output}\n`)
    throw err
  } finally {
    await packed?.cleanup()
  }
  process.stdout.write(`task ${created.id}\n`)
  process.stdout.write(created.package == null ? 'package none (nothing to transfer)\n' : `package ${created.package.cid} (${formatBytes(created.package.bytes)}, ${created.package.bytes} bytes)\n`)
  if (timeoutMs === undefined) return
  const outcome = await follow(client, created, timeoutMs)
  await conclude(client, created.id, outcome, timeoutMs)
}

/** The `--wait` deadline in ms, or undefined without `--wait`. @throws {InvalidOptionError} */
function waitTimeoutMs (flags: DeployFlags): number | undefined {
  if (flags.timeout !== undefined && flags.wait !== true) throw new InvalidOptionError('--timeout applies to --wait: pass both')
  if (flags.wait !== true) return undefined
  if (flags.timeout === undefined) return CLI_DEFAULTS.waitTimeoutSeconds * 1000
  const seconds = Number(flags.timeout)
  if (flags.timeout.trim() === '' || !Number.isFinite(seconds) || seconds <= 0) {
    throw new InvalidOptionError(`--timeout must be a number of seconds above 0, got ${JSON.stringify(flags.timeout)}`)
  }
  return seconds * 1000
}

async function readTaskFile (file: string): Promise<{ text: string, mediaType: string }> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new InvalidOptionError(`cannot read the task file ${JSON.stringify(file)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
  }
  return { text, mediaType: extname(file).toLowerCase() === '.json' ? 'application/json' : 'application/yaml' }
}

/** Pack a directory (its content, as `./…`) into a temporary .tar.gz. */
async function packDirectory (dir: string): Promise<{ file: string, cleanup: () => Promise<void> }> {
  const info = await stat(dir).catch(() => undefined)
  if (info?.isDirectory() !== true) throw new InvalidOptionError(`--package ${JSON.stringify(dir)} is not a directory`)
  const tmp = await mkdtemp(join(tmpdir(), 'pollen-deploy-'))
  const cleanup = async (): Promise<void> => { await rm(tmp, { recursive: true, force: true }) }
  try {
    const file = join(tmp, 'package.tar.gz')
    await tar.c({ file, gzip: true, cwd: dir, portable: true }, ['.'])
    process.stderr.write(`packed ${dir} (${formatBytes((await stat(file)).size)} compressed)\n`)
    return { file, cleanup }
  } catch (err) {
    await cleanup()
    throw err
  }
}

/** A target that failed, declined or was stopped on the task. */
export interface DeployFailure {
  readonly target: string
  readonly stage: StageKey
  readonly status: StageStatus
  /** The stage's Error, when the target's current task is still this one. */
  readonly error?: string
  /** Whether the task is still the target's current one (its logs can be asked for). */
  readonly current: boolean
}

/** How a deployment stands. */
export interface DeployAssessment {
  /** `done`: every matched target reports Run SUCCESS; `failed`: at least one failed, declined or was stopped. */
  readonly state: 'done' | 'failed' | 'waiting'
  /** Targets the task is for: the summary's, plus any whose record shows it worked on the task. */
  readonly matched: readonly string[]
  /** Targets with SUCCESS, per stage. */
  readonly done: Readonly<Record<StageKey, number>>
  readonly failures: readonly DeployFailure[]
  /** Package bytes the matched targets hold, of `package bytes × matched`; null without a package. */
  readonly bytes: { readonly done: number, readonly total: number } | null
  /** The records disagree with the summary's counts (events were missed): re-read the targets. */
  readonly stale: boolean
}

const FAILED: ReadonlySet<StageStatus> = new Set<StageStatus>(['FAILURE', 'DECLINED', 'STOPPED'])
const KEYS: readonly StageKey[] = STAGES.map(stageKey)

/**
 * A target's status per stage on a task, from its current task or, once it
 * moved on (or when the History records a failure), its History entry
 * (`INSTALL-FAILURE`: Transfer SUCCESS, Install FAILURE); undefined when it
 * reported nothing on the task.
 */
export function targetProgress (taskId: string, target: TargetRecord): Partial<Record<StageKey, StageStatus>> | undefined {
  const history = historyProgress(target.History[taskId])
  // A failure is final: it stands even if later reports rebuilt the current task's stages.
  if (history !== undefined && Object.values(history).some(status => FAILED.has(status))) return history
  if (target.Task?.ID === taskId) return Object.fromEntries(Object.entries(target.Task.StageLogs).map(([key, log]) => [key, log.Status]))
  return history
}

function historyProgress (entry: string | undefined): Partial<Record<StageKey, StageStatus>> | undefined {
  const [stage, status] = (entry ?? '').split('-') as [string, StageStatus]
  const last = STAGES.findIndex(s => s.toUpperCase() === stage)
  if (last < 0) return undefined
  return Object.fromEntries(KEYS.slice(0, last + 1).map((key, i) => [key, i < last ? 'SUCCESS' : status]))
}

/** From a task (with its summary) and the target records known so far to how the deployment stands. Pure. */
export function assessDeploy (detail: TaskDetail, targets: Iterable<TargetRecord>): DeployAssessment {
  const byId = new Map<string, TargetRecord>()
  for (const t of targets) byId.set(t.ID, t)
  const matched = new Set(detail.summary.matchedTargets)
  for (const t of byId.values()) if (targetProgress(detail.id, t) !== undefined) matched.add(t.ID)
  const done: Record<StageKey, number> = { Transfer: 0, Install: 0, Run: 0 }
  const counts: Record<StageKey, Partial<Record<StageStatus, number>>> = { Transfer: {}, Install: {}, Run: {} }
  const failures: DeployFailure[] = []
  let completed = 0
  let bytes = 0
  for (const id of [...matched].sort()) {
    const record = byId.get(id)
    const progress = record === undefined ? undefined : targetProgress(detail.id, record)
    if (record === undefined || progress === undefined) continue
    for (const [key, status] of Object.entries(progress) as Array<[StageKey, StageStatus]>) {
      counts[key][status] = (counts[key][status] ?? 0) + 1
      if (status === 'SUCCESS') done[key] += 1
    }
    const failure = failureOf(detail.id, record, progress)
    if (failure !== undefined) failures.push(failure)
    if (progress.Run === 'SUCCESS' && failure === undefined) completed += 1
    bytes += progress.Transfer === 'SUCCESS' ? detail.package?.bytes ?? 0 : record.Task?.ID === detail.id ? record.Task.Progress?.Bytes ?? 0 : 0
  }
  const state = failures.length > 0 ? 'failed' : matched.size > 0 && completed === matched.size ? 'done' : 'waiting'
  return {
    state,
    matched: [...matched].sort(),
    done,
    failures,
    bytes: detail.package == null ? null : { done: bytes, total: detail.package.bytes * matched.size },
    stale: !sameCounts(counts, detail.summary.stages)
  }
}

function failureOf (taskId: string, record: TargetRecord, progress: Partial<Record<StageKey, StageStatus>>): DeployFailure | undefined {
  const stage = KEYS.find(key => FAILED.has(progress[key]!))
  if (stage === undefined) return undefined
  const current = record.Task?.ID === taskId
  const error = current ? record.Task?.StageLogs[stage]?.Error : undefined
  return { target: record.ID, stage, status: progress[stage]!, current, ...(error !== undefined ? { error } : {}) }
}

function sameCounts (a: Record<StageKey, Partial<Record<StageStatus, number>>>, b: TaskDetail['summary']['stages']): boolean {
  return KEYS.every(key => {
    const statuses = new Set([...Object.keys(a[key]), ...Object.keys(b[key] ?? {})]) as Set<StageStatus>
    return [...statuses].every(s => (a[key][s] ?? 0) === (b[key]?.[s] ?? 0))
  })
}

/** Where `--wait` ended. */
interface Outcome {
  readonly assessment: DeployAssessment
  readonly timedOut: boolean
  /** The last record seen of each target. */
  readonly records: ReadonlyMap<string, TargetRecord>
}

/**
 * Follow a task: read its summary every `pollIntervalMs` (the source of
 * truth; matched targets grow as agents appear), keep target records current
 * from `/events` (liveness: a status change asks for an early read), and
 * re-read the targets when the records disagree with the summary.
 */
async function follow (client: ApiClient, task: TaskView, timeoutMs: number): Promise<Outcome> {
  const deadline = AbortSignal.timeout(timeoutMs)
  const records = new Map<string, TargetRecord>()
  const view = progressView(task)
  const alarm = wakeable()
  let detail: TaskDetail | undefined
  const events = followEvents(client, task.id, deadline, record => {
    const changed = records.get(record.ID) === undefined || targetStatus(records.get(record.ID)!) !== targetStatus(record)
    records.set(record.ID, record)
    if (detail !== undefined) view.update(assessDeploy(detail, records.values()))
    if (changed) alarm.wake()
  })
  try {
    for (;;) {
      try {
        detail = await client.getTask(task.id, deadline)
        let assessment = assessDeploy(detail, records.values())
        if (assessment.stale) {
          await refreshTargets(client, assessment.matched, records, deadline)
          assessment = assessDeploy(detail, records.values())
        }
        view.update(assessment)
        if (assessment.state !== 'waiting') return { assessment, timedOut: false, records }
      } catch (err) {
        if (deadline.aborted) break
        if (!(err instanceof ManagerUnreachableError)) throw err
        view.note(`${err.message}; retrying`)
      }
      await alarm.sleep(CLI_DEFAULTS.minPollGapMs, CLI_DEFAULTS.pollIntervalMs, deadline)
      if (deadline.aborted) break
    }
    const last = detail ?? { ...task, summary: { matchedTargets: [], stages: { Transfer: {}, Install: {}, Run: {} }, managerUploadBytes: 0 } }
    return { assessment: assessDeploy(last, records.values()), timedOut: true, records }
  } finally {
    events.close()
    view.stop()
  }
}

/** Re-read the records of `ids`: one by one when few, else by listing every target. */
async function refreshTargets (client: ApiClient, ids: readonly string[], into: Map<string, TargetRecord>, signal: AbortSignal): Promise<void> {
  if (ids.length > CLI_DEFAULTS.singleReadsMax) {
    const wanted = new Set(ids)
    for (const t of await client.allTargets([], signal)) if (wanted.has(t.ID)) into.set(t.ID, t)
    return
  }
  for (let i = 0; i < ids.length; i += CLI_DEFAULTS.concurrency) {
    const batch = ids.slice(i, i + CLI_DEFAULTS.concurrency)
    const read = await Promise.all(batch.map(async id => await client.getTarget(id, signal).catch((err: unknown) => {
      if (err instanceof ApiRequestError && err.status === 404) return undefined
      throw err
    })))
    for (const t of read) if (t !== undefined) into.set(t.ID, t)
  }
}

/** `/events?task=<id>`, reopened after a pause whenever it closes, until `close()` or `stop` aborts. */
function followEvents (client: ApiClient, taskId: string, stop: AbortSignal, onTarget: (record: TargetRecord) => void): { close: () => void } {
  let stream: { close: () => void } | undefined
  let timer: NodeJS.Timeout | undefined
  let closed = false
  const open = (): void => {
    if (closed || stop.aborted) return
    stream = client.events({ task: taskId }, {
      onEvent: event => { if (event.topic === 'target') onTarget(event.payload) },
      onClose: () => { timer = setTimeout(open, CLI_DEFAULTS.eventsReconnectMs) }
    })
  }
  open()
  return {
    close () {
      closed = true
      clearTimeout(timer)
      stream?.close()
    }
  }
}

/** A sleep that `wake()` can cut short (but never below its minimum), and an abort ends. */
function wakeable (): { wake: () => void, sleep: (minMs: number, maxMs: number, signal: AbortSignal) => Promise<void> } {
  let woken = false
  let cut: (() => void) | undefined
  return {
    wake () {
      woken = true
      cut?.()
    },
    async sleep (minMs, maxMs, signal) {
      const pause = async (ms: number, interruptible: boolean): Promise<void> => {
        await new Promise<void>(resolve => {
          const finish = (): void => { clearTimeout(timer); cut = undefined; signal.removeEventListener('abort', finish); resolve() }
          const timer = setTimeout(finish, ms)
          signal.addEventListener('abort', finish, { once: true })
          if (interruptible) cut = finish
        })
      }
      woken = false
      await pause(minMs, false)
      if (!woken && !signal.aborted) await pause(maxMs - minMs, true)
      woken = false
    }
  }
}

/** Progress of `--wait` on stderr: bars on a terminal, else one line per change. */
interface ProgressView {
  update: (assessment: DeployAssessment) => void
  note: (line: string) => void
  stop: () => void
}

function progressView (task: TaskView): ProgressView {
  return process.stderr.isTTY === true ? barsView(task) : linesView()
}

/** `matched 3 · transfer 1/3 · install 0/3 · run 0/3 · 1.2 MiB / 3.6 MiB` (`· 1 failed` when one did). */
export function progressLine (a: DeployAssessment): string {
  const n = a.matched.length
  const stages = KEYS.map(key => `${key.toLowerCase()} ${a.done[key]}/${n}`)
  const bytes = a.bytes == null ? [] : [`${formatBytes(a.bytes.done)} / ${formatBytes(a.bytes.total)}`]
  const failed = a.failures.length > 0 ? [`${a.failures.length} failed`] : []
  return [`matched ${n}`, ...stages, ...bytes, ...failed].join(' · ')
}

function linesView (): ProgressView {
  const start = Date.now()
  let last = ''
  const write = (line: string): void => { process.stderr.write(`[${Math.round((Date.now() - start) / 1000)} s] ${line}\n`) }
  return {
    update (a) {
      const percent = a.bytes == null || a.bytes.total === 0 ? '' : String(Math.floor(100 * a.bytes.done / a.bytes.total))
      const key = `${a.matched.length}|${KEYS.map(k => a.done[k]).join('|')}|${percent}|${a.failures.length}`
      if (key === last) return
      last = key
      write(progressLine(a))
    },
    note: write,
    stop () {}
  }
}

function barsView (task: TaskView): ProgressView {
  const multi = new MultiBar({
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: false,
    format: '{label} [{bar}] {count}'
  }, Presets.shades_classic)
  const bars = new Map<string, SingleBar>()
  const set = (label: string, value: number, total: number, count: string): void => {
    let bar = bars.get(label)
    if (bar === undefined) {
      bar = multi.create(Math.max(1, total), value, { label: label.padEnd(8), count })
      bars.set(label, bar)
    }
    bar.setTotal(Math.max(1, total))
    bar.update(value, { count })
  }
  return {
    update (a) {
      const n = a.matched.length
      for (const key of KEYS) set(key, a.done[key], n, `${a.done[key]}/${n} targets`)
      if (a.bytes != null && task.package != null) set('bytes', a.bytes.done, a.bytes.total, `${formatBytes(a.bytes.done)} / ${formatBytes(a.bytes.total)}`)
    },
    note (line) { multi.log(`${line}\n`) },
    stop () { multi.stop() }
  }
}

/** Report the end of `--wait`: exit 0 when done, else print what failed (with its logs) and throw. */
async function conclude (client: ApiClient, taskId: string, outcome: Outcome, timeoutMs: number): Promise<void> {
  const a = outcome.assessment
  const n = a.matched.length
  if (outcome.timedOut) {
    const completed = a.done.Run
    throw new DeployFailedError(`timed out after ${timeoutMs / 1000} s: ${completed === 0 ? 'no target' : `${completed} of ${n} targets`} completed (matched ${n})`)
  }
  if (a.state === 'done') {
    process.stdout.write(`all ${n} target${n === 1 ? '' : 's'} completed (Run SUCCESS)\n`)
    return
  }
  for (const failure of a.failures.slice(0, 3)) await reportFailure(client, taskId, failure, outcome.records.get(failure.target))
  const first = a.failures[0]!
  const more = a.failures.length > 1 ? ` (and ${a.failures.length - 1} more)` : ''
  throw new DeployFailedError(`target ${first.target} failed: ${first.stage.toUpperCase()}-${first.status}${more}`)
}

/** Print a failed target's stage and its logs: asked of its agent when the task is still its current one, else the last ones seen. */
async function reportFailure (client: ApiClient, taskId: string, failure: DeployFailure, seen: TargetRecord | undefined): Promise<void> {
  process.stderr.write(`target ${failure.target}: ${failure.stage.toUpperCase()}-${failure.status}${failure.error !== undefined ? `: ${failure.error}` : ''}\n`)
  let record = seen
  if (failure.current) {
    try {
      record = await requestLogs(client, failure.target, [failure.stage.toLowerCase() as Lowercase<StageKey>], { taskId })
    } catch (err) {
      process.stderr.write(`  (could not ask for its logs: ${(err as Error).message})\n`)
    }
  }
  if (record?.Task?.ID !== taskId) record = seen
  if (record?.Task?.ID !== taskId) {
    process.stderr.write('  (its current task is another one now, so the manager holds no logs of this task)\n')
    return
  }
  for (const line of formatLogLines(record.Task.StageLogs, [failure.stage])) process.stderr.write(`  ${line}\n`)
}
