/**
 * The JSON schema of a task description, and the one validator every entry
 * point (REST body, multipart part, CLI) uses, so they all give the same
 * messages naming the offending field.
 */
import { Ajv, type ErrorObject } from 'ajv'
import { parseDocument } from 'yaml'
import { InvalidTaskError } from './errors.ts'
import { RESTART_POLICIES, type TaskSpec } from './task.ts'

/** Limits of a task description (DoS guard at the boundary). */
export const TASK_LIMITS = {
  /** Commands per stage. @default 64 */
  maxCommands: 64,
  /** Length of one command, path, id or tag. @default 4096 */
  maxStringLength: 4096,
  /** Ids or tags in a selector. @default 2_000 */
  maxSelectorEntries: 2_000,
  /** Length of the description. @default 4096 */
  maxDescriptionLength: 4096
} as const

const command = { type: 'string', minLength: 1, maxLength: TASK_LIMITS.maxStringLength }
const commands = { type: 'array', maxItems: TASK_LIMITS.maxCommands, items: command }
const names = { type: 'array', maxItems: TASK_LIMITS.maxSelectorEntries, items: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[^\\s,]+$' } }

/** JSON schema of {@link TaskSpec}. */
export const taskSpecSchema = {
  $id: 'TaskSpec',
  type: 'object',
  additionalProperties: false,
  required: ['stages', 'target'],
  properties: {
    description: { type: 'string', maxLength: TASK_LIMITS.maxDescriptionLength },
    debug: { type: 'boolean' },
    stages: {
      type: 'object',
      additionalProperties: false,
      properties: {
        assemble: commands,
        transfer: {
          type: 'array',
          maxItems: TASK_LIMITS.maxCommands,
          items: { type: 'string', minLength: 1, maxLength: TASK_LIMITS.maxStringLength }
        },
        install: commands,
        run: commands
      }
    },
    target: {
      type: 'object',
      additionalProperties: false,
      properties: { ids: names, tags: names }
    },
    run: {
      type: 'object',
      additionalProperties: false,
      properties: { restart: { type: 'string', enum: [...RESTART_POLICIES] } }
    }
  }
} as const

let validator: ReturnType<Ajv['compile']> | undefined

/**
 * Check a parsed task description.
 * @throws {InvalidTaskError} naming the first offending field.
 */
export function validateTaskSpec (value: unknown): TaskSpec {
  validator ??= new Ajv({ allErrors: false, strict: true }).compile(taskSpecSchema)
  if (!validator(value)) throw taskError(validator.errors?.[0])
  const spec = value as TaskSpec
  checkSelector(spec)
  for (const path of spec.stages.transfer ?? []) checkTransferPath(path, spec.stages.transfer!.indexOf(path))
  return spec
}

function checkSelector (spec: TaskSpec): void {
  if ((spec.target.ids?.length ?? 0) === 0 && (spec.target.tags?.length ?? 0) === 0) {
    throw new InvalidTaskError('target: name at least one id or tag', { field: 'target' })
  }
}

/** Transfer paths are relative paths inside the package: no absolute path, no `..`. */
function checkTransferPath (path: string, index: number): void {
  const field = `stages.transfer[${index}]`
  if (path.startsWith('/') || path.includes('\\') || path.includes('\0')) {
    throw new InvalidTaskError(`${field}: ${JSON.stringify(path)} must be a relative path inside the package`, { field })
  }
  if (path.split('/').includes('..')) throw new InvalidTaskError(`${field}: ${JSON.stringify(path)} must not contain ".."`, { field })
}

/** `/stages/install/0` → `stages.install[0]`. */
export function fieldOf (instancePath: string): string {
  return instancePath.split('/').filter(Boolean)
    .map((part, i) => /^\d+$/.test(part) ? `[${part}]` : (i === 0 ? part : `.${part}`))
    .join('')
}

function taskError (error: ErrorObject | undefined): InvalidTaskError {
  if (error == null) return new InvalidTaskError('task description is invalid')
  let field = fieldOf(error.instancePath)
  let message = error.message ?? 'is invalid'
  if (error.keyword === 'additionalProperties') {
    const extra = String(error.params.additionalProperty)
    field = field === '' ? extra : `${field}.${extra}`
    message = 'is not a known field'
  } else if (error.keyword === 'required') {
    const missing = String(error.params.missingProperty)
    field = field === '' ? missing : `${field}.${missing}`
    message = 'is required'
  } else if (error.keyword === 'enum') {
    message = `must be one of ${(error.params.allowedValues as string[]).join(', ')}`
  }
  return new InvalidTaskError(`${field === '' ? 'task' : field}: ${message}`, { field: field === '' ? undefined : field })
}

/**
 * Parse a task description written in YAML or JSON (JSON is YAML) and
 * validate it. YAML is parsed with the core schema only: no custom tags, no
 * merge keys, and aliases bounded (no "billion laughs").
 * @throws {InvalidTaskError} the text does not parse, or the task is invalid.
 */
export function parseTaskDocument (text: string): TaskSpec {
  let value: unknown
  try {
    const doc = parseDocument(text, { schema: 'core', customTags: [], merge: false, uniqueKeys: true, prettyErrors: true })
    // An unknown tag (`!foo`) is only a warning to the yaml library; Pollen refuses it.
    const problem = doc.errors[0] ?? doc.warnings[0]
    if (problem != null) throw problem
    value = doc.toJS({ maxAliasCount: 100 })
  } catch (err) {
    throw new InvalidTaskError(`task description does not parse as YAML or JSON: ${(err as Error).message.split('\n')[0]}`, { cause: err })
  }
  if (value === null || value === undefined) throw new InvalidTaskError('task description is empty')
  return validateTaskSpec(value)
}
