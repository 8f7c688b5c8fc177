/**
 * JSON schemas of everything sent on a swarm's gossip topics: one per message
 * kind, every field typed and bounded, unknown fields refused. A signed
 * task's stages and selector reuse the task description's schema pieces, so
 * it obeys the same limits as the description it was made from.
 */
import { ENROLLMENT_PROOF } from '../core/enrollment.ts'
import { STAGE_STATUSES } from '../core/status.ts'
import { SWARM_NAME } from '../core/swarm.ts'
import { TASK_LIMITS, taskSpecSchema } from '../core/task-schema.ts'
import { RESTART_POLICIES, STAGES } from '../core/task.ts'

/** Bounds of gossip messages beyond those of task descriptions (DoS guard at the boundary). */
export const GOSSIP_LIMITS = {
  /** Length of a task id. @default 128 */
  maxIdLength: 128,
  /** Tags in an advert. @default 64 */
  maxTags: 64,
  /** Addresses in an advert. @default 16 */
  maxAddresses: 16,
  /** Length of one address. @default 512 */
  maxAddressLength: 512,
  /** Entries in one logs message. @default 200 */
  maxLogEntries: 200,
  /** Length of one log line's output, in characters. @default 8192 */
  maxOutputLength: 8192,
  /** Length of an error message. @default 4096 */
  maxErrorLength: 4096,
  /** Length of a version, OS or architecture name. @default 64 */
  maxShortLength: 64
} as const

/**
 * A task id: it names a directory on every agent (`releases/<id>`), so only
 * letters, digits, `.`, `_`, `-`, not starting with `.` or `-`.
 */
export const TASK_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

const taskId = { type: 'string', pattern: TASK_ID.source }
/** A libp2p peer id as a base58btc string. */
export const PEER_ID = /^[1-9A-HJ-NP-Za-km-z]{32,128}$/
/** Target ids and tags: the selector's own item schema (1-128 characters, no whitespace or comma). */
const name = taskSpecSchema.properties.target.properties.ids.items
const selector = taskSpecSchema.properties.target
const commands = taskSpecSchema.properties.stages.properties.install
const transfer = taskSpecSchema.properties.stages.properties.transfer
const count = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER }
/** ms since the epoch, within what a `Date` holds. */
const time = { type: 'integer', minimum: 0, maximum: 8.64e15 }
const stage = { type: 'string', enum: [...STAGES] }
const stageStatus = { type: 'string', enum: [...STAGE_STATUSES] }
const short = { type: 'string', minLength: 1, maxLength: GOSSIP_LIMITS.maxShortLength }

/** An object schema with every listed property required unless named in `optional`. */
function strictObject (properties: Record<string, object>, optional: readonly string[] = []): object {
  const required = Object.keys(properties).filter(key => !optional.includes(key))
  return { type: 'object', additionalProperties: false, required, properties }
}

/** Fields every manager message carries. */
function managerFields (kind: string): Record<string, object> {
  return {
    kind: { type: 'string', const: kind },
    v: { type: 'integer', const: 1 },
    swarm: { type: 'string', pattern: SWARM_NAME.source },
    seq: count,
    createdAt: time,
    expiresAt: time
  }
}

const taskPackage = strictObject({ cid: { type: 'string', minLength: 1, maxLength: 256 }, bytes: count })

/** Schema of each manager message body, by kind. */
export const managerBodySchemas = {
  task: strictObject({
    ...managerFields('task'),
    id: taskId,
    description: { type: 'string', maxLength: TASK_LIMITS.maxDescriptionLength },
    package: { anyOf: [{ type: 'null' }, taskPackage] },
    stages: strictObject({ transfer, install: commands, run: commands }),
    target: selector,
    debug: { type: 'boolean' },
    restart: { type: 'string', enum: [...RESTART_POLICIES] },
    workdir: { type: 'string', minLength: 1, maxLength: TASK_LIMITS.maxStringLength }
  }, ['description', 'workdir']),
  stop: strictObject({ ...managerFields('stop'), taskId, target: selector }),
  'log-request': strictObject({ ...managerFields('log-request'), targetId: name, stage }),
  revoke: strictObject({ ...managerFields('revoke'), targetId: name, peerId: { type: 'string', pattern: PEER_ID.source } })
} as const

/** Schema of the signed envelope; its body is checked against {@link managerBodySchemas}. */
export const signedEnvelopeSchema = strictObject({
  body: { type: 'object' },
  /** base64url (no padding) of a 64-byte Ed25519 signature. */
  sig: { type: 'string', pattern: '^[A-Za-z0-9_-]{86}$' }
})

const logEntry = strictObject({
  Command: { type: 'string', maxLength: TASK_LIMITS.maxStringLength },
  Output: { type: 'string', maxLength: GOSSIP_LIMITS.maxOutputLength },
  Error: { type: 'boolean' },
  LineNum: count,
  Time: { type: 'number', minimum: 0, maximum: Number.MAX_SAFE_INTEGER }
}, ['Command', 'LineNum'])

const ackBody = strictObject({
  kind: { type: 'string', const: 'ack' },
  v: { type: 'integer', const: 1 },
  targetId: name,
  taskId,
  stage,
  status: stageStatus,
  error: { type: 'string', maxLength: GOSSIP_LIMITS.maxErrorLength },
  progress: strictObject({ bytes: count, total: count }),
  at: time
}, ['error', 'progress'])

/** Schema of each status message body, by kind. */
export const statusBodySchemas = {
  advert: strictObject({
    kind: { type: 'string', const: 'advert' },
    v: { type: 'integer', const: 1 },
    id: name,
    tags: { type: 'array', maxItems: GOSSIP_LIMITS.maxTags, items: name },
    addresses: { type: 'array', maxItems: GOSSIP_LIMITS.maxAddresses, items: { type: 'string', minLength: 1, maxLength: GOSSIP_LIMITS.maxAddressLength } },
    platform: strictObject({ os: short, arch: short }),
    freeDiskBytes: count,
    version: short,
    task: strictObject({ id: taskId, stage, status: stageStatus }),
    enrollment: { type: 'string', pattern: ENROLLMENT_PROOF.source },
    acks: { type: 'array', maxItems: STAGES.length, items: ackBody },
    at: time
  }, ['task', 'enrollment', 'acks']),
  ack: ackBody,
  logs: strictObject({
    kind: { type: 'string', const: 'logs' },
    v: { type: 'integer', const: 1 },
    targetId: name,
    taskId,
    stage,
    logs: { type: 'array', maxItems: GOSSIP_LIMITS.maxLogEntries, items: logEntry },
    at: time
  })
} as const
