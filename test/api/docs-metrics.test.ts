import test from 'ava'
import { TOKENS } from './fake-service.ts'
import { auth, startApi } from './helpers.ts'

type Json = Record<string, any>

const ROUTES: Array<[string, string]> = [
  ['/health', 'get'], ['/tasks', 'get'], ['/tasks', 'post'], ['/tasks/{id}', 'get'], ['/tasks/{id}/stop', 'post'],
  ['/targets', 'get'], ['/targets', 'post'], ['/targets/{id}', 'get'], ['/targets/{id}', 'put'], ['/targets/{id}', 'delete'],
  ['/targets/{id}/logs/{stage}', 'put'], ['/events', 'get'], ['/metrics', 'get']
]

/** Every `$ref` in a document. */
function refsOf (value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) refsOf(item, found)
  else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (key === '$ref' && typeof item === 'string') found.push(item)
      else refsOf(item, found)
    }
  }
  return found
}

test('/docs/json is an OpenAPI 3 document listing every route, with its schemas', async t => {
  const { app } = await startApi(t)
  const res = await app.inject({ url: '/docs/json', headers: auth(TOKENS.read) })
  t.is(res.statusCode, 200)
  const doc = res.json() as Json
  t.regex(doc.openapi, /^3\.0\.\d+$/)
  t.is(doc.info.title, 'Pollen manager API')
  t.is(typeof doc.info.version, 'string')
  t.deepEqual(doc.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer' })
  t.deepEqual(doc.security, [{ bearer: [] }])
  t.deepEqual(doc.paths['/health'].get.security, [])
  for (const [path, method] of ROUTES) {
    const operation = doc.paths[path]?.[method] as Json | undefined
    t.truthy(operation, `${method} ${path}`)
    t.true(Object.keys(operation!.responses).length > 0, `${method} ${path}`)
    for (const param of path.match(/\{(\w+)\}/g) ?? []) {
      const name = param.slice(1, -1)
      t.true(operation!.parameters.some((p: Json) => p.in === 'path' && p.name === name && p.required === true), `${path} declares ${name}`)
    }
  }
  t.deepEqual(Object.keys(doc.paths).filter(path => path.startsWith('/docs')), [])
  for (const ref of refsOf(doc)) {
    const match = /^#\/components\/schemas\/(.+)$/.exec(ref)
    t.truthy(match !== null && doc.components.schemas[match[1]!], ref)
  }
})

test('the OpenAPI schemas are the ones that validate: task body, target record, paging', async t => {
  const { app } = await startApi(t)
  const doc = (await app.inject({ url: '/docs/json', headers: auth() })).json() as Json
  const create = doc.paths['/tasks'].post.requestBody.content
  t.deepEqual(Object.keys(create).sort(), ['application/json', 'application/x-yaml', 'application/yaml', 'multipart/form-data', 'text/plain', 'text/yaml'])
  t.is(create['application/json'].schema.$ref, '#/components/schemas/TaskSpec')
  const spec = doc.components.schemas.TaskSpec
  t.is(spec.additionalProperties, false)
  t.deepEqual(spec.required, ['stages', 'target'])
  t.deepEqual(Object.keys(create['multipart/form-data'].schema.properties), ['task', 'package'])
  const record = doc.components.schemas.TargetRecord
  for (const field of ['ID', 'Tags', 'PeerID', 'Addresses', 'Platform', 'FreeDiskBytes', 'AgentVersion', 'LastSeen', 'Created', 'Task', 'History']) {
    t.truthy(record.properties[field], field)
  }
  t.deepEqual(Object.keys(record.properties.Task.properties.StageLogs.properties), ['Transfer', 'Install', 'Run'])
  const perPage = doc.paths['/tasks'].get.parameters.find((p: Json) => p.name === 'perPage')
  t.like(perPage.schema, { maximum: 500, default: 50 })
  t.truthy(doc.paths['/tasks'].post.responses['201'])
  t.truthy(doc.paths['/targets/{id}'].delete.responses['204'])
  t.regex(doc.paths['/events'].get.description, /bearer\.<token>/)
})

test('/metrics serves the Prometheus text format from service.metrics() at scrape time', async t => {
  const { app, fake } = await startApi(t)
  await fake.createTarget({ id: 'drone-1', tags: [] })
  await fake.createTarget({ id: 'drone-2', tags: [] })
  fake.bytesServed = 1234
  const res = await app.inject({ url: '/metrics', headers: auth(TOKENS.read) })
  t.is(res.statusCode, 200)
  t.regex(String(res.headers['content-type']), /^text\/plain/)
  t.regex(res.body, /^# TYPE pollen_tasks gauge$/m)
  t.regex(res.body, /^pollen_tasks 0$/m)
  t.regex(res.body, /^pollen_targets 2$/m)
  t.regex(res.body, /^pollen_targets_by_status\{status="IDLE"\} 2$/m)
  t.regex(res.body, /^# TYPE pollen_bytes_served_total counter$/m)
  t.regex(res.body, /^pollen_bytes_served_total 1234$/m)
  fake.bytesServed = 5000
  await fake.deleteTarget('drone-2')
  const again = (await app.inject({ url: '/metrics', headers: auth() })).body
  t.regex(again, /^pollen_bytes_served_total 5000$/m)
  t.regex(again, /^pollen_targets 1$/m)
  t.regex(again, /^pollen_targets_by_status\{status="IDLE"\} 1$/m)
})

test('/metrics counts the bytes sent per protocol as counters that only grow', async t => {
  const { app, fake } = await startApi(t)
  fake.sentBytes = { '(wire)': 900, '/ipfs/ping/1.0.0': 64 }
  const first = (await app.inject({ url: '/metrics', headers: auth() })).body
  t.regex(first, /^# TYPE pollen_sent_bytes_total counter$/m)
  t.regex(first, /^pollen_sent_bytes_total\{protocol="\(wire\)"\} 900$/m)
  t.regex(first, /^pollen_sent_bytes_total\{protocol="\/ipfs\/ping\/1\.0\.0"\} 64$/m)
  fake.sentBytes = { '(wire)': 1500, '/ipfs/ping/1.0.0': 64 }
  const second = (await app.inject({ url: '/metrics', headers: auth() })).body
  t.regex(second, /^pollen_sent_bytes_total\{protocol="\(wire\)"\} 1500$/m)
  t.regex(second, /^pollen_sent_bytes_total\{protocol="\/ipfs\/ping\/1\.0\.0"\} 64$/m)
})

test('each API has its own registry; process metrics are optional', async t => {
  const { app: withProcess } = await startApi(t, { processMetrics: true })
  const { app: second } = await startApi(t, { processMetrics: true })
  const { app: without } = await startApi(t)
  for (const app of [withProcess, second]) {
    const body = (await app.inject({ url: '/metrics', headers: auth() })).body
    t.regex(body, /^process_cpu_user_seconds_total /m)
    t.regex(body, /^pollen_tasks 0$/m)
  }
  t.notRegex((await without.inject({ url: '/metrics', headers: auth() })).body, /process_cpu/)
})

test('a failing service.metrics() is a 500', async t => {
  const { app, fake } = await startApi(t)
  fake.failNext('metrics', new Error('registry locked'))
  const res = await app.inject({ url: '/metrics', headers: auth() })
  t.is(res.statusCode, 500)
  t.false(res.body.includes('registry locked'))
})
