/**
 * Request bodies: JSON (fastify's own parser), YAML (`application/yaml`,
 * `application/x-yaml`, `text/yaml`, and `text/plain` read as YAML), and a
 * per-route list of accepted media types answered with 415 otherwise.
 */
import { errorCodes, type FastifyInstance, type FastifyRequest } from 'fastify'
import { parseSafeYaml } from '../core/index.ts'
import { InvalidRequestError } from './errors.ts'
import { DOCUMENT_TYPES, MULTIPART_TYPE } from './schemas.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Media types the route accepts; any other (or none) is answered with 415. */
    mediaTypes?: readonly string[]
  }
}

/**
 * Parse a YAML (or JSON) body with the rules of task descriptions
 * (`parseSafeYaml`: core schema, no custom tags, aliases and nesting bounded).
 * @throws {InvalidRequestError} the text does not parse.
 */
export function parseYamlBody (text: string): unknown {
  const parsed = parseSafeYaml(text)
  if ('problem' in parsed) throw new InvalidRequestError(`body does not parse as YAML or JSON: ${parsed.problem}`)
  return parsed.value
}

/** Register the YAML parsers (replacing fastify's `text/plain` one). */
export function addBodyParsers (app: FastifyInstance): void {
  app.removeContentTypeParser('text/plain')
  const yamlTypes = DOCUMENT_TYPES.filter(type => type !== 'application/json')
  app.addContentTypeParser([...yamlTypes], { parseAs: 'string' }, (_request, text, done) => {
    try {
      done(null, parseYamlBody(text as string))
    } catch (err) {
      done(err as Error, undefined)
    }
  })
}

/** `application/json; charset=utf-8` → `application/json`; `''` without a header. */
export function mediaTypeOf (request: FastifyRequest): string {
  return (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
}

/** A `preParsing` check of the route's `mediaTypes`, before any of the body is read. */
export async function checkMediaType (request: FastifyRequest): Promise<void> {
  const accepted = request.routeOptions.config?.mediaTypes
  if (accepted === undefined) return
  const type = mediaTypeOf(request)
  if (!accepted.includes(type)) {
    const error = new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE()
    error.message = `Unsupported Media Type ${JSON.stringify(type.slice(0, 100))}: send one of ${accepted.join(', ')}`
    throw error
  }
  if (type === MULTIPART_TYPE) checkBoundary(request.headers['content-type']!)
}

/** `boundary=…` of a media type, quoted or not. */
const BOUNDARY = /;\s*boundary\s*=\s*(?:"([^"]*)"|([^;\s]*))/i

/**
 * A multipart body needs a boundary of 1 to 70 characters (RFC 2046); the
 * parser would otherwise fail on it with an error of its own.
 * @throws {InvalidRequestError} the boundary is missing, empty or too long.
 */
function checkBoundary (contentType: string): void {
  const match = BOUNDARY.exec(contentType)
  const boundary = match?.[1] ?? match?.[2] ?? ''
  if (boundary.length === 0 || boundary.length > 70) {
    throw new InvalidRequestError(`${MULTIPART_TYPE} needs a boundary parameter of 1 to 70 characters`, { field: 'content-type' })
  }
}
