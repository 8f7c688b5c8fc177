/**
 * Request bodies: JSON (fastify's own parser), YAML (`application/yaml`,
 * `application/x-yaml`, `text/yaml`, and `text/plain` read as YAML), and a
 * per-route list of accepted media types answered with 415 otherwise.
 */
import { errorCodes, type FastifyInstance, type FastifyRequest } from 'fastify'
import { parseDocument } from 'yaml'
import { InvalidRequestError } from './errors.ts'
import { DOCUMENT_TYPES } from './schemas.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Media types the route accepts; any other (or none) is answered with 415. */
    mediaTypes?: readonly string[]
  }
}

/**
 * Parse YAML safely: core schema only, no custom tags, no merge keys,
 * aliases bounded, duplicate keys refused (the options of `parseTaskDocument`);
 * a warning (an unknown tag such as `!!js/function`) is an error too.
 * @throws {InvalidRequestError} the text does not parse.
 */
export function parseYamlBody (text: string): unknown {
  const doc = parseDocument(text, { schema: 'core', customTags: [], merge: false, uniqueKeys: true })
  const problem = doc.errors[0] ?? doc.warnings[0]
  if (problem !== undefined) {
    throw new InvalidRequestError(`body does not parse as YAML or JSON: ${problem.message.split('\n')[0]}`, { cause: problem })
  }
  try {
    return doc.toJS({ maxAliasCount: 100 })
  } catch (err) {
    throw new InvalidRequestError(`body does not parse as YAML or JSON: ${(err as Error).message.split('\n')[0]}`, { cause: err })
  }
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
    error.message = `Unsupported Media Type ${JSON.stringify(type)}: send one of ${accepted.join(', ')}`
    throw error
  }
}
