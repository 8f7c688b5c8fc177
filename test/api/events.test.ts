import { once } from 'node:events'
import type { IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import WebSocket from 'ws'
import { matchesEvent } from '../../src/api/index.ts'
import type { ManagerEvent, TaskView } from '../../src/api/index.ts'
import type { TargetRecord } from '../../src/core/index.ts'
import { TOKENS } from './fake-service.ts'
import { auth, startApi } from './helpers.ts'

const task = (id: string): TaskView => ({
  id,
  stages: { transfer: [], install: ['true'], run: [] },
  target: { ids: ['drone-1'] },
  debug: false,
  run: { restart: 'never' },
  package: null,
  seq: 1,
  createdAt: '2026-01-01T00:00:00.000Z',
  expiresAt: '2026-01-02T00:00:00.000Z',
  signature: 'sig'
})

const target = (id: string, taskId?: string): TargetRecord => ({
  ID: id,
  Tags: [],
  Addresses: [],
  Created: '2026-01-01T00:00:00.000Z',
  History: {},
  ...(taskId === undefined ? {} : { Task: { ID: taskId, CurrentStage: 'INSTALL', Error: false, StageLogs: {} } })
})

/** Messages of a socket, in order, awaited one at a time. */
function messages (ws: WebSocket): () => Promise<ManagerEvent> {
  const queue: ManagerEvent[] = []
  const waiting: Array<(event: ManagerEvent) => void> = []
  ws.on('message', (data: Buffer) => {
    const event = JSON.parse(data.toString()) as ManagerEvent
    const resolve = waiting.shift()
    if (resolve === undefined) queue.push(event)
    else resolve(event)
  })
  return async () => queue.shift() ?? await new Promise<ManagerEvent>(resolve => { waiting.push(resolve) })
}

/** A listening API; returns its ws:// base URL. */
async function listen (t: ExecutionContext) {
  const harness = await startApi(t)
  await harness.app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = harness.app.server.address() as AddressInfo
  return { ...harness, base: `ws://127.0.0.1:${port}` }
}

/** Open a socket that is terminated when the test ends. */
function connect (t: ExecutionContext, url: string, protocols?: string[], headers?: Record<string, string>): WebSocket {
  const ws = protocols === undefined ? new WebSocket(url, { headers: headers ?? {} }) : new WebSocket(url, protocols, { headers: headers ?? {} })
  t.teardown(() => { if (ws.readyState === WebSocket.OPEN) ws.terminate() })
  return ws
}

/** The status of a refused handshake, once the server has closed the connection (it must not leak it). */
async function refused (ws: WebSocket): Promise<number> {
  const [, response] = await once(ws, 'unexpected-response') as [unknown, IncomingMessage]
  response.resume()
  if (!response.socket.destroyed) await once(response.socket, 'close')
  return response.statusCode ?? 0
}

test('events filtered by task: that task and the targets working on it, in order', async t => {
  const { fake, base } = await listen(t)
  const ws = connect(t, `${base}/events?task=task-1`, undefined, auth(TOKENS.read))
  const next = messages(ws)
  await once(ws, 'open')
  await fake.untilListeners(1)
  fake.emit({ topic: 'task', payload: task('task-2') })
  fake.emit({ topic: 'target', payload: target('drone-1', 'task-2') })
  fake.emit({ topic: 'target', payload: target('drone-2') })
  fake.emit({ topic: 'task', payload: task('task-1') })
  fake.emit({ topic: 'target', payload: target('drone-1', 'task-1') })
  const first = await next()
  t.is(first.topic, 'task')
  t.deepEqual(first.payload, task('task-1'))
  const second = await next()
  t.is(second.topic, 'target')
  t.deepEqual(second.payload, target('drone-1', 'task-1'))
})

test('events filtered by target: that target only, no task events', async t => {
  const { fake, base } = await listen(t)
  const ws = connect(t, `${base}/events?target=drone-2`, undefined, auth(TOKENS.read))
  const next = messages(ws)
  await once(ws, 'open')
  await fake.untilListeners(1)
  fake.emit({ topic: 'target', payload: target('drone-1', 'task-1') })
  fake.emit({ topic: 'task', payload: task('task-1') })
  fake.emit({ topic: 'target', payload: target('drone-2', 'task-1') })
  t.deepEqual(await next(), { topic: 'target', payload: target('drone-2', 'task-1') })
})

test('unfiltered events carry every change the service makes', async t => {
  const { app, fake, base } = await listen(t)
  const ws = connect(t, `${base}/events`, undefined, auth(TOKENS.read))
  const next = messages(ws)
  await once(ws, 'open')
  await fake.untilListeners(1)
  await app.inject({ method: 'POST', url: '/targets', payload: { id: 'drone-7', tags: ['x'] }, headers: auth() })
  const event = await next()
  t.is(event.topic, 'target')
  t.is((event.payload as TargetRecord).ID, 'drone-7')
})

test('a browser client authenticates with the bearer subprotocol; the server answers pollen.v1', async t => {
  const { fake, base } = await listen(t)
  const ws = connect(t, `${base}/events`, ['pollen.v1', `bearer.${TOKENS.read}`])
  const next = messages(ws)
  await once(ws, 'open')
  t.is(ws.protocol, 'pollen.v1')
  await fake.untilListeners(1)
  fake.emit({ topic: 'task', payload: task('task-3') })
  t.is((await next()).topic, 'task')
})

test('a socket without a valid token is refused with 401, also with the token in the query string', async t => {
  const { app, fake, base } = await listen(t)
  t.is(await refused(connect(t, `${base}/events`)), 401)
  t.is(await refused(connect(t, `${base}/events`, undefined, auth('wrong'))), 401)
  t.is(await refused(connect(t, `${base}/events`, ['pollen.v1', 'bearer.wrong'])), 401)
  t.is(await refused(connect(t, `${base}/events?token=${TOKENS.read}&access_token=${TOKENS.read}`)), 401)
  t.is(fake.listeners(), 0)
  await app.close()
})

test('closing the socket unsubscribes', async t => {
  const { fake, base } = await listen(t)
  const ws = connect(t, `${base}/events`, undefined, auth(TOKENS.read))
  await once(ws, 'open')
  await fake.untilListeners(1)
  ws.close()
  await fake.untilListeners(0)
  t.is(fake.listeners(), 0)
})

test('closing the API closes the sockets and unsubscribes', async t => {
  const { app, fake, base } = await listen(t)
  const ws = connect(t, `${base}/events`, undefined, auth(TOKENS.read))
  await once(ws, 'open')
  await fake.untilListeners(1)
  const closed = once(ws, 'close')
  await app.close()
  await closed
  await fake.untilListeners(0)
  t.pass()
})

test('a plain GET /events is a 426', async t => {
  const { app } = await startApi(t)
  const res = await app.inject({ url: '/events', headers: auth(TOKENS.read) })
  t.is(res.statusCode, 426)
  t.is(res.headers.upgrade, 'websocket')
})

test('matchesEvent: every given filter must hold', t => {
  const events: ManagerEvent[] = [{ topic: 'task', payload: task('a') }, { topic: 'target', payload: target('d1', 'a') }, { topic: 'target', payload: target('d2') }]
  const pass = (query: { task?: string, target?: string }) => events.map(event => matchesEvent(event, query))
  t.deepEqual(pass({}), [true, true, true])
  t.deepEqual(pass({ task: 'a' }), [true, true, false])
  t.deepEqual(pass({ target: 'd1' }), [false, true, false])
  t.deepEqual(pass({ task: 'a', target: 'd1' }), [false, true, false])
  t.deepEqual(pass({ task: 'b' }), [false, false, false])
})
