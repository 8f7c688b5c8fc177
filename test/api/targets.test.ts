import test from 'ava'
import type { TargetRecord } from '../../src/core/index.ts'
import { auth, startApi } from './helpers.ts'

const post = (payload: unknown) => ({ method: 'POST' as const, url: '/targets', payload: JSON.stringify(payload), headers: { ...auth(), 'content-type': 'application/json' } })
const put = (id: string, payload: unknown) => ({ method: 'PUT' as const, url: `/targets/${id}`, payload: JSON.stringify(payload), headers: { ...auth(), 'content-type': 'application/json' } })

/** A target as an agent would have filled it in, Appendix B style. */
const REPORTED: TargetRecord = {
  ID: 'drone-1',
  Tags: ['drone', 'armhf', 'hanger'],
  PeerID: '12D3KooWExample',
  Addresses: ['/ip4/10.0.0.7/tcp/4001'],
  Platform: { OS: 'linux', Arch: 'arm' },
  FreeDiskBytes: 1_000_000,
  AgentVersion: '0.1.0',
  LastSeen: '2018-09-14T09:48:01.000Z',
  Created: '2018-09-14T09:40:00.000Z',
  Task: {
    ID: 'task-1',
    CurrentStage: 'RUN',
    Error: false,
    StageLogs: {
      Transfer: { Status: 'SUCCESS', Updated: '2018-09-14T09:40:35.000Z', Logs: [{ Output: 'received task', Error: false, Time: 1536918035 }] },
      Install: { Status: 'SUCCESS', Updated: '2018-09-14T09:40:35.000Z', Logs: [{ Command: 'mv package/* .', Output: 'exit status 0', Error: false, LineNum: 1, Time: 1536918035 }] },
      Run: { Status: 'STARTED', Updated: '2018-09-14T09:47:58.000Z', Logs: [], Error: 'none yet' }
    },
    Progress: { Bytes: 10, Total: 10 }
  },
  History: { 'task-0': 'RUN-SUCCESS' }
}

test('POST /targets registers a target: 201 and Location', async t => {
  const { app, fake } = await startApi(t)
  const res = await app.inject(post({ id: 'drone-1', tags: ['drone', 'hanger'] }))
  t.is(res.statusCode, 201)
  t.is(res.headers.location, '/targets/drone-1')
  t.like(res.json(), { ID: 'drone-1', Tags: ['drone', 'hanger'], Addresses: [], History: {} })
  t.true(fake.targets.has('drone-1'))
  const bare = await app.inject(post({ ID: 'drone-2' }))
  t.is(bare.statusCode, 201)
  t.deepEqual(bare.json().Tags, [])
})

test('POST /targets accepts YAML', async t => {
  const { app } = await startApi(t)
  const res = await app.inject({ method: 'POST', url: '/targets', payload: 'id: drone-1\ntags: [drone]\n', headers: { ...auth(), 'content-type': 'application/x-yaml' } })
  t.is(res.statusCode, 201)
  t.deepEqual(res.json().Tags, ['drone'])
})

test('POST /targets of an existing id is a 409', async t => {
  const { app } = await startApi(t)
  await app.inject(post({ id: 'drone-1', tags: [] }))
  const res = await app.inject(post({ id: 'drone-1', tags: ['x'] }))
  t.is(res.statusCode, 409)
  t.is(res.json().code, 'ERR_TARGET_EXISTS')
})

test('invalid target bodies are 400s naming the field', async t => {
  const { app } = await startApi(t)
  const cases: Array<[unknown, string]> = [
    [{ tags: ['x'] }, 'id'],
    [{ id: 'has space' }, 'id'],
    [{ id: 'a,b' }, 'id'],
    [{ id: 'ok', tags: 'drone' }, 'tags'],
    [{ id: 'ok', tags: [''] }, 'tags[0]'],
    [{ id: 'ok', colour: 'red' }, 'colour'],
    [{ id: 'a', ID: 'b' }, 'id']
  ]
  for (const [body, field] of cases) {
    const res = await app.inject(post(body))
    t.is(res.statusCode, 400, JSON.stringify(body))
    t.is(res.json().field, field, JSON.stringify(body))
    t.true(res.json().message.includes(field), res.json().message)
  }
  const yaml = await app.inject({ method: 'POST', url: '/targets', payload: 'id: [', headers: { ...auth(), 'content-type': 'text/yaml' } })
  t.is(yaml.statusCode, 400)
  const xml = await app.inject({ method: 'POST', url: '/targets', payload: '<t/>', headers: { ...auth(), 'content-type': 'application/xml' } })
  t.is(xml.statusCode, 415)
})

test('GET /targets/:id returns the whole Appendix B record; unknown is a 404', async t => {
  const { app, fake } = await startApi(t)
  fake.targets.set(REPORTED.ID, REPORTED)
  const res = await app.inject({ url: '/targets/drone-1', headers: auth() })
  t.is(res.statusCode, 200)
  t.deepEqual(res.json(), REPORTED)
  const missing = await app.inject({ url: '/targets/drone-9', headers: auth() })
  t.is(missing.statusCode, 404)
  t.is(missing.json().code, 'ERR_TARGET_NOT_FOUND')
})

test('GET /targets filters by every tag, comma-separated or repeated, and pages', async t => {
  const { app } = await startApi(t)
  await app.inject(post({ id: 'drone-1', tags: ['drone', 'hanger'] }))
  await app.inject(post({ id: 'drone-2', tags: ['drone'] }))
  await app.inject(post({ id: 'rover-1', tags: ['rover', 'hanger'] }))
  const ids = async (query: string): Promise<string[]> => {
    const res = await app.inject({ url: `/targets${query}`, headers: auth() })
    t.is(res.statusCode, 200, query)
    return res.json().items.map((target: TargetRecord) => target.ID)
  }
  t.deepEqual(await ids(''), ['drone-1', 'drone-2', 'rover-1'])
  t.deepEqual(await ids('?tags=hanger'), ['drone-1', 'rover-1'])
  t.deepEqual(await ids('?tags=drone,hanger'), ['drone-1'])
  t.deepEqual(await ids('?tags=drone&tags=hanger'), ['drone-1'])
  t.deepEqual(await ids('?page=2&perPage=2'), ['rover-1'])
  t.is((await app.inject({ url: '/targets?perPage=1000', headers: auth() })).statusCode, 400)
})

test('PUT /targets/:id replaces the tags, with tags or Tags; a full record can be sent back', async t => {
  const { app, fake } = await startApi(t)
  fake.targets.set(REPORTED.ID, REPORTED)
  const res = await app.inject(put('drone-1', { tags: ['drone'] }))
  t.is(res.statusCode, 200)
  t.deepEqual(res.json().Tags, ['drone'])
  const upper = await app.inject(put('drone-1', { Tags: ['drone', 'night'] }))
  t.deepEqual(upper.json().Tags, ['drone', 'night'])
  const record = (await app.inject({ url: '/targets/drone-1', headers: auth() })).json()
  const full = await app.inject(put('drone-1', { ...record, Tags: ['day'] }))
  t.is(full.statusCode, 200)
  t.deepEqual(fake.targets.get('drone-1')!.Tags, ['day'])
})

test('PUT /targets/:id errors: 404, ID mismatch, no tags, unknown field', async t => {
  const { app, fake } = await startApi(t)
  fake.targets.set(REPORTED.ID, REPORTED)
  t.is((await app.inject(put('drone-9', { tags: [] }))).statusCode, 404)
  const mismatch = await app.inject(put('drone-1', { ID: 'drone-2', Tags: [] }))
  t.is(mismatch.statusCode, 400)
  t.is(mismatch.json().field, 'ID')
  const none = await app.inject(put('drone-1', {}))
  t.is(none.statusCode, 400)
  t.is(none.json().field, 'tags')
  const unknown = await app.inject(put('drone-1', { tags: [], Colour: 'red' }))
  t.is(unknown.json().field, 'Colour')
  t.deepEqual(fake.targets.get('drone-1')!.Tags, REPORTED.Tags)
})

test('DELETE /targets/:id is a 204, then a 404', async t => {
  const { app } = await startApi(t)
  await app.inject(post({ id: 'drone-1', tags: [] }))
  const res = await app.inject({ method: 'DELETE', url: '/targets/drone-1', headers: auth() })
  t.is(res.statusCode, 204)
  t.is(res.body, '')
  t.is((await app.inject({ method: 'DELETE', url: '/targets/drone-1', headers: auth() })).statusCode, 404)
})

test('PUT /targets/:id/logs/:stage asks for logs (202), any letter case; a bad stage is a 400', async t => {
  const { app, fake } = await startApi(t)
  await app.inject(post({ id: 'drone-1', tags: [] }))
  for (const stage of ['install', 'Install', 'TRANSFER', 'run']) {
    const res = await app.inject({ method: 'PUT', url: `/targets/drone-1/logs/${stage}`, headers: auth() })
    t.is(res.statusCode, 202, stage)
    t.deepEqual(res.json(), { requested: true })
  }
  t.deepEqual(fake.logRequests, [
    { id: 'drone-1', stage: 'install' }, { id: 'drone-1', stage: 'install' }, { id: 'drone-1', stage: 'transfer' }, { id: 'drone-1', stage: 'run' }
  ])
  const bad = await app.inject({ method: 'PUT', url: '/targets/drone-1/logs/assemble', headers: auth() })
  t.is(bad.statusCode, 400)
  t.is(bad.json().field, 'stage')
  t.is((await app.inject({ method: 'PUT', url: '/targets/drone-9/logs/run', headers: auth() })).statusCode, 404)
})

test('a long target id within the limit is routed; an id over it is rejected', async t => {
  const { app } = await startApi(t)
  const id = 'd'.repeat(128)
  t.is((await app.inject(post({ id }))).statusCode, 201)
  t.is((await app.inject({ url: `/targets/${id}`, headers: auth() })).statusCode, 200)
  const long = await app.inject({ url: `/targets/${'d'.repeat(129)}`, headers: auth() })
  t.is(long.statusCode, 400)
})
