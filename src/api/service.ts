/**
 * What the REST API needs from the manager. The API knows the manager only
 * through this interface (the manager implements it without importing `api`),
 * so routes can be tested against any implementation.
 */
import type { RestartPolicy, Stage, StageKey, StageStatus, TargetRecord, TargetSelector, TaskSpec } from '../core/index.ts'

/** Token scopes: `deploy` includes `read`. */
export type Scope = 'read' | 'deploy'

/** A page of a listing. `page` counts from 1. */
export interface Page<T> {
  readonly items: readonly T[]
  readonly total: number
  readonly page: number
  readonly perPage: number
}

/** Paging parameters. */
export interface PageRequest {
  readonly page: number
  readonly perPage: number
}

/** A task as the API shows it. Times are ISO 8601. */
export interface TaskView {
  readonly id: string
  readonly description?: string
  readonly stages: {
    readonly assemble?: readonly string[]
    readonly transfer: readonly string[]
    readonly install: readonly string[]
    readonly run: readonly string[]
  }
  readonly target: TargetSelector
  readonly debug: boolean
  readonly run: { readonly restart: RestartPolicy }
  /** Manifest CID and size of the delivered package; `null` when nothing is transferred. */
  readonly package: { readonly cid: string, readonly bytes: number } | null
  readonly seq: number
  readonly createdAt: string
  readonly expiresAt: string
  /** base64url Ed25519 signature of the manager over the announced task. */
  readonly signature: string
  /** When a stop order was issued, if one was. */
  readonly stoppedAt?: string
}

/** Per-target progress of a task. */
export interface TaskSummary {
  /** Ids of the registered targets the selector matches. */
  readonly matchedTargets: readonly string[]
  /** How many targets report each status, per stage. */
  readonly stages: Readonly<Record<StageKey, Readonly<Partial<Record<StageStatus, number>>>>>
  /** Bytes of this task's package the manager itself uploaded to peers. */
  readonly managerUploadBytes: number
}

/** A task with its summary (`GET /tasks/{id}`). */
export interface TaskDetail extends TaskView {
  readonly summary: TaskSummary
}

/** Input of {@link ManagerService.createTask}. */
export interface CreateTaskInput {
  readonly spec: TaskSpec
  /** Path of an uploaded `.tar` or `.tar.gz` (detected by content); the caller deletes it afterwards. */
  readonly packagePath?: string
  /** Or the package as {@link ManagerService.receivePackage} unpacked it; the caller disposes of it afterwards. */
  readonly received?: ReceivedPackage
  readonly signal?: AbortSignal
}

/** An uploaded package, unpacked by {@link ManagerService.receivePackage}. */
export interface ReceivedPackage {
  /** Where it was unpacked (the manager's scratch space). */
  readonly dir: string
  /** Remove it, once the task is created or refused. Idempotent. */
  dispose (): Promise<void>
}

/** A target created or updated by the operator. */
export interface TargetInput {
  readonly id: string
  readonly tags: readonly string[]
}

/** Something that changed, pushed on `/events`. */
export type ManagerEvent =
  | { readonly topic: 'task', readonly payload: TaskView }
  | { readonly topic: 'target', readonly payload: TargetRecord }

/** Figures for `GET /metrics`. */
export interface ManagerMetrics {
  readonly tasks: number
  readonly targets: number
  /** Targets per status of their current task's current stage (`RUN-SUCCESS`, …; `IDLE` without a task). */
  readonly targetsByStatus: Readonly<Record<string, number>>
  /** Bytes of chunks the manager uploaded to peers since it started. */
  readonly bytesServed: number
  /** Agent reports refused since start, by reason (`peer-mismatch`, `not-enrolled`, `revoked`, …). */
  readonly refusedReports?: Readonly<Record<string, number>>
  /** Bytes the manager's node sent since it started, by libp2p protocol; `(wire)`: all its connections carried, framing included. */
  readonly sentBytes?: Readonly<Record<string, number>>
}

/**
 * The manager as the API sees it. Errors are the named errors of
 * `src/core/errors.ts` (`TaskNotFoundError`, `InvalidTaskError`, …); the API
 * maps them to HTTP statuses in one place.
 */
export interface ManagerService {
  /** Validate, assemble, pack, sign, persist, announce and seed a task. */
  createTask (input: CreateTaskInput): Promise<TaskView>
  /**
   * Unpack an uploaded `.tar` or `.tar.gz` as it arrives, checking every
   * entry before it is written; for {@link CreateTaskInput.received}. An
   * implementation without it gets the upload as a file (`packagePath`).
   * @throws {UnsafePackageError} not a valid archive, an unsafe entry, or over a limit.
   */
  receivePackage? (source: AsyncIterable<Uint8Array>, options?: { signal?: AbortSignal }): Promise<ReceivedPackage>
  /** Newest first. */
  listTasks (page: PageRequest): Promise<Page<TaskView>>
  getTask (id: string): Promise<TaskDetail>
  /** Sign and announce a stop order for every target the task matches. */
  stopTask (id: string): Promise<TaskView>
  /** Targets carrying every tag in `tags` (all targets when empty), by id. */
  listTargets (filter: PageRequest & { readonly tags?: readonly string[] }): Promise<Page<TargetRecord>>
  createTarget (input: TargetInput): Promise<TargetRecord>
  getTarget (id: string): Promise<TargetRecord>
  updateTarget (input: TargetInput): Promise<TargetRecord>
  deleteTarget (id: string): Promise<void>
  /** Ask the target's agent for a stage's logs; they arrive later in the registry. */
  requestLogs (id: string, stage: Stage): Promise<void>
  /** Subscribe to changes; returns the unsubscribe function. */
  subscribe (listener: (event: ManagerEvent) => void): () => void
  metrics (): Promise<ManagerMetrics>
  /** The scope a bearer token grants, or `undefined` for an unknown token. */
  authenticate (token: string): Promise<Scope | undefined>
}
