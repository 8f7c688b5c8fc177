/**
 * What agents report and what the registry keeps about each target, in the
 * shape of the CPSwarm tool's Appendix B (`Tags`, `Task{ID, CurrentStage,
 * Error, StageLogs{…}}`, `History`), so clients of that tool still read it.
 */
import type { Stage } from './task.ts'

/** Status of one stage of one task on one target. */
export const STAGE_STATUSES = ['STARTED', 'SUCCESS', 'FAILURE', 'DECLINED', 'STOPPED'] as const
export type StageStatus = typeof STAGE_STATUSES[number]

/** One log line: a command's output line, or an event of the agent (no `Command`). */
export interface LogEntry {
  readonly Command?: string
  readonly Output: string
  readonly Error: boolean
  readonly LineNum?: number
  /** Seconds since the epoch. */
  readonly Time: number
}

/** A stage's state on a target. */
export interface StageLog {
  readonly Status: StageStatus
  /** ISO 8601. */
  readonly Updated: string
  /** Most recent lines, bounded (the registry keeps the newest). */
  readonly Logs: readonly LogEntry[]
  /** Error message of a FAILURE or DECLINED. */
  readonly Error?: string
}

/** `Transfer`, `Install`, `Run`: the stage keys of Appendix B. */
export type StageKey = 'Transfer' | 'Install' | 'Run'

/** The current task of a target. */
export interface TargetTask {
  readonly ID: string
  /** `TRANSFER`, `INSTALL` or `RUN`. */
  readonly CurrentStage: Uppercase<Stage>
  readonly Error: boolean
  readonly StageLogs: Partial<Record<StageKey, StageLog>>
  /** Transfer progress, when the agent reported it. */
  readonly Progress?: { readonly Bytes: number, readonly Total: number }
}

/** A device as the registry knows it. */
export interface TargetRecord {
  readonly ID: string
  readonly Tags: readonly string[]
  /** libp2p peer id the target's reports come from (pinned on first advert). */
  readonly PeerID?: string
  readonly Addresses: readonly string[]
  readonly Platform?: { readonly OS: string, readonly Arch: string }
  readonly FreeDiskBytes?: number
  readonly AgentVersion?: string
  /** ISO 8601 of the last advert or report; absent for a target never heard from. */
  readonly LastSeen?: string
  /** ISO 8601 of when the registry first recorded the target. */
  readonly Created: string
  readonly Task?: TargetTask
  /** Final state of each task the target processed: `RUN-SUCCESS`, `INSTALL-FAILURE`… */
  readonly History: Readonly<Record<string, string>>
}

/** An agent's periodic "I am here" on the status topic. */
export interface AdvertBody {
  readonly kind: 'advert'
  readonly v: 1
  readonly id: string
  readonly tags: readonly string[]
  readonly addresses: readonly string[]
  readonly platform: { readonly os: string, readonly arch: string }
  readonly freeDiskBytes: number
  readonly version: string
  /** The task the agent is on, if any. */
  readonly task?: { readonly id: string, readonly stage: Stage, readonly status: StageStatus }
  /**
   * The latest acknowledgement of each stage of that task, repeated with
   * every advert (gossip is best effort: a manager that missed one, or
   * restarted, converges within an advert interval). Inside the advert
   * rather than beside it: on a slow uplink every message is a packet, and
   * the manager's ACK of it another on the manager's.
   */
  readonly acks?: readonly AckBody[]
  /** Proof of an enrollment token (see `enrollmentProof`), for a manager that requires one. */
  readonly enrollment?: string
  /** ms since the epoch. */
  readonly at: number
}

/** An agent's acknowledgement of one stage of one task. */
export interface AckBody {
  readonly kind: 'ack'
  readonly v: 1
  readonly targetId: string
  readonly taskId: string
  readonly stage: Stage
  readonly status: StageStatus
  readonly error?: string
  /** Transfer progress (bytes verified so far, package size). */
  readonly progress?: { readonly bytes: number, readonly total: number }
  readonly at: number
}

/** Log lines of one stage, live (debug tasks) or on request. */
export interface LogsBody {
  readonly kind: 'logs'
  readonly v: 1
  readonly targetId: string
  readonly taskId: string
  readonly stage: Stage
  readonly logs: readonly LogEntry[]
  readonly at: number
}

/** Everything agents publish on the status topic. */
export type StatusBody = AdvertBody | AckBody | LogsBody

/** `transfer` → `Transfer`. */
export function stageKey (stage: Stage): StageKey {
  return (stage[0]!.toUpperCase() + stage.slice(1)) as StageKey
}
