/**
 * Deployment tasks: what an operator submits (a {@link TaskSpec}, as in the
 * CPSwarm tool's Appendix A) and what the manager signs and announces (a
 * {@link TaskBody} inside a signed envelope).
 */

/** Deployment stages an agent reports on, in order. */
export const STAGES = ['transfer', 'install', 'run'] as const
export type Stage = typeof STAGES[number]

/** What the agent does when a run command exits. */
export const RESTART_POLICIES = ['never', 'on-failure', 'always'] as const
export type RestartPolicy = typeof RESTART_POLICIES[number]

/**
 * Which targets a task is for. A target matches when its id is listed in
 * `ids`, **or** when it carries every tag in `tags` (a non-empty list). An
 * empty selector matches nothing: a task must name its targets.
 */
export interface TargetSelector {
  readonly ids?: readonly string[]
  readonly tags?: readonly string[]
}

/** Commands and paths of each stage. */
export interface TaskStages {
  /** Commands the manager runs in a scratch copy of the package before transfer (cross-compilation…). */
  readonly assemble?: readonly string[]
  /** Paths inside the uploaded package to deliver. */
  readonly transfer?: readonly string[]
  /** Commands run one by one in the release directory; the first failure stops the install. */
  readonly install?: readonly string[]
  /** Commands started, supervised, once installed. */
  readonly run?: readonly string[]
}

/** A task description as the operator writes it (YAML or JSON). */
export interface TaskSpec {
  readonly description?: string
  readonly stages: TaskStages
  readonly target: TargetSelector
  /** Send every log line live rather than on request. @default false */
  readonly debug?: boolean
  readonly run?: {
    readonly restart?: RestartPolicy
    /** Directory the run commands start in, relative to the release directory. @default '.' */
    readonly workdir?: string
  }
}

/** The package a task delivers: a manifest CID (see `src/core/manifest.ts`) and its size. */
export interface TaskPackage {
  readonly cid: string
  readonly bytes: number
}

/** What the manager signs and announces for a task. */
export interface TaskBody {
  readonly kind: 'task'
  readonly v: 1
  /** Server-generated id. */
  readonly id: string
  /** Name of the swarm the task is for (from swarm.json). */
  readonly swarm: string
  /** Monotonically increasing over all messages the manager signs. */
  readonly seq: number
  /** Milliseconds since the epoch. */
  readonly createdAt: number
  /** After this (ms since the epoch) agents ignore the task. */
  readonly expiresAt: number
  readonly description?: string
  /** `null` for a task with nothing to transfer. */
  readonly package: TaskPackage | null
  readonly stages: { readonly transfer: readonly string[], readonly install: readonly string[], readonly run: readonly string[] }
  readonly target: TargetSelector
  readonly debug: boolean
  readonly restart: RestartPolicy
  /** Directory the run commands start in, relative to the release directory (absent: the release directory). */
  readonly workdir?: string
}

/** Fields every signed manager message other than a task carries (a task has them too, documented there). */
export interface OrderFields {
  readonly v: 1
  /** Name of the swarm the message is for. */
  readonly swarm: string
  /** Monotonically increasing over all messages the manager signs. */
  readonly seq: number
  /** Milliseconds since the epoch. */
  readonly createdAt: number
  /** After this (ms since the epoch) agents ignore the message. */
  readonly expiresAt: number
}

/** A signed order to stop a task's processes on every matching target. */
export interface StopBody extends OrderFields {
  readonly kind: 'stop'
  readonly taskId: string
  readonly target: TargetSelector
}

/** A signed request for one target's logs of one stage. */
export interface LogRequestBody extends OrderFields {
  readonly kind: 'log-request'
  readonly targetId: string
  readonly stage: Stage
}

/**
 * A signed revocation: the target `targetId`, authenticated as peer `peerId`,
 * is no longer a member. Every node refuses connections and reports from
 * that peer from then on; revocations do not expire in practice (their
 * `expiresAt` is years ahead) so late joiners learn them over sync.
 */
export interface RevokeBody extends OrderFields {
  readonly kind: 'revoke'
  readonly targetId: string
  /** The libp2p peer id (base58btc string) the target was pinned to. */
  readonly peerId: string
}

/** Everything the manager signs. */
export type ManagerBody = TaskBody | StopBody | LogRequestBody | RevokeBody

/** A manager message with its Ed25519 signature (base64url) over the canonical encoding of `body`. */
export interface Signed<T extends ManagerBody = ManagerBody> {
  readonly body: T
  readonly sig: string
}

/** Does a target with this id and these tags match the selector? See {@link TargetSelector}. */
export function matchesSelector (selector: TargetSelector, target: { readonly id: string, readonly tags: readonly string[] }): boolean {
  if (selector.ids?.includes(target.id) === true) return true
  const tags = selector.tags ?? []
  return tags.length > 0 && tags.every(tag => target.tags.includes(tag))
}
