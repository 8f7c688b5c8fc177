/**
 * The REST API: a fastify instance with authentication, body parsers,
 * validation, error mapping, OpenAPI docs, and the task, target, event and
 * metrics routes, all talking to a {@link ManagerService}.
 */
import { tmpdir } from 'node:os'
import multipart from '@fastify/multipart'
import websocket from '@fastify/websocket'
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import { API_DEFAULTS } from '../constants.ts'
import { withDefaults } from '../core/index.ts'
import { createAuthHook, selectProtocol } from './auth.ts'
import { addBodyParsers, checkMediaType } from './body.ts'
import { registerOpenApi, registerSwaggerUi } from './docs.ts'
import { errorHandler, formatSchemaErrors, notFoundHandler } from './errors.ts'
import { eventRoutes } from './routes/events.ts'
import { createMetrics, metricsRoutes } from './routes/metrics.ts'
import { targetRoutes } from './routes/targets.ts'
import { taskRoutes } from './routes/tasks.ts'
import { routeSchemas, sharedSchemas } from './schemas.ts'
import type { ManagerService } from './service.ts'
import { checkUploadDir } from './upload.ts'
import { createValidatorCompiler } from './validation.ts'

/** Pino options, as fastify takes them. */
export type ApiLoggerOptions = Exclude<NonNullable<FastifyServerOptions['logger']>, boolean>

/** Logger of the API: `false` (none), `true` (pino at `info`) or pino options. */
export type ApiLogger = boolean | ApiLoggerOptions

/** Options of {@link createApi}. */
export interface ApiOptions {
  /** The manager. */
  readonly service: ManagerService
  /** Request logging; tokens are never logged. @default false */
  readonly logger?: ApiLogger
  /** Largest JSON/YAML body and multipart `task` part. @default API_DEFAULTS.bodyLimit (1 MiB) */
  readonly bodyLimit?: number
  /** Largest multipart `package` part. @default API_DEFAULTS.packageLimit (4 GiB) */
  readonly packageLimit?: number
  /** Directory uploaded packages are streamed to (a private temporary directory each, removed afterwards). @default os.tmpdir() */
  readonly uploadDir?: string
  /** Add prom-client's default process metrics to `/metrics`. @default API_DEFAULTS.processMetrics (true) */
  readonly processMetrics?: boolean
  /**
   * Require bearer tokens. `false` serves every route to anyone (the
   * manager's `--insecure`): only on a closed, trusted network. @default true
   */
  readonly auth?: boolean
}

/** Parts of a multipart upload: one `task`, one `package`, and room to refuse a stray part by name. */
const MULTIPART_PARTS = 8

/**
 * Build the API: plugins and routes registered, ready to `listen()` (or
 * `inject()` in tests). The caller listens and closes it.
 *
 * Every request is bounded: JSON and YAML bodies of any route by `bodyLimit`
 * (413), a multipart upload by `bodyLimit` for its `task` part,
 * `packageLimit` for its `package` part and {@link MULTIPART_PARTS} parts
 * (413), YAML documents by `YAML_LIMITS` (tokens, nesting, aliases: 400),
 * path parameters by `maxParamLength` (414), `/events` messages by
 * `eventsMaxPayloadBytes`. The OpenAPI document states the same limits.
 * @throws {InvalidOptionError} `uploadDir` is not an existing directory.
 */
export async function createApi (options: ApiOptions): Promise<FastifyInstance> {
  const config = withDefaults({ ...API_DEFAULTS, uploadDir: tmpdir(), logger: false as ApiLogger }, options)
  await checkUploadDir(config.uploadDir)
  const app = Fastify({
    logger: loggerOptions(config.logger),
    bodyLimit: config.bodyLimit,
    // fastify's 10 s default aborts start-up on a busy host (swagger-ui reads its static files).
    pluginTimeout: 60_000,
    routerOptions: { maxParamLength: config.maxParamLength },
    schemaErrorFormatter: formatSchemaErrors
  })
  app.setValidatorCompiler(createValidatorCompiler())
  for (const schema of sharedSchemas) app.addSchema(schema)
  app.setErrorHandler(errorHandler)
  app.setNotFoundHandler(notFoundHandler)
  addBodyParsers(app)
  await registerOpenApi(app, { ...config, multipartParts: MULTIPART_PARTS })
  await app.register(websocket, {
    options: { maxPayload: config.eventsMaxPayloadBytes, handleProtocols: selectProtocol }
  })
  await app.register(multipart, {
    limits: { fileSize: Math.max(config.packageLimit, config.bodyLimit) + 1, fieldSize: config.bodyLimit, parts: MULTIPART_PARTS }
  })
  // After the websocket plugin's own onRequest hook, which marks upgrade
  // requests so that a refused upgrade's socket is destroyed, not leaked.
  if (config.auth !== false) app.addHook('onRequest', createAuthHook(config.service))
  app.addHook('preParsing', checkMediaType)

  app.get('/health', { schema: routeSchemas.health, config: { public: true } }, async () => ({ status: 'ok' }))
  taskRoutes(app, config.service, { taskLimit: config.bodyLimit, packageLimit: config.packageLimit, uploadDir: config.uploadDir })
  targetRoutes(app, config.service)
  eventRoutes(app, config.service, config.eventsMaxBufferedBytes)
  metricsRoutes(app, config.service, createMetrics(config.processMetrics))
  await registerSwaggerUi(app, config.docsPrefix)
  return app
}

/** Wherever request headers may be logged (plugins log `{ busboyOptions: { headers } }` at trace). */
const REDACTED = ['authorization', 'sec-websocket-protocol']
  .flatMap(header => [`headers["${header}"]`, `*.headers["${header}"]`, `*.*.headers["${header}"]`])

/** Pino options that never log a token: request headers are left out and redacted. */
function loggerOptions (logger: ApiLogger): false | ApiLoggerOptions {
  if (logger === false) return false
  const base = logger === true ? {} : logger
  return {
    ...base,
    redact: { paths: REDACTED, censor: '[redacted]' },
    serializers: { ...base.serializers, req: serializeRequest }
  }
}

function serializeRequest (request: FastifyRequest): Record<string, unknown> {
  return { method: request.method, url: request.url, remoteAddress: request.ip }
}
