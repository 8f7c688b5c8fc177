/**
 * JSON schemas of every route: they validate requests (params, query
 * strings, bodies), shape responses (fastify drops properties a response
 * schema does not list, so these are complete) and are the source of the
 * OpenAPI document served at `/docs/json`.
 */
import { STAGE_STATUSES, STAGES, taskSpecSchema } from '../core/index.ts'
import { API_DEFAULTS } from '../constants.ts'

/** Media types of a JSON or YAML request body (YAML includes JSON; `text/plain` is read as YAML). */
export const DOCUMENT_TYPES = ['application/json', 'application/yaml', 'application/x-yaml', 'text/yaml', 'text/plain'] as const

/** Media type of a task upload with a package. */
export const MULTIPART_TYPE = 'multipart/form-data'

/** A reference to one of {@link sharedSchemas}. */
function ref (id: string): { $ref: string } {
  return { $ref: `${id}#` }
}

const str = { type: 'string' } as const
const strings = { type: 'array', items: str } as const
const int = { type: 'integer', minimum: 0 } as const
const time = { type: 'string', format: 'date-time' } as const

/** Same rule as target ids and tags in a task's selector, so every target can be selected. */
const name = { type: 'string', minLength: 1, maxLength: 128, pattern: '^[^\\s,]+$' } as const
const tags = { type: 'array', maxItems: API_DEFAULTS.maxTargetTags, items: name } as const

/** `transfer`, `Install`, `RUN`…: a stage name in any letter case. */
const stagePattern = `^(${STAGES.map(s => [...s].map(c => `[${c}${c.toUpperCase()}]`).join('')).join('|')})$`

/** Body of every error response (see `ErrorBody` in `errors.ts`). */
export const errorSchema = {
  $id: 'Error',
  type: 'object',
  description: 'Every error response.',
  required: ['statusCode', 'error', 'code', 'message'],
  properties: {
    statusCode: { type: 'integer' },
    error: { ...str, description: 'HTTP reason phrase' },
    code: { ...str, description: 'Stable machine-readable code (ERR_INVALID_TASK, ERR_TARGET_NOT_FOUND, FST_ERR_CTP_BODY_TOO_LARGE…)' },
    message: str,
    field: { ...str, description: 'Offending field of a 400 (stages.install[0]), when known' },
    output: { ...str, description: 'Output of the assemble commands (422)' }
  }
} as const

const errors = { '4xx': ref('Error'), '5xx': ref('Error') } as const

const selector = {
  type: 'object',
  properties: { ids: strings, tags: strings }
} as const

const taskViewProperties = {
  id: str,
  description: str,
  stages: {
    type: 'object',
    required: ['transfer', 'install', 'run'],
    properties: { assemble: strings, transfer: strings, install: strings, run: strings }
  },
  target: selector,
  debug: { type: 'boolean' },
  run: { type: 'object', required: ['restart'], properties: { restart: str } },
  package: {
    type: ['object', 'null'],
    description: 'Manifest CID and size of the delivered package; null when nothing is transferred',
    required: ['cid', 'bytes'],
    properties: { cid: str, bytes: int }
  },
  seq: int,
  createdAt: time,
  expiresAt: time,
  signature: { ...str, description: 'base64url Ed25519 signature of the manager over the announced task' },
  stoppedAt: time
} as const

const taskViewRequired = ['id', 'stages', 'target', 'debug', 'run', 'package', 'seq', 'createdAt', 'expiresAt', 'signature'] as const

/** A task as the API shows it (`TaskView`). */
export const taskViewSchema = {
  $id: 'TaskView',
  type: 'object',
  required: taskViewRequired,
  properties: taskViewProperties
} as const

const statusCounts = {
  type: 'object',
  properties: Object.fromEntries(STAGE_STATUSES.map(s => [s, int]))
} as const

/** A task with its per-stage summary (`TaskDetail`). */
export const taskDetailSchema = {
  $id: 'TaskDetail',
  type: 'object',
  required: [...taskViewRequired, 'summary'],
  properties: {
    ...taskViewProperties,
    summary: {
      type: 'object',
      required: ['matchedTargets', 'stages', 'managerUploadBytes'],
      properties: {
        matchedTargets: { ...strings, description: 'Registered targets the selector matches' },
        stages: {
          type: 'object',
          description: 'How many targets report each status, per stage',
          properties: { Transfer: statusCounts, Install: statusCounts, Run: statusCounts }
        },
        managerUploadBytes: int
      }
    }
  }
} as const

const logEntry = {
  type: 'object',
  required: ['Output', 'Error', 'Time'],
  properties: { Command: str, Output: str, Error: { type: 'boolean' }, LineNum: int, Time: { type: 'number', description: 'seconds since the epoch' } }
} as const

const stageLog = {
  type: 'object',
  required: ['Status', 'Updated', 'Logs'],
  properties: { Status: { type: 'string', enum: STAGE_STATUSES }, Updated: time, Logs: { type: 'array', items: logEntry }, Error: str }
} as const

/** A target in the Appendix B shape of the CPSwarm tool (`TargetRecord`). */
export const targetRecordSchema = {
  $id: 'TargetRecord',
  type: 'object',
  required: ['ID', 'Tags', 'Addresses', 'Created', 'History'],
  properties: {
    ID: str,
    Tags: strings,
    PeerID: str,
    Addresses: strings,
    Platform: { type: 'object', required: ['OS', 'Arch'], properties: { OS: str, Arch: str } },
    FreeDiskBytes: int,
    AgentVersion: str,
    LastSeen: time,
    Created: time,
    Task: {
      type: 'object',
      required: ['ID', 'CurrentStage', 'Error', 'StageLogs'],
      properties: {
        ID: str,
        CurrentStage: { type: 'string', enum: STAGES.map(s => s.toUpperCase()) },
        Error: { type: 'boolean' },
        StageLogs: { type: 'object', properties: { Transfer: stageLog, Install: stageLog, Run: stageLog } },
        Progress: { type: 'object', required: ['Bytes', 'Total'], properties: { Bytes: int, Total: int } }
      }
    },
    History: { type: 'object', description: 'Final state per task id (RUN-SUCCESS, INSTALL-FAILURE…)', additionalProperties: str }
  }
} as const

/**
 * Schemas referenced by `$ref` (`TaskSpec` by the task body, the others by
 * responses), added with `addSchema` and named after their `$id` in the
 * OpenAPI components.
 */
export const sharedSchemas = [taskSpecSchema, errorSchema, taskViewSchema, taskDetailSchema, targetRecordSchema] as const

function pageOf (items: object): object {
  return {
    type: 'object',
    required: ['items', 'total', 'page', 'perPage'],
    properties: { items: { type: 'array', items }, total: int, page: int, perPage: int }
  }
}

const pageQuery = {
  page: { type: 'integer', minimum: 1, default: 1 },
  perPage: { type: 'integer', minimum: 1, maximum: API_DEFAULTS.maxPerPage, default: API_DEFAULTS.perPage }
} as const

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: API_DEFAULTS.maxParamLength } } } as const
const targetParams = { type: 'object', required: ['id'], properties: { id: name } } as const

/** Request body of `POST /tasks`, per media type (multipart parts are checked by the handler). */
const taskBody = {
  content: {
    ...Object.fromEntries(DOCUMENT_TYPES.map(type => [type, { schema: ref('TaskSpec') }])),
    [MULTIPART_TYPE]: {
      schema: {
        type: 'object',
        required: ['task'],
        properties: {
          task: { type: 'string', description: 'The task description, YAML or JSON (a field or a file part)' },
          package: { type: 'string', format: 'binary', description: 'The package to deliver: .tar or .tar.gz' }
        }
      }
    }
  }
}

const documentBody = (schema: object): object => ({ content: Object.fromEntries(DOCUMENT_TYPES.map(type => [type, { schema }])) })

const targetCreate = {
  type: 'object',
  additionalProperties: false,
  description: 'A target to register; `ID`/`Tags` are accepted for clients of the CPSwarm tool.',
  anyOf: [{ required: ['id'] }, { required: ['ID'] }],
  properties: { id: name, ID: name, tags, Tags: tags }
} as const

/** Read-only fields of a target record, accepted (and ignored) in a `PUT` so a fetched record can be sent back. */
const ignoredRecordFields = Object.fromEntries(
  ['PeerID', 'Addresses', 'Platform', 'FreeDiskBytes', 'AgentVersion', 'LastSeen', 'Created', 'Task', 'History']
    .map(key => [key, { description: 'read-only, ignored' }])
)

const targetUpdate = {
  type: 'object',
  additionalProperties: false,
  description: 'New tags of the target (`tags` or `Tags`); the id comes from the URL, an `ID` in the body must match it; other fields of a target record are ignored.',
  anyOf: [{ required: ['tags'] }, { required: ['Tags'] }],
  properties: { tags, Tags: tags, ID: name, id: name, ...ignoredRecordFields }
} as const

/** Route schemas, by route. */
export const routeSchemas = {
  health: {
    summary: 'Liveness (no authentication)',
    tags: ['health'],
    security: [],
    response: { 200: { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['ok'] } } } }
  },
  createTask: {
    summary: 'Create a task: a YAML/JSON task description, or multipart with a `task` part and an optional `package` part',
    tags: ['tasks'],
    body: taskBody,
    response: { 201: ref('TaskView'), ...errors }
  },
  listTasks: {
    summary: 'List tasks, newest first',
    tags: ['tasks'],
    querystring: { type: 'object', properties: pageQuery },
    response: { 200: pageOf(ref('TaskView')), ...errors }
  },
  getTask: {
    summary: 'Read a task and its per-stage summary',
    tags: ['tasks'],
    params: idParams,
    response: { 200: ref('TaskDetail'), ...errors }
  },
  stopTask: {
    summary: 'Stop a task on every target it matches',
    tags: ['tasks'],
    params: idParams,
    response: { 202: ref('TaskView'), ...errors }
  },
  listTargets: {
    summary: 'List targets carrying every given tag (all when none), by id',
    tags: ['targets'],
    querystring: {
      type: 'object',
      properties: { ...pageQuery, tags: { type: 'array', items: { type: 'string', maxLength: 4096 }, description: 'Comma-separated and/or repeated tags' } }
    },
    response: { 200: pageOf(ref('TargetRecord')), ...errors }
  },
  createTarget: {
    summary: 'Register a target',
    tags: ['targets'],
    body: documentBody(targetCreate),
    response: { 201: ref('TargetRecord'), ...errors }
  },
  getTarget: {
    summary: 'Read a target',
    tags: ['targets'],
    params: targetParams,
    response: { 200: ref('TargetRecord'), ...errors }
  },
  updateTarget: {
    summary: 'Replace the tags of a target',
    tags: ['targets'],
    params: targetParams,
    body: documentBody(targetUpdate),
    response: { 200: ref('TargetRecord'), ...errors }
  },
  deleteTarget: {
    summary: 'Delete a target; one an agent reported as is revoked (a signed revocation of its peer, which every member then shuts out)',
    tags: ['targets'],
    params: targetParams,
    response: { 204: { type: 'null', description: 'Deleted' }, ...errors }
  },
  requestLogs: {
    summary: 'Ask a target for the logs of a stage; they arrive later in the target record',
    tags: ['targets'],
    params: {
      type: 'object',
      required: ['id', 'stage'],
      properties: { id: name, stage: { type: 'string', pattern: stagePattern, description: 'transfer, install or run, in any letter case' } }
    },
    response: { 202: { type: 'object', required: ['requested'], properties: { requested: { type: 'boolean', enum: [true] } } }, ...errors }
  },
  events: {
    summary: 'WebSocket of task and target changes',
    description: [
      'Upgrade to a WebSocket; every message is one JSON object `{topic: "task"|"target", payload}` (payload: a task or a target record).',
      '`task=<id>` keeps that task\'s events and the events of targets working on it; `target=<id>` keeps that target\'s events only.',
      'Authenticate with the `Authorization` header or, from a browser (which cannot set it), by offering the subprotocols',
      `\`${API_DEFAULTS.eventsProtocol}\` and \`${API_DEFAULTS.bearerProtocolPrefix}<token>\`; the server selects \`${API_DEFAULTS.eventsProtocol}\`.`,
      'A token is never accepted in the query string. A plain GET answers 426.'
    ].join(' '),
    tags: ['events'],
    querystring: {
      type: 'object',
      properties: { task: { type: 'string', minLength: 1 }, target: { type: 'string', minLength: 1 } }
    },
    response: { 101: { type: 'null', description: 'Switching Protocols' }, ...errors }
  },
  metrics: {
    summary: 'Prometheus metrics (text exposition format)',
    tags: ['metrics'],
    response: { 200: { content: { 'text/plain': { schema: { type: 'string' } } } }, ...errors }
  }
} as const
