/**
 * Request validation. Bodies are checked strictly (no type coercion, no
 * defaults, unknown fields rejected, not dropped), so a JSON body gets the
 * verdict a YAML file or the CLI would; query strings and path parameters are
 * coerced (`?page=2` is a number, `?tags=a` an array) and get their defaults.
 * Request schemas may `$ref` only `TaskSpec`.
 */
import { Ajv } from 'ajv'
import type { FastifySchemaCompiler } from 'fastify'
import { taskSpecSchema } from '../core/index.ts'
import { MULTIPART_TYPE } from './schemas.ts'

/** A fastify validator compiler with one ajv for bodies and one for the other parts, both local to one API instance. */
export function createValidatorCompiler (): FastifySchemaCompiler<object> {
  const bodies = new Ajv({ strict: true, strictRequired: false, allErrors: false, coerceTypes: false, useDefaults: false, removeAdditional: false })
  const others = new Ajv({ strict: true, strictRequired: false, allErrors: false, coerceTypes: 'array', useDefaults: true, removeAdditional: false })
  for (const ajv of [bodies, others]) ajv.addFormat('binary', true).addFormat('date-time', true)
  bodies.addSchema(taskSpecSchema)
  return ({ schema, httpPart, contentType }) => {
    // Multipart bodies are streamed; the handler checks them part by part.
    if (httpPart === 'body' && contentType === MULTIPART_TYPE) return () => true
    return (httpPart === 'body' ? bodies : others).compile(schema)
  }
}
