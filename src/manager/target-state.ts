/**
 * How agent reports change a target's record: pure functions from (record,
 * report) to the new record, so the rules are testable without a network.
 * Gossip gives no ordering guarantee, so every report carries its time and a
 * report older than what a stage already shows does not overwrite it.
 */
import { stageKey, type AckBody, type AdvertBody, type LogEntry, type LogsBody, type StageLog, type StageStatus, type TargetRecord, type TargetTask } from '../core/index.ts'

/** Why a report was not applied. */
export type Refusal = 'peer-mismatch' | 'stale'

/** The result of applying a report. */
export type Applied = { readonly record: TargetRecord } | { readonly refused: Refusal }

const FINAL: ReadonlySet<StageStatus> = new Set(['FAILURE', 'DECLINED', 'STOPPED'])

const iso = (ms: number): string => new Date(ms).toISOString()

/** A target created by the operator (`POST /targets`) or first heard of. */
export function newTarget (id: string, tags: readonly string[], now: number): TargetRecord {
  return { ID: id, Tags: [...tags], Addresses: [], Created: iso(now), History: {} }
}

/**
 * An advert refreshes what the agent says of itself. The first advert pins
 * the target id to the sending peer; a different peer claiming the id later
 * is refused (`peer-mismatch`).
 */
export function applyAdvert (record: TargetRecord | undefined, advert: AdvertBody, from: string, now: number): Applied {
  const base = record ?? newTarget(advert.id, advert.tags, now)
  if (base.PeerID != null && base.PeerID !== from) return { refused: 'peer-mismatch' }
  return {
    record: {
      ...base,
      Tags: [...advert.tags],
      PeerID: from,
      Addresses: [...advert.addresses],
      Platform: { OS: advert.platform.os, Arch: advert.platform.arch },
      FreeDiskBytes: advert.freeDiskBytes,
      AgentVersion: advert.version,
      LastSeen: iso(now)
    }
  }
}

/** The manager's sequence number of a task, when it knows the task. */
export type SeqOf = (taskId: string) => number | undefined

/**
 * An acknowledgement sets one stage's status (and the current stage, when it
 * is the newest report). News of a task older than the target's current one
 * only lands in History.
 */
export function applyAck (record: TargetRecord | undefined, ack: AckBody, from: string, now: number, seqOf: SeqOf = () => undefined): Applied {
  const checked = checkSender(record, ack.targetId, from, now)
  if ('refused' in checked) return checked
  if (supersedes(checked.record.Task, ack.taskId, ack.at, seqOf)) return historyOnly(checked.record, ack)
  const task = taskFor(checked.record, ack.taskId)
  const key = stageKey(ack.stage)
  const previous = task.StageLogs[key]
  if (previous != null && Date.parse(previous.Updated) > ack.at) return { refused: 'stale' }
  const stage: StageLog = {
    Status: ack.status,
    Updated: iso(ack.at),
    Logs: previous?.Logs ?? [],
    ...(ack.error != null ? { Error: ack.error } : {})
  }
  const newest = Object.values(task.StageLogs).every(log => Date.parse(log.Updated) <= ack.at)
  const next: TargetTask = {
    ...task,
    CurrentStage: newest ? ack.stage.toUpperCase() as TargetTask['CurrentStage'] : task.CurrentStage,
    Error: task.Error || FINAL.has(ack.status) && ack.status !== 'STOPPED',
    StageLogs: { ...task.StageLogs, [key]: stage },
    ...(ack.progress != null ? { Progress: { Bytes: ack.progress.bytes, Total: ack.progress.total } } : {})
  }
  const final = FINAL.has(ack.status) || (ack.stage === 'run' && ack.status === 'SUCCESS')
  return {
    record: {
      ...checked.record,
      LastSeen: iso(now),
      Task: next,
      History: final ? { ...checked.record.History, [ack.taskId]: `${ack.stage.toUpperCase()}-${ack.status}` } : checked.record.History
    }
  }
}

/** Log lines are appended to their stage, keeping the newest `maxLines`. */
export function applyLogs (record: TargetRecord | undefined, logs: LogsBody, from: string, now: number, maxLines: number, seqOf: SeqOf = () => undefined): Applied {
  const checked = checkSender(record, logs.targetId, from, now)
  if ('refused' in checked) return checked
  if (supersedes(checked.record.Task, logs.taskId, logs.at, seqOf)) return { refused: 'stale' }
  const task = taskFor(checked.record, logs.taskId)
  const key = stageKey(logs.stage)
  const previous: StageLog = task.StageLogs[key] ?? { Status: 'STARTED', Updated: iso(logs.at), Logs: [] }
  const lines = mergeLines(previous.Logs, logs.logs, maxLines)
  return {
    record: {
      ...checked.record,
      LastSeen: iso(now),
      Task: { ...task, StageLogs: { ...task.StageLogs, [key]: { ...previous, Logs: lines } } }
    }
  }
}

/** Append new lines, skipping exact repeats (a log request answered twice), keep the newest `max`. */
function mergeLines (old: readonly LogEntry[], added: readonly LogEntry[], max: number): LogEntry[] {
  const seen = new Set(old.map(lineKey))
  const merged = [...old, ...added.filter(line => !seen.has(lineKey(line)))]
  return merged.length > max ? merged.slice(merged.length - max) : merged
}

const lineKey = (line: LogEntry): string => `${line.Time}\0${line.LineNum ?? ''}\0${line.Command ?? ''}\0${line.Output}\0${line.Error}`

/** A report from an unknown target creates it (pinned to the sender); one from another peer than the pinned one is refused. */
function checkSender (record: TargetRecord | undefined, targetId: string, from: string, now: number): Applied {
  if (record == null) return { record: { ...newTarget(targetId, [], now), PeerID: from } }
  if (record.PeerID != null && record.PeerID !== from) return { refused: 'peer-mismatch' }
  return { record: record.PeerID == null ? { ...record, PeerID: from } : record }
}

/**
 * Is the current task another, newer one? Then a report about `taskId` is
 * late news (or about a release the device fell back to after the newer one
 * failed, which must not hide that failure). Newer means a higher sequence
 * number when the manager knows both tasks, else reported on after `at`.
 */
function supersedes (current: TargetTask | undefined, taskId: string, at: number, seqOf: SeqOf): boolean {
  if (current == null || current.ID === taskId) return false
  const [mine, theirs] = [seqOf(taskId), seqOf(current.ID)]
  if (mine != null && theirs != null) return mine < theirs
  return Object.values(current.StageLogs).some(log => Date.parse(log.Updated) > at)
}

/** A final status of an older task still belongs in History; anything else about it is dropped. */
function historyOnly (record: TargetRecord, ack: AckBody): Applied {
  if (!FINAL.has(ack.status) && !(ack.stage === 'run' && ack.status === 'SUCCESS')) return { refused: 'stale' }
  const entry = `${ack.stage.toUpperCase()}-${ack.status}`
  if (record.History[ack.taskId] === entry) return { refused: 'stale' }
  return { record: { ...record, History: { ...record.History, [ack.taskId]: entry } } }
}

/** The record's task if it is `taskId`, else a fresh task that replaces it. */
function taskFor (record: TargetRecord, taskId: string): TargetTask {
  if (record.Task?.ID === taskId) return record.Task
  return { ID: taskId, CurrentStage: 'TRANSFER', Error: false, StageLogs: {} }
}
