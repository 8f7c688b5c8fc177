/**
 * Bearer-token authentication of every route but `/health`. The token comes
 * from `Authorization: Bearer <token>` or, on a WebSocket upgrade only (a
 * browser cannot set headers there), from an offered subprotocol
 * `bearer.<token>`. Never from the query string, and never logged.
 */
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import { ForbiddenError, UnauthorizedError } from '../core/index.ts'
import { API_DEFAULTS } from '../constants.ts'
import type { ManagerService, Scope } from './service.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route needs no token (`/health`). */
    public?: boolean
    /** Scope the route needs; by default `read` for GET/HEAD, `deploy` for everything else. */
    scope?: Scope
  }
}

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i

/** The scope a request needs. */
export function scopeOf (request: FastifyRequest): Scope {
  return request.routeOptions.config?.scope ?? (READ_METHODS.has(request.method) ? 'read' : 'deploy')
}

/** The token a request carries, if any; throws when the `Authorization` header is present but not a bearer token. */
export function tokenOf (request: FastifyRequest): string | undefined {
  const header = request.headers.authorization
  if (header !== undefined) {
    const match = BEARER.exec(header)
    if (match == null) throw new UnauthorizedError('the Authorization header must be "Bearer <token>"')
    return match[1]
  }
  if (request.headers.upgrade?.toLowerCase() !== 'websocket') return undefined
  return protocolsOf(request).find(p => p.startsWith(API_DEFAULTS.bearerProtocolPrefix))?.slice(API_DEFAULTS.bearerProtocolPrefix.length) || undefined
}

/** Subprotocols a WebSocket client offered. */
export function protocolsOf (request: { headers: FastifyRequest['headers'] }): string[] {
  const header = request.headers['sec-websocket-protocol']
  const value = Array.isArray(header) ? header.join(',') : header ?? ''
  return value.split(',').map(p => p.trim()).filter(p => p !== '')
}

/** An `onRequest` hook that authenticates the request and checks the route's scope. */
export function createAuthHook (service: ManagerService): onRequestAsyncHookHandler {
  return async function authenticate (request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    if (request.routeOptions.config?.public === true) return
    const token = tokenOf(request)
    if (token === undefined) throw new UnauthorizedError('a bearer token is required')
    const scope = await service.authenticate(token)
    if (scope === undefined) throw new UnauthorizedError('unknown token')
    if (scopeOf(request) === 'deploy' && scope !== 'deploy') {
      throw new ForbiddenError(`${request.method} ${request.routeOptions.url ?? request.url} needs a deploy token`)
    }
  }
}

/**
 * `handleProtocols` of the WebSocket server: select the events protocol when
 * offered, never echo the bearer token back.
 */
export function selectProtocol (offered: Set<string>): string | false {
  return offered.has(API_DEFAULTS.eventsProtocol) ? API_DEFAULTS.eventsProtocol : false
}
