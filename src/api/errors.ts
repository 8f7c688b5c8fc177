/**
 * The one place where errors become HTTP responses. Named Pollen errors map
 * to their status; fastify's own client errors (bad JSON, body too large,
 * unsupported media type, schema violations) keep theirs; anything else is a
 * 500 whose message is logged and never sent.
 */
import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyReply, FastifyRequest, FastifySchemaValidationError } from 'fastify'
import { AssembleFailedError, fieldOf, InvalidTaskError, PollenError } from '../core/index.ts'

/** A request breaks the API's rules (schema, unparsable YAML body, contradicting fields). */
export class InvalidRequestError extends PollenError {
  override name = 'InvalidRequestError'
  override readonly code = 'ERR_INVALID_REQUEST'
  /** Path of the offending field (`tags[0]`, `perPage`), when known. */
  readonly field: string | undefined
  constructor (message: string, options?: ErrorOptions & { field?: string }) {
    super(message, options)
    this.field = options?.field
  }
}

/** Body of every error response. */
export interface ErrorBody {
  readonly statusCode: number
  /** HTTP reason phrase (`Bad Request`). */
  readonly error: string
  /** Stable machine-readable code (`ERR_INVALID_TASK`, `FST_ERR_CTP_BODY_TOO_LARGE`…). */
  readonly code: string
  readonly message: string
  /** Offending field of a 400, when known (`stages.install[0]`). */
  readonly field?: string
  /** Output of the assemble commands, on a 422. */
  readonly output?: string
}

const STATUS_BY_NAME: Readonly<Record<string, number>> = {
  InvalidTaskError: 400,
  UnsafePackageError: 400,
  InvalidOptionError: 400,
  InvalidManifestError: 400,
  InvalidRequestError: 400,
  AbortError: 400,
  UnauthorizedError: 401,
  ForbiddenError: 403,
  TaskNotFoundError: 404,
  TargetNotFoundError: 404,
  TargetExistsError: 409,
  MessageTooLargeError: 413,
  AssembleFailedError: 422
}

/** Fastify or plugin errors whose own status is wrong for this API. */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  FST_INVALID_JSON_FIELD_ERROR: 400,
  FST_PROTO_VIOLATION: 400
}

/**
 * Map any thrown value to an HTTP status and response body. Never exposes
 * the message of an unexpected error.
 */
export function toHttpError (err: unknown): ErrorBody {
  const e = (err ?? {}) as Partial<FastifyError> & { field?: unknown }
  const byName = err instanceof PollenError ? STATUS_BY_NAME[err.name] : undefined
  if (byName !== undefined) return pollenBody(err as PollenError, byName)
  if (typeof e.code === 'string' && e.code.startsWith('FST_') && isClientStatus(STATUS_BY_CODE[e.code] ?? e.statusCode)) {
    const field = typeof e.field === 'string' ? e.field : undefined
    return body(STATUS_BY_CODE[e.code] ?? e.statusCode!, e.code, e.message ?? '', field)
  }
  return body(500, 'ERR_INTERNAL', 'internal error; see the manager log')
}

function pollenBody (err: PollenError, statusCode: number): ErrorBody {
  const field = (err as { field?: unknown }).field
  const base = body(statusCode, err.code, err.message, typeof field === 'string' ? field : undefined)
  return err instanceof AssembleFailedError ? { ...base, output: err.output } : base
}

function body (statusCode: number, code: string, message: string, field?: string): ErrorBody {
  const error = STATUS_CODES[statusCode] ?? 'Error'
  return field === undefined ? { statusCode, error, code, message } : { statusCode, error, code, message, field }
}

function isClientStatus (status: number | undefined): status is number {
  return status !== undefined && status >= 400 && status < 500
}

/** Fastify error handler: maps with {@link toHttpError}, logs server errors, adds `WWW-Authenticate` to a 401. */
export function errorHandler (err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const mapped = toHttpError(err)
  if (mapped.statusCode >= 500) request.log.error({ err }, 'request failed')
  else request.log.info({ code: mapped.code, statusCode: mapped.statusCode }, mapped.message)
  if (mapped.statusCode === 401) reply.header('WWW-Authenticate', 'Bearer realm="pollen"')
  return reply.code(mapped.statusCode).type('application/json; charset=utf-8').send(mapped)
}

/** Fastify not-found handler, in the same shape as every other error. */
export function notFoundHandler (request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply.code(404).send(body(404, 'ERR_ROUTE_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0] ?? ''}`))
}

/** The offending field and a message naming it, from one ajv error. */
export function describeSchemaError (error: FastifySchemaValidationError | undefined): { field: string | undefined, message: string } {
  if (error === undefined) return { field: undefined, message: 'is invalid' }
  let field = fieldOf(error.instancePath)
  let message = error.message ?? 'is invalid'
  const params = error.params as Record<string, unknown>
  if (error.keyword === 'additionalProperties') {
    field = join(field, String(params.additionalProperty))
    message = 'is not a known field'
  } else if (error.keyword === 'required') {
    field = join(field, String(params.missingProperty))
    message = 'is required'
  } else if (error.keyword === 'enum') {
    message = `must be one of ${(params.allowedValues as unknown[]).join(', ')}`
  }
  return { field: field === '' ? undefined : field, message }
}

function join (parent: string, child: string): string {
  return parent === '' ? child : `${parent}.${child}`
}

/** Schema error formatter of every route: an {@link InvalidRequestError} naming the part and field. */
export function formatSchemaErrors (errors: FastifySchemaValidationError[], dataVar: string): Error {
  const { field, message } = describeSchemaError(errors[0])
  return new InvalidRequestError(`${dataVar}${field === undefined ? '' : `.${field}`}: ${message}`, field === undefined ? {} : { field })
}

/** Schema error formatter of task bodies: the same {@link InvalidTaskError} the YAML and multipart paths give. */
export function formatTaskErrors (errors: FastifySchemaValidationError[], dataVar: string): Error {
  if (dataVar !== 'body') return formatSchemaErrors(errors, dataVar)
  const { field, message } = describeSchemaError(errors[0])
  return new InvalidTaskError(`${field ?? 'task'}: ${message}`, field === undefined ? {} : { field })
}
