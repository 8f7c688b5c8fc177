/**
 * The REST fuzz corpus: for a seed, a fixed list of malformed requests in
 * categories (task bodies in JSON and YAML, multipart framing, archives,
 * target bodies, media types, paths, query strings, authorization,
 * content-length lies, methods, deep nesting, huge inputs). Every request is
 * wrong by construction, so the API must answer each with a 4xx.
 */
import { parseTaskDocument } from '../../src/core/index.ts'
import { stringify } from 'yaml'
import {
  ALPHABETS, badPackage, deepNesting, encodeMultipart, mutate, NASTY_YAML, randomJson, randomString, randomYaml, Rng, type MultipartPart
} from './fuzz-gen.ts'
import { SAMPLE_TASK, SAMPLE_YAML } from './helpers.ts'

/** Kinds of malformed input, counted separately in the report. */
export const CATEGORIES = [
  'json-task', 'yaml-task', 'multipart', 'archive', 'target-body', 'media-type', 'path', 'query', 'auth', 'content-length', 'method', 'deep', 'huge'
] as const
export type Category = typeof CATEGORIES[number]

/** What `inject` is given. */
export interface FuzzRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'OPTIONS' | 'HEAD'
  readonly url: string
  readonly headers: Record<string, string>
  readonly payload?: string | Buffer
}

/** One malformed request. */
export interface FuzzCase {
  readonly category: Category
  /** What is wrong with it, for the failure report. */
  readonly label: string
  readonly request: FuzzRequest
}

/** Options of {@link fuzzCases}. */
export interface FuzzOptions {
  readonly seed: number
  readonly deployToken: string
  readonly readToken: string
  /** The API's body limit (huge cases go just under and over it). */
  readonly bodyLimit: number
  /** The API's package limit. */
  readonly packageLimit: number
  /** Random cases per category (fixed cases come on top). */
  readonly perCategory: number
}

type Builder = (rng: Rng, o: FuzzOptions) => Omit<FuzzCase, 'category'>

const JSON_TYPE = 'application/json'
const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/plain']
const MULTIPART = 'multipart/form-data'

function bearer (token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` }
}

function body (o: FuzzOptions, method: FuzzRequest['method'], url: string, type: string, payload: string | Buffer): FuzzRequest {
  return { method, url, headers: { ...bearer(o.deployToken), 'content-type': type }, payload }
}

// ── task descriptions that break one rule each ───────────────────────

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
const MARK = '\u0000fuzz-mark'

/** A copy of the sample task with `path` set to `value`. */
function withField (path: readonly string[], value: Json): { [key: string]: Json } {
  const task = structuredClone(SAMPLE_TASK) as unknown as { [key: string]: Json }
  let node = task
  for (const key of path.slice(0, -1)) node = (node[key] ??= {}) as { [key: string]: Json }
  node[path.at(-1)!] = value
  return task
}

function typeOf (value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value
}

/** Where the schema wants which type. */
const TYPED_PATHS: ReadonlyArray<[string[], string]> = [
  [['description'], 'string'], [['debug'], 'boolean'], [['stages'], 'object'], [['stages', 'install'], 'array'],
  [['stages', 'run'], 'array'], [['stages', 'transfer'], 'array'], [['target'], 'object'], [['target', 'tags'], 'array'],
  [['target', 'ids'], 'array'], [['run'], 'object'], [['run', 'restart'], 'string'], [['stages', 'install', '0'], 'string'], [['target', 'tags', '0'], 'string']
]

/** Values that break a rule wherever they are put. */
const RULE_BREAKERS: ReadonlyArray<[string[], Json]> = [
  [['description'], 'd'.repeat(4097)], [['stages', 'install'], ['']], [['stages', 'install'], Array(65).fill('true')],
  [['stages', 'run', '0'], 'r'.repeat(4097)], [['target'], {}], [['target', 'tags'], []], [['target', 'tags'], ['a b']],
  [['target', 'tags'], ['a,b']], [['target', 'ids'], ['x'.repeat(129)]], [['target', 'ids'], Array(2001).fill('t')],
  [['run', 'restart'], 'sometimes'], [['stages', 'transfer'], ['/etc']], [['stages', 'transfer'], ['../up']],
  [['stages', 'transfer'], ['a\\b']], [['stages', 'transfer'], ['a\u0000b']], [['stages', 'deploy'], ['x']], [['target', 'names'], ['x']]
]

/** The text of a task that breaks exactly one rule (a wrong type, an unknown field, a limit), in JSON or YAML. */
function brokenTask (rng: Rng, yaml: boolean): { label: string, text: string } {
  const way = rng.int(4)
  if (way === 0) {
    const [path, want] = rng.pick(TYPED_PATHS)
    let text = randomJson(rng)
    while (typeOf(JSON.parse(text)) === want || (want === 'string' && text === '""')) text = randomJson(rng)
    const json = JSON.stringify(withField(path, MARK)).replace(JSON.stringify(MARK), () => text)
    return { label: `${path.join('.')} = ${text.slice(0, 60)}`, text: yaml ? stringify(JSON.parse(json)) : json }
  }
  if (way === 1) {
    const level = rng.pick([[], ['stages'], ['target'], ['run']])
    const key = `${rng.pick(['x', 'colour', 'assembly', 'Stages', 'TARGET', '$ref', 'hasOwnProperty', ' '])}${rng.int(100)}`
    const json = JSON.stringify(withField([...level, key], MARK)).replace(JSON.stringify(MARK), () => randomJson(rng))
    return { label: `unknown field ${[...level, key].join('.')}`, text: yaml ? stringify(JSON.parse(json)) : json }
  }
  if (way === 2) {
    const [path, value] = rng.pick(RULE_BREAKERS)
    const task = withField(path, value)
    return { label: `${path.join('.')} breaks a rule`, text: yaml ? stringify(task) : JSON.stringify(task) }
  }
  const missing = rng.pick(['stages', 'target'])
  const task = withField([missing], null)
  delete task[missing]
  return { label: `no ${missing}`, text: yaml ? stringify(task) : JSON.stringify(task) }
}

/** A byte-mutated sample: refused by the manager whenever it parses (it transfers a path, no package is sent). */
function mutatedSample (rng: Rng, source: string): string {
  for (;;) {
    const text = mutate(rng, source)
    try {
      const spec = parseTaskDocument(text)
      if ((spec.stages.transfer ?? []).length > 0) return text
    } catch {
      return text
    }
  }
}

/** A random JSON object with a field no schema knows, or a random non-object. */
function randomBody (rng: Rng): string {
  const text = randomJson(rng)
  return text.startsWith('{') ? `{"fuzz-unknown":0,${text.slice(1)}` : text
}

const jsonTask: Builder = (rng, o) => {
  const way = rng.int(4)
  if (way === 0) return { label: 'random JSON value', request: body(o, 'POST', '/tasks', JSON_TYPE, randomBody(rng)) }
  if (way === 1) return { label: 'mutated sample JSON', request: body(o, 'POST', '/tasks', JSON_TYPE, mutatedSample(rng, JSON.stringify(SAMPLE_TASK, null, 1))) }
  const { label, text } = brokenTask(rng, false)
  return { label, request: body(o, 'POST', '/tasks', JSON_TYPE, text) }
}

const yamlTask: Builder = (rng, o) => {
  const type = rng.pick(YAML_TYPES)
  const way = rng.int(5)
  if (way === 0) return { label: 'random YAML', request: body(o, 'POST', '/tasks', type, `fuzz-unknown: 0\n${randomYaml(rng)}`) }
  if (way === 1) return { label: 'mutated sample YAML', request: body(o, 'POST', '/tasks', type, mutatedSample(rng, SAMPLE_YAML)) }
  if (way === 2) {
    const doc = rng.pick(NASTY_YAML)
    return { label: `nasty YAML ${JSON.stringify(doc.slice(0, 40))}`, request: body(o, 'POST', '/tasks', type, doc) }
  }
  const { label, text } = brokenTask(rng, true)
  return { label, request: body(o, 'POST', '/tasks', type, text) }
}

// ── multipart ────────────────────────────────────────────────────────

function taskPart (rng: Rng): MultipartPart {
  const { text } = brokenTask(rng, rng.chance(0.5))
  const asFile = rng.chance(0.3)
  const contentType = rng.pick([undefined, JSON_TYPE, 'application/yaml', 'text/plain', 'application/octet-stream'])
  return asFile ? { name: 'task', value: text, filename: 'task.yaml', contentType } : { name: 'task', value: text, contentType }
}

const sampleTaskPart = (): MultipartPart => ({ name: 'task', value: SAMPLE_YAML })

/** Framing errors and part mix-ups; every body is refused before a task could be created. */
const MULTIPART_WAYS: ReadonlyArray<[string, (rng: Rng, b: string) => { parts: MultipartPart[], end?: string, boundary?: string }]> = [
  ['broken task part', rng => ({ parts: [taskPart(rng)] })],
  ['sample task, no package', () => ({ parts: [sampleTaskPart()] })],
  ['no final boundary', rng => ({ parts: [sampleTaskPart(), { name: 'package', value: badPackage(rng).bytes, filename: 'p.tgz' }], end: '' })],
  ['truncated final boundary', (_rng, b) => ({ parts: [sampleTaskPart()], end: `--${b.slice(0, b.length >> 1)}` })],
  ['body cut inside a part', (rng, b) => ({ parts: [], end: `--${b}\r\nContent-Disposition: form-data; name="task"\r\n\r\n${SAMPLE_YAML.slice(0, rng.int(SAMPLE_YAML.length))}` })],
  ['boundary of another body', rng => ({ parts: [sampleTaskPart()], boundary: `other${rng.int(1000)}` })],
  ['no Content-Disposition', () => ({ parts: [{ value: SAMPLE_YAML, headers: 'Content-Type: text/plain\r\n' }] })],
  ['part without a name', () => ({ parts: [{ value: SAMPLE_YAML }] })],
  ['unknown part', rng => ({ parts: [sampleTaskPart(), { name: rng.pick([randomString(rng).replace(/["\r\n]/g, '') || 'x', 'tasks', 'Task', 'pkg']), value: 'x' }] })],
  ['prototype part name', rng => ({ parts: [{ name: rng.pick(['__proto__', 'constructor', 'hasOwnProperty', 'toString']), value: '{}' }, sampleTaskPart()] })],
  ['two task parts', rng => ({ parts: [taskPart(rng), taskPart(rng)] })],
  ['package as a field', rng => ({ parts: [sampleTaskPart(), { name: 'package', value: badPackage(rng).bytes.toString('latin1') }] })],
  ['only a package', rng => ({ parts: [{ name: 'package', value: badPackage(rng).bytes, filename: 'p.tar' }] })],
  ['two packages', rng => ({ parts: [sampleTaskPart(), ...[0, 1].map(() => ({ name: 'package', value: badPackage(rng).bytes, filename: 'p.tar' }))] })],
  ['too many parts', rng => ({ parts: Array.from({ length: 9 + rng.int(20) }, (_, i) => ({ name: i === 0 ? 'task' : `extra${i}`, value: 'x' })) })],
  ['invalid JSON field', rng => ({ parts: [{ name: 'task', value: mutate(rng, '{"stages":{}}'), contentType: JSON_TYPE }] })],
  ['odd filename', rng => ({ parts: [sampleTaskPart(), { name: 'package', value: badPackage(rng).bytes, filename: rng.pick(['../../etc/passwd', '/abs', '', 'ü🙂.tar', 'a"b', '%00']) }] })],
  ['huge part header', () => ({ parts: [{ value: SAMPLE_YAML, headers: `Content-Disposition: form-data; name="task"\r\nX-Fuzz: ${'h'.repeat(100_000)}\r\n` }] })],
  ['garbage part headers', rng => ({ parts: [{ value: SAMPLE_YAML, headers: `${rng.chars(1 + rng.int(200), ALPHABETS.yaml)}\r\n` }] })],
  ['empty body', () => ({ parts: [], end: '' })],
  ['only the final boundary', (_rng, b) => ({ parts: [], end: `--${b}--\r\n` })],
  ['random bytes', rng => ({ parts: [], end: rng.chars(1 + rng.int(2000), [...ALPHABETS.ascii, ...ALPHABETS.control]) })]
]

/** Content types of multipart bodies with a bad or missing boundary. */
const BAD_BOUNDARIES = ['', '; boundary=', '; boundary=""', `; boundary=${'b'.repeat(71)}`, `; boundary=${'b'.repeat(300)}`, '; charset=utf-8', '; boundary']

const multipartCase: Builder = (rng, o) => {
  const boundary = `fuzz${rng.chars(1 + rng.int(30), ALPHABETS.ascii.filter(c => /[0-9A-Za-z'()+_,./:=?-]/.test(c)))}`
  if (rng.chance(0.1)) {
    const suffix = rng.pick(BAD_BOUNDARIES)
    return { label: `content type ${JSON.stringify(MULTIPART + suffix)}`, request: body(o, 'POST', '/tasks', MULTIPART + suffix, encodeMultipart(boundary, [sampleTaskPart()])) }
  }
  const [label, make] = rng.pick(MULTIPART_WAYS)
  const { parts, end, boundary: used } = make(rng, boundary)
  const payload = encodeMultipart(used ?? boundary, parts, end)
  const quoted = rng.chance(0.2) ? `"${boundary}"` : boundary
  return { label, request: body(o, 'POST', '/tasks', `${MULTIPART}; boundary=${quoted}`, payload) }
}

const archiveCase: Builder = (rng, o) => {
  const { kind, bytes } = badPackage(rng)
  const pkg = { name: 'package', value: bytes, filename: rng.pick(['p.tar', 'p.tar.gz', 'p']), contentType: rng.pick(['application/gzip', 'application/x-tar', 'application/octet-stream']) }
  const parts = rng.chance(0.5) ? [sampleTaskPart(), pkg] : [pkg, sampleTaskPart()]
  return { label: `package: ${kind}`, request: body(o, 'POST', '/tasks', `${MULTIPART}; boundary=fuzz-archive`, encodeMultipart('fuzz-archive', parts)) }
}

// ── targets ──────────────────────────────────────────────────────────

/** Target bodies that break one rule each (for POST; PUT adds a URL to disagree with). */
const TARGET_BREAKERS: ReadonlyArray<[string, (rng: Rng) => Json]> = [
  ['random value', rng => JSON.parse(randomBody(rng).replace(/"__proto__"/g, '"proto"')) as Json],
  ['id of a wrong type', rng => ({ id: JSON.parse(randomJson(rng, 3).replace(/^".*"$/s, '1')) as Json })],
  ['tags of a wrong type', rng => ({ id: 'fuzz', tags: JSON.parse(randomJson(rng, 3).replace(/^\[.*\]$/s, '{}')) as Json })],
  ['bad id', rng => ({ id: rng.pick(['', 'a b', 'a,b', 'tab\there', 'x'.repeat(129), 'new\nline']) })],
  ['bad tag', rng => ({ id: 'fuzz', tags: ['ok', rng.pick(['', 'a b', 'a,b', 't'.repeat(129), 7, null])] })],
  ['too many tags', () => ({ id: 'fuzz', tags: Array.from({ length: 257 }, (_, i) => `t${i}`) })],
  ['id and ID disagree', rng => ({ id: 'fuzz', ID: `other${rng.int(100)}` })],
  ['tags and Tags disagree', () => ({ id: 'fuzz', tags: ['a'], Tags: ['b'] })],
  ['unknown field', rng => ({ id: 'fuzz', [rng.pick(['colour', 'Platform', 'peer', 'constructor'])]: randomJson(rng) })],
  ['no id', () => ({ tags: ['a'] })]
]

const targetBody: Builder = (rng, o) => {
  const [label, make] = rng.pick(TARGET_BREAKERS)
  const value = make(rng)
  const yaml = rng.chance(0.4)
  const text = yaml ? stringify(value) : JSON.stringify(value)
  const type = yaml ? rng.pick(YAML_TYPES) : JSON_TYPE
  if (rng.chance(0.5)) return { label: `POST ${label}`, request: body(o, 'POST', '/targets', type, text) }
  const update = typeof value === 'object' && value !== null && !Array.isArray(value) && label !== 'no id'
    ? { ...value, ...(label === 'random value' ? {} : { id: 'not-the-url' }) }
    : value
  return { label: `PUT ${label}`, request: body(o, 'PUT', `/targets/fuzz-${rng.int(50)}`, type, yaml ? stringify(update) : JSON.stringify(update)) }
}

// ── media types, paths, queries, headers ─────────────────────────────

const MEDIA_TYPES = [
  'application/xml', 'text/html', 'application/jsonx', 'application/x-www-form-urlencoded', 'application/octet-stream', 'multipart/mixed; boundary=x',
  '*/*', 'application/*', ';', ' ', 'json', 'application/json, text/plain', 'image/png', 'application/ld+json', 'text/yaml-ish',
  'application/vnd.api+json', `x/${'y'.repeat(1000)}`
]

const mediaType: Builder = (rng, o) => {
  const type = rng.pick(MEDIA_TYPES)
  const [method, url] = rng.pick([['POST', '/tasks'], ['POST', '/targets'], ['PUT', '/targets/fuzz']] as const)
  const payload = rng.chance(0.5) ? JSON.stringify(SAMPLE_TASK) : randomBody(rng)
  if (rng.chance(0.2)) {
    const { 'content-type': _, ...headers } = body(o, method, url, type, payload).headers
    return { label: `${method} ${url} without a content type`, request: { method, url, headers, payload } }
  }
  return { label: `${method} ${url} as ${type.slice(0, 40)}`, request: body(o, method, url, type, payload) }
}

/** Path segments that are odd, badly encoded, too long or just unknown ids. */
const SEGMENTS = [
  '%', '%zz', '%0', '%00', '%E0%A4%A', '%C0%AF', '%FF', '%2e%2e', '..', '.', '%2F', '%252F', '%20', '+', ';', ',', '~', '*', '$', '@', '!',
  '%F0%9F%99%82', 'ü', '%u0041', '\\', '%5C', 'a%00b', 'con', 'nul', '__proto__', 'constructor', 'x'.repeat(257), 'x'.repeat(5000)
]

function segment (rng: Rng): string {
  return rng.chance(0.7) ? rng.pick(SEGMENTS) : `${rng.pick(SEGMENTS)}${encodeURIComponent(randomString(rng).toWellFormed()).slice(0, 300)}${rng.int(1000)}`
}

const pathCase: Builder = (rng, o) => {
  const id = segment(rng)
  const routes: Array<[FuzzRequest['method'], string]> = [
    ['GET', `/tasks/${id}`], ['POST', `/tasks/${id}/stop`], ['GET', `/targets/${id}`], ['DELETE', `/targets/${id}`],
    ['PUT', `/targets/${id}/logs/${rng.pick(['run', 'INSTALL', segment(rng)])}`], ['PUT', `/targets/fuzz/logs/${segment(rng)}`],
    ['GET', `/fuzz${id}`], ['GET', `/tasks/${id}/${segment(rng)}`]
  ]
  const [method, url] = rng.pick(routes)
  const headers = method === 'GET' || method === 'DELETE' ? bearer(o.readToken) : bearer(o.deployToken)
  if (method === 'DELETE') Object.assign(headers, bearer(o.deployToken))
  return { label: `${method} ${url.slice(0, 80)}`, request: { method, url, headers } }
}

const BAD_PAGES = ['0', '-1', 'abc', '1.5', '', 'NaN', 'Infinity', '1e400', '[]', '{}', 'null', 'true', '１']
const BAD_PER_PAGE = [...BAD_PAGES, '501', '99999999999']
const NOISE = ['tags=a', 'tags=a,b&tags=c', 'x=1', '__proto__=1', 'constructor[prototype][x]=1', 'tags[]=a', 'page=1', 'perPage=10', '%zz=1', '&&&', '=', 'a=%']

const queryCase: Builder = (rng, o) => {
  const path = rng.pick(['/tasks', '/targets', '/events'])
  let bad: string
  if (path === '/events') bad = rng.pick(['task=', 'target=', 'task=x', 'target=y&task=z', ''])
  else if (path === '/targets' && rng.chance(0.3)) bad = `tags=${'t'.repeat(4097)}`
  else if (rng.chance(0.2)) bad = `page=${rng.int(5) + 1}&page=${rng.int(5) + 1}`
  else bad = rng.chance(0.5) ? `page=${encodeURIComponent(rng.pick(BAD_PAGES))}` : `perPage=${encodeURIComponent(rng.pick(BAD_PER_PAGE))}`
  const params = [bad, ...Array.from({ length: rng.int(4) }, () => rng.pick(NOISE))]
  for (let i = params.length - 1; i > 0; i--) { const j = rng.int(i + 1); [params[i], params[j]] = [params[j]!, params[i]!] }
  const url = `${path}?${params.join('&')}`
  return { label: `GET ${url.slice(0, 80)}`, request: { method: 'GET', url, headers: bearer(o.readToken) } }
}

const AUTH_ROUTES: ReadonlyArray<[FuzzRequest['method'], string, boolean]> = [
  ['GET', '/tasks', false], ['POST', '/tasks', true], ['GET', '/targets', false], ['POST', '/targets', true], ['GET', '/metrics', false],
  ['GET', '/events', false], ['DELETE', '/targets/fuzz', true], ['PUT', '/targets/fuzz/logs/run', true], ['POST', '/tasks/x/stop', true], ['GET', '/docs/json', false]
]

const authCase: Builder = (rng, o) => {
  const [method, url, deploy] = rng.pick(AUTH_ROUTES)
  const values = [
    'Bearer', 'Bearer ', 'Bearer  ', 'Token abc', 'Basic dXNlcjpwYXNz', `Bearer ${o.deployToken} extra`, `Bearer ${o.deployToken},`, 'Bearer a b',
    `Bearer ${'t'.repeat(100_000)}`, `Bearer ${rng.chars(1 + rng.int(60), ALPHABETS.ascii)}`, `${o.deployToken}`, `Bearer ${o.deployToken.slice(1)}`,
    `Bearer ${o.deployToken}x`, 'Bearer =', 'Bearer ~~~', '', ' ', 'Bearer\t' + o.deployToken
  ]
  const value = deploy && rng.chance(0.3) ? `Bearer ${o.readToken}` : rng.pick(values)
  const headers: Record<string, string> = rng.chance(0.1) ? {} : { authorization: value }
  if (rng.chance(0.3) && url === '/events') headers['sec-websocket-protocol'] = `pollen.v1, bearer.${o.readToken.slice(2)}`
  return { label: `${method} ${url} with authorization ${JSON.stringify(headers.authorization?.slice(0, 40))}`, request: { method, url, headers } }
}

const contentLength: Builder = (rng, o) => {
  const payload = rng.chance(0.5) ? JSON.stringify(SAMPLE_TASK) : SAMPLE_YAML
  const lie = rng.pick([String(payload.length + 1 + rng.int(1000)), String(Math.max(0, payload.length - 1 - rng.int(payload.length))), '-1', 'abc', '1e3', '0x10', ' ', '99999999999999999999'])
  const [method, url] = rng.pick([['POST', '/tasks'], ['POST', '/targets'], ['PUT', '/targets/fuzz']] as const)
  const type = payload.startsWith('{') ? JSON_TYPE : 'application/yaml'
  return { label: `${method} ${url} content-length ${lie} for ${payload.length} bytes`, request: { method, url, headers: { ...body(o, method, url, type, payload).headers, 'content-length': lie }, payload } }
}

const methodCase: Builder = (rng, o) => {
  const method = rng.pick(['PATCH', 'PUT', 'DELETE', 'OPTIONS', 'POST'] as const)
  const url = rng.pick(['/tasks', '/tasks/x', '/targets/fuzz/logs', '/health', '/metrics', '/events', method === 'POST' ? '/targets/fuzz' : '/tasks/x/stop'])
  return { label: `${method} ${url}`, request: { method, url, headers: { ...bearer(o.deployToken), 'content-type': JSON_TYPE }, payload: randomBody(rng) } }
}

// ── fixed cases: deep nesting and huge inputs ────────────────────────

function deepCases (o: FuzzOptions): Array<Omit<FuzzCase, 'category'>> {
  const cases: Array<Omit<FuzzCase, 'category'>> = []
  for (const levels of [100, 1_000, 10_000]) {
    for (const kind of ['json-array', 'json-object'] as const) {
      const text = deepNesting(kind, levels)
      cases.push({ label: `${kind} ${levels} deep to POST /tasks`, request: body(o, 'POST', '/tasks', JSON_TYPE, text) })
      cases.push({ label: `${kind} ${levels} deep to POST /targets`, request: body(o, 'POST', '/targets', JSON_TYPE, text) })
      cases.push({ label: `${kind} ${levels} deep as the task part`, request: body(o, 'POST', '/tasks', `${MULTIPART}; boundary=deep`, encodeMultipart('deep', [{ name: 'task', value: text, contentType: JSON_TYPE }])) })
    }
    for (const kind of ['yaml-flow', 'yaml-dash', 'yaml-block'] as const) {
      if (kind === 'yaml-block' && levels > 1_000) continue // 10k indented lines are ~50 MB
      const text = deepNesting(kind, levels)
      // 1,000 levels twice: a stack overflow in the yaml library used to abort the process on the second request.
      for (let i = 0; i < (levels === 1_000 ? 2 : 1); i++) {
        cases.push({ label: `${kind} ${levels} deep to POST /tasks`, request: body(o, 'POST', '/tasks', 'application/yaml', text) })
        cases.push({ label: `${kind} ${levels} deep to PUT /targets/fuzz`, request: body(o, 'PUT', '/targets/fuzz', 'text/yaml', text) })
        cases.push({ label: `${kind} ${levels} deep as the task part`, request: body(o, 'POST', '/tasks', `${MULTIPART}; boundary=deep`, encodeMultipart('deep', [{ name: 'task', value: text, filename: 't.yaml' }])) })
      }
    }
  }
  cases.push({ label: 'yaml-flow 500k deep (1 MB) to POST /tasks', request: body(o, 'POST', '/tasks', 'application/yaml', deepNesting('yaml-flow', Math.floor(o.bodyLimit / 2) - 8)) })
  return cases
}

function hugeCases (o: FuzzOptions): Array<Omit<FuzzCase, 'category'>> {
  const under = o.bodyLimit - 64
  const cases: Array<Omit<FuzzCase, 'category'>> = []
  const tasks: Array<[string, string, string]> = [
    ['description just under the body limit', JSON_TYPE, JSON.stringify({ ...SAMPLE_TASK, description: 'd'.repeat(under - 300) })],
    ['install command just under the body limit', JSON_TYPE, JSON.stringify({ ...SAMPLE_TASK, stages: { install: ['i'.repeat(under - 300)] } })],
    ['100k install commands', JSON_TYPE, JSON.stringify({ ...SAMPLE_TASK, stages: { install: Array(Math.floor(under / 5)).fill('x') } })],
    ['50k unknown keys', JSON_TYPE, `{${Array.from({ length: Math.floor(under / 12) }, (_, i) => `"k${i}":0`).join(',')}}`],
    ['one long YAML line', 'application/yaml', `description: ${'y'.repeat(under - 20)}`],
    ['50k YAML keys', 'application/yaml', Array.from({ length: Math.floor(under / 12) }, (_, i) => `k${i}: 0`).join('\n')],
    ['body over the limit (JSON)', JSON_TYPE, JSON.stringify({ ...SAMPLE_TASK, description: 'd'.repeat(o.bodyLimit) })],
    ['body over the limit (YAML)', 'text/plain', `description: ${'d'.repeat(o.bodyLimit)}`]
  ]
  for (const [label, type, text] of tasks) cases.push({ label, request: body(o, 'POST', '/tasks', type, text) })
  cases.push({ label: 'target body over the limit', request: body(o, 'POST', '/targets', JSON_TYPE, JSON.stringify({ id: 'x', tags: Array(o.bodyLimit / 4).fill('t') })) })
  cases.push({ label: '100k tags just under the limit', request: body(o, 'PUT', '/targets/fuzz', JSON_TYPE, JSON.stringify({ tags: Array(Math.floor(under / 4)).fill('t') })) })
  cases.push({ label: 'task part over the limit', request: body(o, 'POST', '/tasks', `${MULTIPART}; boundary=huge`, encodeMultipart('huge', [{ name: 'task', value: `description: ${'d'.repeat(o.bodyLimit)}` }])) })
  cases.push({ label: 'task file part over the limit', request: body(o, 'POST', '/tasks', `${MULTIPART}; boundary=huge`, encodeMultipart('huge', [{ name: 'task', value: `description: ${'d'.repeat(o.bodyLimit)}`, filename: 't.yaml' }])) })
  cases.push({ label: 'package over the limit', request: body(o, 'POST', '/tasks', `${MULTIPART}; boundary=huge`, encodeMultipart('huge', [sampleTaskPart(), { name: 'package', value: Buffer.alloc(o.packageLimit + 1024), filename: 'p.tar' }])) })
  cases.push({ label: 'URL of 100 kB', request: { method: 'GET', url: `/targets?tags=${'t'.repeat(100_000)}`, headers: bearer(o.readToken) } })
  cases.push({ label: 'path of 100 kB', request: { method: 'GET', url: `/targets/${'t'.repeat(100_000)}`, headers: bearer(o.readToken) } })
  cases.push({ label: 'header of 100 kB', request: { method: 'GET', url: '/tasks?page=0', headers: { ...bearer(o.readToken), 'x-fuzz': 'h'.repeat(100_000) } } })
  return cases
}

const BUILDERS: Readonly<Record<Exclude<Category, 'deep' | 'huge'>, Builder>> = {
  'json-task': jsonTask,
  'yaml-task': yamlTask,
  multipart: multipartCase,
  archive: archiveCase,
  'target-body': targetBody,
  'media-type': mediaType,
  path: pathCase,
  query: queryCase,
  auth: authCase,
  'content-length': contentLength,
  method: methodCase
}

/** Relative weight of each random category (task bodies and multipart get the most). */
const WEIGHTS: Readonly<Record<keyof typeof BUILDERS, number>> = {
  'json-task': 2, 'yaml-task': 2, multipart: 1.5, archive: 0.4, 'target-body': 1.5, 'media-type': 0.5, path: 1, query: 1, auth: 0.7, 'content-length': 0.3, method: 0.3
}

/** The corpus for `o.seed`: the same requests, in the same order, on every run. */
export function fuzzCases (o: FuzzOptions): FuzzCase[] {
  const rng = new Rng(o.seed)
  const cases: FuzzCase[] = []
  for (const [category, build] of Object.entries(BUILDERS) as Array<[keyof typeof BUILDERS, Builder]>) {
    const count = Math.round(o.perCategory * WEIGHTS[category])
    for (let i = 0; i < count; i++) cases.push({ category, ...build(rng, o) })
  }
  for (const c of deepCases(o)) cases.push({ category: 'deep', ...c })
  for (const c of hugeCases(o)) cases.push({ category: 'huge', ...c })
  return cases
}
