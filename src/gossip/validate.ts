/**
 * Compiled schema validators and the checks a schema cannot express
 * (time order, relative paths, non-empty selectors, manifest CIDs).
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import { InvalidMessageError } from '../core/errors.ts'
import { parseManifestCid } from '../core/manifest.ts'
import type { StatusBody } from '../core/status.ts'
import { fieldOf, relativePathProblem } from '../core/task-schema.ts'
import type { ManagerBody, Signed, TargetSelector } from '../core/task.ts'
import { managerBodySchemas, signedEnvelopeSchema, statusBodySchemas } from './schema.ts'

type Validators<K extends string> = Record<K, ValidateFunction>

let compiled: { envelope: ValidateFunction, manager: Validators<ManagerBody['kind']>, status: Validators<StatusBody['kind']> } | undefined

function validators (): NonNullable<typeof compiled> {
  if (compiled !== undefined) return compiled
  const ajv = new Ajv({ allErrors: false, strict: true })
  const compileAll = <K extends string>(schemas: Record<K, object>): Validators<K> =>
    Object.fromEntries(Object.entries(schemas).map(([kind, schema]) => [kind, ajv.compile(schema as object)])) as Validators<K>
  compiled = { envelope: ajv.compile(signedEnvelopeSchema), manager: compileAll(managerBodySchemas), status: compileAll(statusBodySchemas) }
  return compiled
}

/**
 * Check a parsed value is a signed manager message (shape only; the
 * signature is checked by `checkManagerMessage`).
 * @throws {InvalidMessageError} naming the first offending field.
 */
export function validateSigned (value: unknown): Signed {
  const { envelope, manager } = validators()
  check(envelope, value, '')
  const body = (value as { body: { kind?: unknown } }).body
  const validate = lookup(manager, body.kind)
  if (validate === undefined) throw new InvalidMessageError(`body.kind: unknown manager message kind ${JSON.stringify(body.kind)}`)
  check(validate, body, 'body')
  checkManagerBody(body as ManagerBody)
  return value as Signed
}

/**
 * Check a parsed value is a status message.
 * @throws {InvalidMessageError} naming the first offending field.
 */
export function validateStatus (value: unknown): StatusBody {
  const kind = typeof value === 'object' && value !== null ? (value as { kind?: unknown }).kind : undefined
  const validate = lookup(validators().status, kind)
  if (validate === undefined) throw new InvalidMessageError(`kind: unknown status message kind ${JSON.stringify(kind)}`)
  check(validate, value, '')
  const body = value as StatusBody
  if (body.kind === 'ack' && body.progress !== undefined && body.progress.bytes > body.progress.total) {
    throw new InvalidMessageError('progress.bytes: exceeds progress.total')
  }
  return body
}

function lookup (table: Record<string, ValidateFunction>, kind: unknown): ValidateFunction | undefined {
  return typeof kind === 'string' && Object.hasOwn(table, kind) ? table[kind] : undefined
}

function check (validate: ValidateFunction, value: unknown, root: string): void {
  if (!validate(value)) throw messageError(validate.errors?.[0], root)
}

function checkManagerBody (body: ManagerBody): void {
  if (body.expiresAt <= body.createdAt) throw new InvalidMessageError('body.expiresAt: must be after body.createdAt')
  if (body.kind === 'log-request' || body.kind === 'revoke') return
  checkSelector(body.target)
  if (body.kind !== 'task') return
  body.stages.transfer.forEach(checkTransferPath)
  if (body.workdir != null && !isRelativeInside(body.workdir)) throw new InvalidMessageError(`body.workdir: ${JSON.stringify(body.workdir.slice(0, 100))} is not a relative path inside the release`)
  if (body.package !== null) {
    try {
      parseManifestCid(body.package.cid)
    } catch (err) {
      throw new InvalidMessageError(`body.package.cid: ${(err as Error).message}`, { cause: err })
    }
  }
}

function checkSelector (target: TargetSelector): void {
  if ((target.ids?.length ?? 0) === 0 && (target.tags?.length ?? 0) === 0) {
    throw new InvalidMessageError('body.target: names no id and no tag')
  }
}

function isRelativeInside (path: string): boolean {
  return relativePathProblem(path) === undefined
}

/** Transfer paths stay inside the package: relative, no `..`, no backslash or NUL. */
function checkTransferPath (path: string, index: number): void {
  if (!isRelativeInside(path)) {
    throw new InvalidMessageError(`body.stages.transfer[${index}]: ${JSON.stringify(path.slice(0, 100))} is not a relative path inside the package`)
  }
}

function messageError (error: ErrorObject | undefined, root: string): InvalidMessageError {
  if (error == null) return new InvalidMessageError(`${root} is invalid`)
  const path = joinPath(root, fieldOf(error.instancePath))
  if (error.keyword === 'additionalProperties') return new InvalidMessageError(`${joinPath(path, String(error.params.additionalProperty))}: is not a known field`)
  if (error.keyword === 'required') return new InvalidMessageError(`${joinPath(path, String(error.params.missingProperty))}: is required`)
  return new InvalidMessageError(`${path === '' ? 'message' : path}: ${error.message ?? 'is invalid'}`)
}

/** `body` + `stages.install[0]` → `body.stages.install[0]`; `` + `logs[3]` → `logs[3]`. */
function joinPath (root: string, field: string): string {
  if (root === '' || field === '') return root + field
  return field.startsWith('[') ? root + field : `${root}.${field}`
}
