/**
 * The manager's REST API (fastify): tasks, targets, `/events` WebSocket,
 * `/metrics`, OpenAPI docs at `/docs`. It knows the manager only through
 * {@link ManagerService}.
 */
export { createApi } from './app.ts'
export type { ApiLogger, ApiLoggerOptions, ApiOptions } from './app.ts'
export { InvalidRequestError, toHttpError } from './errors.ts'
export type { ErrorBody } from './errors.ts'
export { matchesEvent } from './routes/events.ts'
export type { EventQuery } from './routes/events.ts'
export type * from './service.ts'
