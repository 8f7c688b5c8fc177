import test from 'ava'
import { errorCodes } from 'fastify'
import { InvalidRequestError, toHttpError } from '../../src/api/index.ts'
import {
  AbortError, AssembleFailedError, ChunkNotFoundError, ForbiddenError, InvalidManifestError, InvalidOptionError, InvalidTaskError,
  MessageTooLargeError, TargetExistsError, TargetNotFoundError, TaskNotFoundError, UnauthorizedError, UnsafePackageError
} from '../../src/core/index.ts'

test('named errors map to their status, code and message', t => {
  const cases: Array<[Error, number, string]> = [
    [new InvalidTaskError('stages.run[0]: bad', { field: 'stages.run[0]' }), 400, 'ERR_INVALID_TASK'],
    [new UnsafePackageError('x'), 400, 'ERR_UNSAFE_PACKAGE'],
    [new InvalidOptionError('x'), 400, 'ERR_INVALID_OPTION'],
    [new InvalidManifestError('x'), 400, 'ERR_INVALID_MANIFEST'],
    [new InvalidRequestError('x', { field: 'tags' }), 400, 'ERR_INVALID_REQUEST'],
    [new AbortError('x'), 400, 'ERR_ABORTED'],
    [new UnauthorizedError('x'), 401, 'ERR_UNAUTHORIZED'],
    [new ForbiddenError('x'), 403, 'ERR_FORBIDDEN'],
    [new TaskNotFoundError('x'), 404, 'ERR_TASK_NOT_FOUND'],
    [new TargetNotFoundError('x'), 404, 'ERR_TARGET_NOT_FOUND'],
    [new TargetExistsError('x'), 409, 'ERR_TARGET_EXISTS'],
    [new MessageTooLargeError('x'), 413, 'ERR_MESSAGE_TOO_LARGE'],
    [new AssembleFailedError('x', 'out'), 422, 'ERR_ASSEMBLE_FAILED']
  ]
  for (const [error, statusCode, code] of cases) {
    t.like(toHttpError(error), { statusCode, code, message: error.message }, error.name)
  }
  t.like(toHttpError(cases[0]![0]), { field: 'stages.run[0]', error: 'Bad Request' })
  t.like(toHttpError(new AssembleFailedError('x', 'gcc: error')), { output: 'gcc: error', error: 'Unprocessable Entity' })
  t.false('field' in toHttpError(new TaskNotFoundError('x')))
})

test('fastify client errors keep their status', t => {
  t.like(toHttpError(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE()), { statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' })
  t.like(toHttpError(new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE()), { statusCode: 415, code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE' })
  t.like(toHttpError(new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY()), { statusCode: 400 })
  const jsonField = Object.assign(new Error('bad json field'), { code: 'FST_INVALID_JSON_FIELD_ERROR', statusCode: 406 })
  t.like(toHttpError(jsonField), { statusCode: 400 })
  const fileLimit = Object.assign(new Error('request file too large'), { code: 'FST_REQ_FILE_TOO_LARGE', statusCode: 413 })
  t.like(toHttpError(fileLimit), { statusCode: 413 })
})

test('anything else is a 500 that says nothing about the cause', t => {
  const unexpected = [
    new Error('password=hunter2'),
    new ChunkNotFoundError('chunk bafy… missing'),
    Object.assign(new Error('db down'), { statusCode: 503, code: 'EDB' }),
    Object.assign(new Error('internal fastify failure'), { statusCode: 500, code: 'FST_ERR_SOMETHING' }),
    'a string',
    undefined,
    null
  ]
  for (const error of unexpected) {
    const mapped = toHttpError(error)
    t.is(mapped.statusCode, 500)
    t.is(mapped.code, 'ERR_INTERNAL')
    t.is(mapped.message, 'internal error; see the manager log')
  }
})
