/**
 * `/targets`: the registry of devices (list by tags, create, read, update
 * tags, delete) and log requests. Bodies use `id`/`tags`, or `ID`/`Tags` as
 * the CPSwarm tool's clients send them.
 */
import type { FastifyInstance } from 'fastify'
import type { Stage } from '../../core/index.ts'
import { InvalidRequestError } from '../errors.ts'
import { DOCUMENT_TYPES, routeSchemas } from '../schemas.ts'
import type { ManagerService, PageRequest } from '../service.ts'

interface IdParams { id: string }
interface TargetBody { id?: string, ID?: string, tags?: string[], Tags?: string[] }
interface ListQuery extends PageRequest { tags?: string[] }

const bodyConfig = { mediaTypes: DOCUMENT_TYPES }

/** Register the target routes. */
export function targetRoutes (app: FastifyInstance, service: ManagerService): void {
  app.get<{ Querystring: ListQuery }>('/targets', { schema: routeSchemas.listTargets }, async (request) => {
    const { page, perPage } = request.query
    const tags = splitTags(request.query.tags)
    return await service.listTargets(tags.length === 0 ? { page, perPage } : { page, perPage, tags })
  })

  app.post<{ Body: TargetBody }>('/targets', { schema: routeSchemas.createTarget, config: bodyConfig }, async (request, reply) => {
    const body = request.body
    const id = pick(body, 'id', 'ID')!
    const target = await service.createTarget({ id, tags: pick(body, 'tags', 'Tags') ?? [] })
    return reply.code(201).header('Location', `/targets/${encodeURIComponent(target.ID)}`).send(target)
  })

  app.get<{ Params: IdParams }>('/targets/:id', { schema: routeSchemas.getTarget }, async (request) => {
    return await service.getTarget(request.params.id)
  })

  app.put<{ Params: IdParams, Body: TargetBody }>('/targets/:id', { schema: routeSchemas.updateTarget, config: bodyConfig }, async (request) => {
    const { id } = request.params
    const bodyId = pick(request.body, 'id', 'ID')
    if (bodyId !== undefined && bodyId !== id) throw new InvalidRequestError(`body names target ${JSON.stringify(bodyId)}, the URL ${JSON.stringify(id)}`, { field: 'ID' })
    return await service.updateTarget({ id, tags: pick(request.body, 'tags', 'Tags')! })
  })

  app.delete<{ Params: IdParams }>('/targets/:id', { schema: routeSchemas.deleteTarget }, async (request, reply) => {
    await service.deleteTarget(request.params.id)
    return reply.code(204).send()
  })

  app.put<{ Params: IdParams & { stage: string } }>('/targets/:id/logs/:stage', { schema: routeSchemas.requestLogs }, async (request, reply) => {
    await service.requestLogs(request.params.id, request.params.stage.toLowerCase() as Stage)
    return reply.code(202).send({ requested: true })
  })
}

/** `?tags=a,b&tags=c` → `['a', 'b', 'c']`. */
function splitTags (values: readonly string[] | undefined): string[] {
  return (values ?? []).flatMap(value => value.split(',')).map(tag => tag.trim()).filter(tag => tag !== '')
}

/** The value of a field given in lower or upper case; both must agree when both are given. */
function pick<K extends 'id' | 'tags'> (body: TargetBody, lower: K, upper: 'ID' | 'Tags'): TargetBody[K] {
  const [a, b] = [body[lower], body[upper]]
  if (a !== undefined && b !== undefined && JSON.stringify(a) !== JSON.stringify(b)) {
    throw new InvalidRequestError(`${lower} and ${upper} disagree: send one of them`, { field: lower })
  }
  return (a ?? b) as TargetBody[K]
}
