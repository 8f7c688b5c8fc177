/**
 * `/events`: a WebSocket pushing every task and target change as one JSON
 * message `{topic, payload}`, optionally filtered to one task or one target.
 * A plain GET (no upgrade) answers 426.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { API_DEFAULTS } from '../../constants.ts'
import { routeSchemas } from '../schemas.ts'
import type { ManagerEvent, ManagerService } from '../service.ts'

/** Filters of `/events`. */
export interface EventQuery {
  /** Task events of this task, and target events whose current task is it. */
  readonly task?: string
  /** Target events of this target (and no task events). */
  readonly target?: string
}

/** The part of a `ws` WebSocket this route uses. */
export interface EventSocket {
  readonly readyState: number
  readonly bufferedAmount: number
  send: (data: string) => void
  close: (code?: number, reason?: string) => void
  on: (event: 'close' | 'message' | 'error', listener: () => void) => unknown
}

const OPEN = 1
/** WebSocket close code "Try Again Later", sent to a client too slow to keep up. */
const TOO_SLOW = 1013

/** Does an event pass the filters? Every given filter must hold. */
export function matchesEvent (event: ManagerEvent, query: EventQuery): boolean {
  if (query.target !== undefined && (event.topic !== 'target' || event.payload.ID !== query.target)) return false
  if (query.task !== undefined) {
    const taskId = event.topic === 'task' ? event.payload.id : event.payload.Task?.ID
    if (taskId !== query.task) return false
  }
  return true
}

/** Register `/events`. */
export function eventRoutes (app: FastifyInstance, service: ManagerService, maxBufferedBytes: number): void {
  app.route<{ Querystring: EventQuery }>({
    method: 'GET',
    url: '/events',
    schema: routeSchemas.events,
    handler: upgradeRequired,
    wsHandler: (socket: EventSocket, request) => { stream(socket, service, request.query, maxBufferedBytes) }
  })
}

function stream (socket: EventSocket, service: ManagerService, query: EventQuery, maxBufferedBytes: number): void {
  const unsubscribe = service.subscribe(event => {
    if (socket.readyState !== OPEN || !matchesEvent(event, query)) return
    if (socket.bufferedAmount > maxBufferedBytes) {
      socket.close(TOO_SLOW, 'too slow: events are being dropped')
      return
    }
    socket.send(JSON.stringify(event))
  })
  socket.on('close', unsubscribe)
  socket.on('message', () => { /* clients have nothing to say */ })
}

function upgradeRequired (_request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply.code(426).header('Upgrade', 'websocket').send({
    statusCode: 426,
    error: 'Upgrade Required',
    code: 'ERR_UPGRADE_REQUIRED',
    message: `/events is a WebSocket (subprotocol ${API_DEFAULTS.eventsProtocol})`
  })
}
