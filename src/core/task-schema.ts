/**
 * The JSON schema of a task description, and the one validator every entry
 * point (REST body, multipart part, CLI) uses, so they all give the same
 * messages naming the offending field.
 */
import { Ajv, type ErrorObject } from 'ajv'
import { CST, isMap, isPair, isScalar, isSeq, Lexer, parseDocument, Parser } from 'yaml'
import { InvalidTaskError } from './errors.ts'
import { RESTART_POLICIES, type TaskSpec } from './task.ts'

/** Limits of a task description (DoS guard at the boundary). */
export const TASK_LIMITS = {
  /** Commands per stage. @default 64 */
  maxCommands: 64,
  /** Length of one command, path, id or tag. @default 4096 */
  maxStringLength: 4096,
  /** Ids or tags in a selector. @default 2_000 */
  maxSelectorEntries: 2_000,
  /** Length of the description. @default 4096 */
  maxDescriptionLength: 4096
} as const

const command = { type: 'string', minLength: 1, maxLength: TASK_LIMITS.maxStringLength }
const commands = { type: 'array', maxItems: TASK_LIMITS.maxCommands, items: command }
const names = { type: 'array', maxItems: TASK_LIMITS.maxSelectorEntries, items: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[^\\s,]+$' } }

/** JSON schema of {@link TaskSpec}. */
export const taskSpecSchema = {
  $id: 'TaskSpec',
  type: 'object',
  additionalProperties: false,
  required: ['stages', 'target'],
  properties: {
    description: { type: 'string', maxLength: TASK_LIMITS.maxDescriptionLength },
    debug: { type: 'boolean' },
    stages: {
      type: 'object',
      additionalProperties: false,
      properties: {
        assemble: commands,
        transfer: {
          type: 'array',
          maxItems: TASK_LIMITS.maxCommands,
          items: { type: 'string', minLength: 1, maxLength: TASK_LIMITS.maxStringLength }
        },
        install: commands,
        run: commands
      }
    },
    target: {
      type: 'object',
      additionalProperties: false,
      properties: { ids: names, tags: names }
    },
    run: {
      type: 'object',
      additionalProperties: false,
      properties: {
        restart: { type: 'string', enum: [...RESTART_POLICIES] },
        workdir: { type: 'string', minLength: 1, maxLength: TASK_LIMITS.maxStringLength }
      }
    }
  }
} as const

let validator: ReturnType<Ajv['compile']> | undefined

/**
 * Check a parsed task description.
 * @throws {InvalidTaskError} naming the first offending field.
 */
export function validateTaskSpec (value: unknown): TaskSpec {
  validator ??= new Ajv({ allErrors: false, strict: true }).compile(taskSpecSchema)
  if (!validator(value)) throw taskError(validator.errors?.[0])
  const spec = value as TaskSpec
  checkSelector(spec)
  for (const path of spec.stages.transfer ?? []) checkTransferPath(path, spec.stages.transfer!.indexOf(path))
  if (spec.run?.workdir != null) checkRelativePath(spec.run.workdir, 'run.workdir')
  return spec
}

function checkSelector (spec: TaskSpec): void {
  if ((spec.target.ids?.length ?? 0) === 0 && (spec.target.tags?.length ?? 0) === 0) {
    throw new InvalidTaskError('target: name at least one id or tag', { field: 'target' })
  }
}

/** Transfer paths are relative paths inside the package: no absolute path, no `..`. */
function checkTransferPath (path: string, index: number): void {
  checkRelativePath(path, `stages.transfer[${index}]`)
}

/**
 * What is wrong with `path` as a relative path inside the package or release
 * (absolute, backslash, NUL, or a `..` segment), or `undefined` when nothing is.
 */
export function relativePathProblem (path: string): string | undefined {
  if (path.startsWith('/') || path.includes('\\') || path.includes('\0')) return 'must be a relative path inside the package'
  if (path.split('/').includes('..')) return 'must not contain ".."'
  return undefined
}

/** @throws {InvalidTaskError} naming `field` when `path` is not a relative path inside the package. */
export function checkRelativePath (path: string, field: string): void {
  const problem = relativePathProblem(path)
  if (problem !== undefined) throw new InvalidTaskError(`${field}: ${JSON.stringify(path)} ${problem}`, { field })
}

/** `/stages/install/0` → `stages.install[0]`. */
export function fieldOf (instancePath: string): string {
  return instancePath.split('/').filter(Boolean)
    .map((part, i) => /^\d+$/.test(part) ? `[${part}]` : (i === 0 ? part : `.${part}`))
    .join('')
}

function taskError (error: ErrorObject | undefined): InvalidTaskError {
  if (error == null) return new InvalidTaskError('task description is invalid')
  let field = fieldOf(error.instancePath)
  let message = error.message ?? 'is invalid'
  if (error.keyword === 'additionalProperties') {
    const extra = String(error.params.additionalProperty)
    field = field === '' ? extra : `${field}.${extra}`
    message = 'is not a known field'
  } else if (error.keyword === 'required') {
    const missing = String(error.params.missingProperty)
    field = field === '' ? missing : `${field}.${missing}`
    message = 'is required'
  } else if (error.keyword === 'enum') {
    message = `must be one of ${(error.params.allowedValues as string[]).join(', ')}`
  }
  return new InvalidTaskError(`${field === '' ? 'task' : field}: ${message}`, { field: field === '' ? undefined : field })
}

/** Limits of every YAML document Pollen reads (task descriptions, request bodies). */
export const YAML_LIMITS = {
  /**
   * Lexical tokens (scalars, indicators, spaces, line breaks) in one
   * document. The yaml library spends tens of microseconds per token, so a
   * body limit alone would let one 1 MiB document hold the event loop for
   * seconds; the largest task the schema allows in block style has about
   * 25,000. @default 50_000
   */
  maxTokens: 50_000,
  /**
   * Nesting of collections. Deeper documents are refused before they are
   * composed: the yaml library composes recursively, and a few hundred levels
   * (two bytes each) overflow the stack, which can abort the whole process.
   * @default 64
   */
  maxDepth: 64,
  /** Alias expansions in one document (no "billion laughs"). @default 100 */
  maxAliasCount: 100
} as const

/** What {@link parseSafeYaml} made of a text: its value, or why it was refused. */
export type YamlResult = { readonly value: unknown } | { readonly problem: string }

/**
 * Parse one YAML (or JSON) document safely: core schema only, no custom tags
 * (an unknown tag such as `!!js/function` is refused, not ignored), no merge
 * keys, duplicate keys refused, size, nesting and aliases bounded by
 * {@link YAML_LIMITS}.
 */
export function parseSafeYaml (text: string): YamlResult {
  try {
    const tooLarge = checkShape(text)
    if (tooLarge !== undefined) return { problem: tooLarge }
    // Duplicate keys are found by `duplicateKey` in linear time; the library's own check is quadratic.
    const doc = parseDocument(text, { schema: 'core', customTags: [], merge: false, uniqueKeys: false, prettyErrors: true, logLevel: 'error' })
    const problem = doc.errors[0] ?? doc.warnings[0]
    if (problem != null) return { problem: firstLine(problem.message) }
    const duplicate = duplicateKey(doc.contents)
    if (duplicate !== undefined) return { problem: duplicate }
    return { value: doc.toJS({ maxAliasCount: YAML_LIMITS.maxAliasCount }) }
  } catch (err) {
    return { problem: firstLine((err as Error).message) }
  }
}

function firstLine (message: string): string {
  return message.split('\n')[0]!
}

/** Why a text is too large or too deep to compose, if it is; neither step recurses. */
function checkShape (text: string): string | undefined {
  const tooDeep = `collections are nested more than ${YAML_LIMITS.maxDepth} levels deep`
  let tokens = 0
  let flowDepth = 0
  for (const token of new Lexer().lex(text)) {
    if (++tokens > YAML_LIMITS.maxTokens) return `document has more than ${YAML_LIMITS.maxTokens} tokens`
    if (token === '[' || token === '{') flowDepth += 1
    else if (token === ']' || token === '}') flowDepth = Math.max(0, flowDepth - 1)
    // Flow nesting is cheap to see here; block nesting needs the syntax tree below.
    if (flowDepth > YAML_LIMITS.maxDepth) return tooDeep
  }
  const stack: Array<[CST.Token, number]> = [...new Parser().parse(text)].map(token => [token, 0])
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [token, depth] = next
    if (depth > YAML_LIMITS.maxDepth) return tooDeep
    if (token.type === 'document' && token.value !== undefined) stack.push([token.value, depth])
    if (!CST.isCollection(token)) continue
    for (const item of token.items as CST.CollectionItem[]) {
      if (item.key != null) stack.push([item.key, depth + 1])
      if (item.value != null) stack.push([item.value, depth + 1])
    }
  }
  return undefined
}

/** The first key repeated in a mapping (or a key that is not a scalar), named. */
function duplicateKey (root: unknown): string | undefined {
  const stack = [root]
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    if (isSeq(node)) stack.push(...node.items)
    if (isPair(node)) stack.push(node.value)
    if (!isMap(node)) continue
    const keys = new Set<string>()
    for (const { key, value } of node.items) {
      if (key !== null && !isScalar(key)) return 'mapping keys must be scalars'
      const name = String(key?.value ?? null)
      if (keys.has(name)) return `map keys must be unique: ${JSON.stringify(name.slice(0, 100))} is repeated`
      keys.add(name)
      stack.push(value)
    }
  }
  return undefined
}

/**
 * Parse a task description written in YAML or JSON (JSON is YAML) with
 * {@link parseSafeYaml} and validate it.
 * @throws {InvalidTaskError} the text does not parse, or the task is invalid.
 */
export function parseTaskDocument (text: string): TaskSpec {
  const parsed = parseSafeYaml(text)
  if ('problem' in parsed) throw new InvalidTaskError(`task description does not parse as YAML or JSON: ${parsed.problem}`)
  if (parsed.value === null || parsed.value === undefined) throw new InvalidTaskError('task description is empty')
  return validateTaskSpec(parsed.value)
}
