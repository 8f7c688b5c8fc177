import test from 'ava'
import { AssembleFailedError, InvalidManifestError, TaskNotFoundError, UnsafePackageError } from '../../src/core/index.ts'
import { auth, SAMPLE_TASK, SAMPLE_YAML, startApi } from './helpers.ts'

const yaml = (payload: string, type = 'application/yaml') => ({ method: 'POST' as const, url: '/tasks', payload, headers: { ...auth(), 'content-type': type } })
const json = (payload: unknown) => ({ method: 'POST' as const, url: '/tasks', payload: JSON.stringify(payload), headers: { ...auth(), 'content-type': 'application/json' } })

test('POST /tasks with a JSON body creates the task: 201, Location, the task view', async t => {
  const { app, fake } = await startApi(t)
  const res = await app.inject(json({ ...SAMPLE_TASK, description: 'controller v2', debug: true, run: { restart: 'on-failure' } }))
  t.is(res.statusCode, 201)
  const task = res.json()
  t.is(res.headers.location, `/tasks/${task.id}`)
  t.like(task, { description: 'controller v2', debug: true, run: { restart: 'on-failure' }, package: null, target: { tags: ['hanger'] } })
  t.deepEqual(task.stages.install, SAMPLE_TASK.stages.install)
  t.is(fake.creates.length, 1)
  t.deepEqual(fake.creates[0]!.input.spec.target, { tags: ['hanger'] })
  t.is(fake.creates[0]!.input.packagePath, undefined)
  t.true(fake.creates[0]!.input.signal instanceof AbortSignal)
})

test('POST /tasks accepts the Appendix A YAML under every YAML media type and text/plain', async t => {
  const { app, fake } = await startApi(t)
  for (const type of ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/plain', 'application/yaml; charset=utf-8']) {
    const res = await app.inject(yaml(SAMPLE_YAML, type))
    t.is(res.statusCode, 201, type)
  }
  for (const call of fake.creates) t.deepEqual(call.input.spec, SAMPLE_TASK)
})

test('an invalid task is a 400 naming the field', async t => {
  const { app } = await startApi(t)
  const cases: Array<[unknown, string]> = [
    [{ ...SAMPLE_TASK, stages: { install: [''] } }, 'stages.install[0]'],
    [{ ...SAMPLE_TASK, colour: 'blue' }, 'colour'],
    [{ ...SAMPLE_TASK, stages: { install: ['ok'], deploy: ['x'] } }, 'stages.deploy'],
    [{ stages: {} }, 'target'],
    [{ ...SAMPLE_TASK, target: {} }, 'target'],
    [{ ...SAMPLE_TASK, run: { restart: 'sometimes' } }, 'run.restart'],
    [{ ...SAMPLE_TASK, debug: 'true' }, 'debug'],
    [{ ...SAMPLE_TASK, stages: { transfer: ['../etc/passwd'] } }, 'stages.transfer[0]']
  ]
  for (const [body, field] of cases) {
    const res = await app.inject(json(body))
    t.is(res.statusCode, 400, field)
    t.like(res.json(), { code: 'ERR_INVALID_TASK', field }, field)
    t.true(res.json().message.startsWith(field), res.json().message)
  }
})

test('the same invalid task in YAML gets the same answer', async t => {
  const { app } = await startApi(t)
  const res = await app.inject(yaml(`${SAMPLE_YAML}colour: blue\n`))
  t.is(res.statusCode, 400)
  t.like(res.json(), { code: 'ERR_INVALID_TASK', field: 'colour', message: 'colour: is not a known field' })
  const install = await app.inject(yaml('stages:\n  install: [ "" ]\ntarget:\n  ids: [drone-1]\n'))
  t.like(install.json(), { statusCode: 400, field: 'stages.install[0]' })
})

test('bad YAML, malformed JSON and empty bodies are 400s', async t => {
  const { app } = await startApi(t)
  const bad = await app.inject(yaml('stages: [unclosed\n'))
  t.is(bad.statusCode, 400)
  t.regex(bad.json().message, /YAML/)
  for (const text of [`${SAMPLE_YAML}description: !js/function 'x'\n`, `${SAMPLE_YAML}---\n${SAMPLE_YAML}`, `target: {}\n${SAMPLE_YAML}`]) {
    const res = await app.inject(yaml(text))
    t.is(res.statusCode, 400, text)
    t.is(res.json().code, 'ERR_INVALID_REQUEST', text)
  }
  const malformed = await app.inject({ method: 'POST', url: '/tasks', payload: '{"stages": ', headers: { ...auth(), 'content-type': 'application/json' } })
  t.is(malformed.statusCode, 400)
  t.is(malformed.json().code, 'FST_ERR_CTP_INVALID_JSON_BODY')
  const empty = await app.inject(yaml(''))
  t.is(empty.statusCode, 400)
  const emptyJson = await app.inject({ method: 'POST', url: '/tasks', headers: { ...auth(), 'content-type': 'application/json' } })
  t.is(emptyJson.statusCode, 400)
  const array = await app.inject(json([SAMPLE_TASK]))
  t.is(array.statusCode, 400)
})

test('a body over bodyLimit is a 413, JSON or YAML', async t => {
  const { app, fake } = await startApi(t, { bodyLimit: 1024 })
  const big = { ...SAMPLE_TASK, description: 'x'.repeat(2000) }
  const jsonRes = await app.inject(json(big))
  t.is(jsonRes.statusCode, 413)
  t.is(jsonRes.json().code, 'FST_ERR_CTP_BODY_TOO_LARGE')
  const yamlRes = await app.inject(yaml(`${SAMPLE_YAML}description: ${'x'.repeat(2000)}\n`))
  t.is(yamlRes.statusCode, 413)
  t.is(fake.creates.length, 0)
})

test('an unsupported or missing media type is a 415', async t => {
  const { app } = await startApi(t)
  for (const type of ['application/xml', 'application/octet-stream', 'text/html']) {
    const res = await app.inject({ method: 'POST', url: '/tasks', payload: '<task/>', headers: { ...auth(), 'content-type': type } })
    t.is(res.statusCode, 415, type)
    t.is(res.json().code, 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
  }
  const none = await app.inject({ method: 'POST', url: '/tasks', headers: auth() })
  t.is(none.statusCode, 415)
})

test('errors of createTask map to their status', async t => {
  const { app, fake } = await startApi(t)
  fake.failNext('createTask', new AssembleFailedError('assemble command 1 exited with 2', 'make: *** No rule to make target'))
  const assemble = await app.inject(yaml(SAMPLE_YAML))
  t.is(assemble.statusCode, 422)
  t.like(assemble.json(), { code: 'ERR_ASSEMBLE_FAILED', output: 'make: *** No rule to make target', message: 'assemble command 1 exited with 2' })
  fake.failNext('createTask', new UnsafePackageError('entry ../x escapes the package'))
  t.like((await app.inject(yaml(SAMPLE_YAML))).json(), { statusCode: 400, code: 'ERR_UNSAFE_PACKAGE' })
  fake.failNext('createTask', new InvalidManifestError('too many chunks'))
  t.like((await app.inject(yaml(SAMPLE_YAML))).json(), { statusCode: 400, code: 'ERR_INVALID_MANIFEST' })
})

test('an unexpected error is a 500 that does not leak its message', async t => {
  const { app, fake } = await startApi(t)
  fake.failNext('createTask', new Error('ENOSPC /var/lib/pollen/secret-path'))
  const res = await app.inject(yaml(SAMPLE_YAML))
  t.is(res.statusCode, 500)
  t.is(res.json().code, 'ERR_INTERNAL')
  t.false(res.body.includes('secret-path'))
  fake.failNext('listTasks', 'a thrown string' as unknown as Error)
  const odd = await app.inject({ url: '/tasks', headers: auth() })
  t.is(odd.statusCode, 500)
  t.false(odd.body.includes('thrown string'))
  t.is((await app.inject({ url: '/health' })).statusCode, 200)
})

test('GET /tasks pages newest first; perPage defaults to 50 and is capped at 500', async t => {
  const { app } = await startApi(t)
  for (let i = 0; i < 3; i++) await app.inject(json({ ...SAMPLE_TASK, description: `task ${i}` }))
  const first = await app.inject({ url: '/tasks?page=1&perPage=2', headers: auth() })
  t.is(first.statusCode, 200)
  t.like(first.json(), { total: 3, page: 1, perPage: 2 })
  t.deepEqual(first.json().items.map((task: { description: string }) => task.description), ['task 2', 'task 1'])
  const second = await app.inject({ url: '/tasks?page=2&perPage=2', headers: auth() })
  t.deepEqual(second.json().items.map((task: { description: string }) => task.description), ['task 0'])
  t.like((await app.inject({ url: '/tasks', headers: auth() })).json(), { page: 1, perPage: 50 })
  for (const query of ['perPage=501', 'perPage=0', 'page=0', 'page=x']) {
    const res = await app.inject({ url: `/tasks?${query}`, headers: auth() })
    t.is(res.statusCode, 400, query)
    t.is(res.json().field, query.split('=')[0], query)
  }
})

test('GET /tasks/:id returns the task with its summary; unknown id is a 404', async t => {
  const { app, fake } = await startApi(t)
  await fake.createTarget({ id: 'drone-1', tags: ['hanger'] })
  const created = (await app.inject(json(SAMPLE_TASK))).json()
  const res = await app.inject({ url: `/tasks/${created.id}`, headers: auth() })
  t.is(res.statusCode, 200)
  t.like(res.json(), { id: created.id, summary: { matchedTargets: ['drone-1'], managerUploadBytes: 0 } })
  t.deepEqual(Object.keys(res.json().summary.stages).sort(), ['Install', 'Run', 'Transfer'])
  const missing = await app.inject({ url: '/tasks/nope', headers: auth() })
  t.is(missing.statusCode, 404)
  t.is(missing.json().code, 'ERR_TASK_NOT_FOUND')
})

test('POST /tasks/:id/stop is a 202 with the stopped task; unknown id is a 404', async t => {
  const { app, fake } = await startApi(t)
  const created = (await app.inject(json(SAMPLE_TASK))).json()
  const res = await app.inject({ method: 'POST', url: `/tasks/${created.id}/stop`, headers: auth() })
  t.is(res.statusCode, 202)
  t.is(typeof res.json().stoppedAt, 'string')
  fake.failNext('stopTask', new TaskNotFoundError('no task x'))
  t.is((await app.inject({ method: 'POST', url: '/tasks/x/stop', headers: auth() })).statusCode, 404)
})
