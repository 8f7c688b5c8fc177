/**
 * What the agent tells the manager, over the status topic: acknowledgements
 * per stage, log lines (live for `debug` tasks, otherwise on request), and
 * the periodic advert. Gossip is best effort, so the latest acknowledgement
 * of each stage of the current task is repeated inside every advert: a
 * manager that restarted or missed a message converges within one advert
 * interval.
 */
import { STAGES, type AckBody, type AdvertBody, type LogEntry, type Stage, type StageStatus } from '../core/index.ts'
import { GOSSIP_LIMITS, type SwarmGossip } from '../gossip/index.ts'
import { createLogBuffer, type LogBuffer } from './log-buffer.ts'

/** Options of {@link createReporter}. */
export interface ReporterOptions {
  readonly gossip: SwarmGossip
  readonly targetId: () => string
  readonly maxLogLines: number
  /** Lines per logs message (each line is at most `maxLineBytes`, so this bounds the message size). */
  readonly linesPerMessage: number
  /** Live log lines are batched for this long. */
  readonly liveFlushMs: number
  readonly clock: () => number
  readonly onError: (err: Error, what: string) => void
}

/** Reports of one agent. */
export interface Reporter {
  /** Record and publish a stage acknowledgement. */
  ack (taskId: string, stage: Stage, status: StageStatus, extra?: { error?: string, progress?: { bytes: number, total: number } }): void
  /** Record a log line of a stage; published at once (batched) when `live`. */
  log (taskId: string, stage: Stage, entry: LogEntry, live: boolean): void
  /** An agent event as a log line (no command). */
  note (taskId: string, stage: Stage, output: string, error: boolean, live: boolean): void
  /** Publish the kept lines of a stage (a log request), or only the last `tail` of them. */
  sendLogs (taskId: string, stage: Stage, tail?: number): Promise<void>
  /** The task reported on last (what a log request is about). */
  latestTask (): string | undefined
  /** Publish an advert carrying the current task's latest acknowledgements. */
  advertise (advert: Omit<AdvertBody, 'kind' | 'v' | 'at' | 'id' | 'task' | 'acks'>): Promise<void>
  /** Forget the logs and acknowledgements of tasks other than `keep`. */
  retain (keep: readonly string[]): void
  /** Publish pending live lines; stop the batch timer. */
  close (): Promise<void>
}

interface TaskReports {
  readonly logs: Record<Stage, LogBuffer>
  readonly acks: Partial<Record<Stage, AckBody>>
  readonly pending: Record<Stage, LogEntry[]>
}

/** Build the reporter of an agent. */
export function createReporter (options: ReporterOptions): Reporter {
  const tasks = new Map<string, TaskReports>()
  let current: string | undefined
  let flushTimer: NodeJS.Timeout | undefined
  const perMessage = Math.min(options.linesPerMessage, GOSSIP_LIMITS.maxLogEntries)

  const reportsOf = (taskId: string): TaskReports => {
    let reports = tasks.get(taskId)
    if (reports == null) {
      const buffers = Object.fromEntries(STAGES.map(s => [s, createLogBuffer(options.maxLogLines)])) as Record<Stage, LogBuffer>
      reports = { logs: buffers, acks: {}, pending: { transfer: [], install: [], run: [] } }
      tasks.set(taskId, reports)
    }
    return reports
  }

  const publish = async (body: Parameters<SwarmGossip['publishStatus']>[0]): Promise<void> => {
    await options.gossip.publishStatus(body).catch(err => { options.onError(err as Error, `publishing ${body.kind}`) })
  }

  const publishLines = async (taskId: string, stage: Stage, lines: readonly LogEntry[]): Promise<void> => {
    for (let i = 0; i < lines.length; i += perMessage) {
      await publish({ kind: 'logs', v: 1, targetId: options.targetId(), taskId, stage, logs: lines.slice(i, i + perMessage).map(clip), at: options.clock() })
    }
  }

  const flushLive = async (): Promise<void> => {
    flushTimer = undefined
    for (const [taskId, reports] of tasks) {
      for (const stage of STAGES) {
        const lines = reports.pending[stage].splice(0)
        if (lines.length > 0) await publishLines(taskId, stage, lines)
      }
    }
  }

  const reporter: Reporter = {
    ack (taskId, stage, status, extra = {}) {
      current = taskId
      const body: AckBody = {
        kind: 'ack', v: 1, targetId: options.targetId(), taskId, stage, status, at: options.clock(),
        ...(extra.error != null ? { error: extra.error.slice(0, GOSSIP_LIMITS.maxErrorLength) } : {}),
        ...(extra.progress != null ? { progress: extra.progress } : {})
      }
      reportsOf(taskId).acks[stage] = body
      void publish(body)
    },
    log (taskId, stage, entry, live) {
      const reports = reportsOf(taskId)
      reports.logs[stage].push(entry)
      if (!live) return
      reports.pending[stage].push(entry)
      flushTimer ??= setTimeout(() => { void flushLive() }, options.liveFlushMs)
    },
    note (taskId, stage, output, error, live) {
      reporter.log(taskId, stage, { Output: output, Error: error, Time: Math.floor(options.clock() / 1000) }, live)
    },
    async sendLogs (taskId, stage, tail) {
      const reports = tasks.get(taskId)
      if (reports == null) return
      const lines = reports.logs[stage].entries()
      await publishLines(taskId, stage, tail == null ? lines : lines.slice(-tail))
    },
    latestTask () {
      return current
    },
    async advertise (advert) {
      const acks = current == null ? [] : STAGES.map(s => tasks.get(current!)?.acks[s]).filter(a => a != null)
      const last = acks.at(-1)
      await publish({
        ...advert, kind: 'advert', v: 1, id: options.targetId(), at: options.clock(),
        ...(last != null ? { task: { id: last.taskId, stage: last.stage, status: last.status }, acks } : {})
      })
    },
    retain (keep) {
      for (const id of tasks.keys()) if (!keep.includes(id)) tasks.delete(id)
      if (current != null && !keep.includes(current)) current = undefined
    },
    async close () {
      clearTimeout(flushTimer)
      await flushLive()
    }
  }
  return reporter
}

/** Output lines longer than the wire allows are cut (the agent's own limit is lower; this is a guard). */
function clip (entry: LogEntry): LogEntry {
  return entry.Output.length <= GOSSIP_LIMITS.maxOutputLength ? entry : { ...entry, Output: entry.Output.slice(0, GOSSIP_LIMITS.maxOutputLength) }
}
