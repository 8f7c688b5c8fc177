import test from 'ava'
import { TOKENS } from './fake-service.ts'
import { auth, multipart, SAMPLE_YAML, startApi } from './helpers.ts'

test('GET /health needs no token', async t => {
  const { app } = await startApi(t)
  const res = await app.inject({ url: '/health' })
  t.is(res.statusCode, 200)
  t.deepEqual(res.json(), { status: 'ok' })
})

test('a request without a token is refused with 401 and WWW-Authenticate', async t => {
  const { app } = await startApi(t)
  for (const url of ['/tasks', '/targets', '/metrics', '/docs/json', '/docs/', '/docs/static/swagger-ui.css', '/events', '/no-such-route']) {
    const res = await app.inject({ url })
    t.is(res.statusCode, 401, url)
    t.is(res.json().code, 'ERR_UNAUTHORIZED', url)
    t.regex(String(res.headers['www-authenticate']), /^Bearer /, url)
  }
})

test('an unknown or malformed token is refused with 401', async t => {
  const { app } = await startApi(t)
  for (const authorization of ['Bearer nope', 'Basic dXNlcjpwYXNz', 'Bearer', `Bearer ${TOKENS.read} extra`, TOKENS.deploy]) {
    const res = await app.inject({ url: '/tasks', headers: { authorization } })
    t.is(res.statusCode, 401, authorization)
  }
})

test('the token is never read from the query string', async t => {
  const { app } = await startApi(t)
  for (const query of [`token=${TOKENS.deploy}`, `access_token=${TOKENS.deploy}`, `bearer=${TOKENS.deploy}`]) {
    t.is((await app.inject({ url: `/tasks?${query}` })).statusCode, 401, query)
  }
})

test('a read token reads but cannot deploy (403)', async t => {
  const { app, fake } = await startApi(t)
  const read = auth(TOKENS.read)
  t.is((await app.inject({ url: '/tasks', headers: read })).statusCode, 200)
  t.is((await app.inject({ url: '/docs/json', headers: read })).statusCode, 200)
  t.is((await app.inject({ url: '/metrics', headers: read })).statusCode, 200)
  const denied = [
    { method: 'POST', url: '/tasks', payload: SAMPLE_YAML, headers: { ...read, 'content-type': 'application/yaml' } },
    { method: 'POST', url: '/tasks/task-1/stop', headers: read },
    { method: 'POST', url: '/targets', payload: { id: 'drone-1' }, headers: read },
    { method: 'PUT', url: '/targets/drone-1', payload: { tags: [] }, headers: read },
    { method: 'DELETE', url: '/targets/drone-1', headers: read },
    { method: 'PUT', url: '/targets/drone-1/logs/run', headers: read }
  ] as const
  for (const request of denied) {
    const res = await app.inject(request)
    t.is(res.statusCode, 403, `${request.method} ${request.url}`)
    t.is(res.json().code, 'ERR_FORBIDDEN')
  }
  t.is(fake.creates.length, 0)
})

test('a deploy token may read too', async t => {
  const { app } = await startApi(t)
  t.is((await app.inject({ url: '/targets', headers: auth(TOKENS.deploy) })).statusCode, 200)
})

test('authentication happens before the body is read: no token and a huge body is still 401', async t => {
  const { app } = await startApi(t, { bodyLimit: 1024 })
  const res = await app.inject({ method: 'POST', url: '/tasks', payload: 'x'.repeat(10_000), headers: { 'content-type': 'application/yaml' } })
  t.is(res.statusCode, 401)
})

test('swagger-ui and its static assets are served behind the token', async t => {
  const { app } = await startApi(t)
  const page = await app.inject({ url: '/docs/', headers: auth(TOKENS.read) })
  t.is(page.statusCode, 200)
  t.regex(page.body, /swagger-ui/)
  const css = await app.inject({ url: '/docs/static/swagger-ui.css', headers: auth(TOKENS.read) })
  t.is(css.statusCode, 200)
})

test('tokens never reach the log, even at trace level', async t => {
  const lines: string[] = []
  const stream = { write (line: string) { lines.push(line) } }
  const { app } = await startApi(t, { logger: { level: 'trace', stream } })
  await app.inject({ url: '/tasks', headers: auth(TOKENS.deploy) })
  await app.inject({ url: '/tasks', headers: auth('wrong-secret-token') })
  const upload = multipart([{ name: 'task', value: SAMPLE_YAML }])
  await app.inject({ method: 'POST', url: '/tasks', payload: upload.payload, headers: { ...upload.headers, ...auth(TOKENS.deploy) } })
  await app.inject({ url: '/events', headers: { ...auth(TOKENS.read), 'sec-websocket-protocol': `pollen.v1, bearer.${TOKENS.deploy}` } })
  t.true(lines.length > 5)
  t.true(lines.some(line => line.includes('"url":"/tasks"')))
  for (const secret of [TOKENS.deploy, TOKENS.read, 'wrong-secret-token']) {
    t.false(lines.some(line => line.includes(secret)), secret)
  }
})

test('authenticate failing is a 500, not a crash', async t => {
  const { app, fake } = await startApi(t)
  fake.failNext('authenticate', new Error('token store unreadable'))
  const res = await app.inject({ url: '/tasks', headers: auth() })
  t.is(res.statusCode, 500)
  t.false(res.body.includes('token store'))
})

test('with auth off (the manager\'s --insecure) every route answers without a token', async t => {
  const { app } = await startApi(t, { auth: false })
  t.is((await app.inject({ url: '/tasks' })).statusCode, 200)
  const res = await app.inject({ method: 'POST', url: '/tasks', payload: SAMPLE_YAML, headers: { 'content-type': 'application/yaml' } })
  t.is(res.statusCode, 201)
})
