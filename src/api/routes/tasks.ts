/**
 * `/tasks`: create (YAML/JSON body, or multipart with a package), list, read, stop.
 */
import { rm } from 'node:fs/promises'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AbortError, validateTaskSpec } from '../../core/index.ts'
import { mediaTypeOf } from '../body.ts'
import { formatTaskErrors } from '../errors.ts'
import { DOCUMENT_TYPES, MULTIPART_TYPE, routeSchemas } from '../schemas.ts'
import type { ManagerService, PageRequest, TaskView } from '../service.ts'
import { readUpload, type Upload, type UploadOptions } from '../upload.ts'

interface IdParams { id: string }

/** Register the task routes. */
export function taskRoutes (app: FastifyInstance, service: ManagerService, upload: UploadOptions): void {
  app.post('/tasks', {
    schema: routeSchemas.createTask,
    schemaErrorFormatter: formatTaskErrors,
    config: { mediaTypes: [...DOCUMENT_TYPES, MULTIPART_TYPE] }
  }, async (request, reply) => {
    const task = await createTask(service, request, reply, upload)
    return reply.code(201).header('Location', `/tasks/${encodeURIComponent(task.id)}`).send(task)
  })

  app.get<{ Querystring: PageRequest }>('/tasks', { schema: routeSchemas.listTasks }, async (request) => {
    return await service.listTasks({ page: request.query.page, perPage: request.query.perPage })
  })

  app.get<{ Params: IdParams }>('/tasks/:id', { schema: routeSchemas.getTask }, async (request) => {
    return await service.getTask(request.params.id)
  })

  app.post<{ Params: IdParams }>('/tasks/:id/stop', { schema: routeSchemas.stopTask }, async (request, reply) => {
    return reply.code(202).send(await service.stopTask(request.params.id))
  })
}

/** Create the task of a request, removing any uploaded package afterwards, whatever happened. */
async function createTask (service: ManagerService, request: FastifyRequest, reply: FastifyReply, options: UploadOptions): Promise<TaskView> {
  const signal = abortOnClose(reply)
  if (mediaTypeOf(request) !== MULTIPART_TYPE) {
    return await service.createTask({ spec: validateTaskSpec(request.body), signal })
  }
  const upload: Upload = {}
  try {
    const receive = service.receivePackage?.bind(service)
    const { spec, packagePath, received } = await readUpload(request, { ...options, ...(receive === undefined ? {} : { receive }), signal }, upload)
    return await service.createTask(received !== undefined ? { spec, received, signal } : packagePath === undefined ? { spec, signal } : { spec, packagePath, signal })
  } finally {
    await upload.received?.dispose()
      .catch((err: unknown) => { request.log.warn({ err }, 'could not remove an unpacked package') })
    if (upload.tempDir !== undefined) {
      await rm(upload.tempDir, { recursive: true, force: true })
        .catch((err: unknown) => { request.log.warn({ err, dir: upload.tempDir }, 'could not remove an uploaded package') })
    }
  }
}

/** A signal aborted when the client goes away before the response is sent. */
function abortOnClose (reply: FastifyReply): AbortSignal {
  const controller = new AbortController()
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new AbortError('the client closed the connection'))
  })
  return controller.signal
}
