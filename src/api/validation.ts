/**
 * Request validation. Bodies are checked strictly (no type coercion, no
 * defaults, unknown fields rejected, not dropped), so a JSON body gets the
 * verdict a YAML file or the CLI would; query strings and path parameters are
 * coerced (`?page=2` is a number, `?tags=a` an array) and get their defaults.
 * Request schemas may `$ref` only `TaskSpec`.
 */
import { Ajv, type ValidateFunction } from 'ajv'
import type { FastifySchemaCompiler } from 'fastify'
import { taskSpecSchema } from '../core/index.ts'
import { MULTIPART_TYPE } from './schemas.ts'

type DataValidationCxt = Parameters<ValidateFunction>[1]

/** A fastify validator compiler with one ajv for bodies and one for the other parts, both local to one API instance. */
export function createValidatorCompiler (): FastifySchemaCompiler<object> {
  const bodies = new Ajv({ strict: true, strictRequired: false, allErrors: false, coerceTypes: false, useDefaults: false, removeAdditional: false })
  const others = new Ajv({ strict: true, strictRequired: false, allErrors: false, coerceTypes: 'array', useDefaults: true, removeAdditional: false })
  for (const ajv of [bodies, others]) ajv.addFormat('binary', true).addFormat('date-time', true)
  bodies.addSchema(taskSpecSchema)
  return ({ schema, httpPart, contentType }) => {
    // Multipart bodies are streamed; the handler checks them part by part.
    if (httpPart === 'body' && contentType === MULTIPART_TYPE) return () => true
    return httpPart === 'body' ? bodies.compile(schema) : finiteNumbers(others.compile(schema))
  }
}

/**
 * ajv coerces `?page=Infinity` (or `1e400`) to `Infinity`, which passes
 * `integer`, `minimum` and `maximum` (those skip non-finite numbers) and then
 * breaks the response serializer: refuse non-finite numbers in query strings
 * and path parameters (flat objects) after validation.
 */
function finiteNumbers (validate: ValidateFunction): ValidateFunction {
  const check = ((data: unknown, context: DataValidationCxt) => {
    if (!validate(data, context)) {
      check.errors = validate.errors
      return false
    }
    const infinite = Object.entries(data ?? {}).find(([, value]) => typeof value === 'number' && !Number.isFinite(value))
    check.errors = infinite === undefined
      ? null
      : [{ instancePath: `/${infinite[0]}`, schemaPath: '', keyword: 'type', params: {}, message: 'must be a finite number' }]
    return infinite === undefined
  }) as ValidateFunction
  return Object.assign(check, { schema: validate.schema, schemaEnv: validate.schemaEnv })
}
