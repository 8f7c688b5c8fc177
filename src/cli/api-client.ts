/**
 * A small typed client of the manager's REST API over the global `fetch`
 * (and the global `WebSocket` for `/events`). Every failure is a named error:
 * {@link ApiRequestError} carries the API's own message and field,
 * {@link ManagerUnreachableError} says the manager could not be reached.
 */
import { API_DEFAULTS, CLI_DEFAULTS } from '../constants.ts'
import { ApiRequestError, InvalidOptionError, ManagerUnreachableError, type Stage, type TargetRecord } from '../core/index.ts'
import type { ManagerEvent, Page, TaskDetail, TaskView } from '../api/service.ts'

/** Options of {@link createApiClient}. */
export interface ApiClientOptions {
  /** Base URL of the API (`http://127.0.0.1:8080`; `host:port` is read as http). */
  readonly url: string
  /** Bearer token; none for a manager run with `--insecure`. */
  readonly token?: string
  /** Timeout of a request other than a task upload. @default CLI_DEFAULTS.requestTimeoutMs */
  readonly requestTimeoutMs?: number
}

/** A task upload: the task text, and the package file as a Blob when there is one. */
export interface TaskUpload {
  readonly text: string
  /** `application/yaml` or `application/json` (used without a package). */
  readonly mediaType: string
  readonly package?: Blob
}

/** An open `/events` subscription. */
export interface EventStream { close: () => void }

/** What `/events` calls back with. */
export interface EventHandlers {
  readonly onEvent: (event: ManagerEvent) => void
  /** The socket closed or could not open (not called after `close()`). */
  readonly onClose?: () => void
}

/** The manager's API, typed. */
export interface ApiClient {
  /** The normalised base URL (no trailing slash). */
  readonly url: string
  createTask: (upload: TaskUpload) => Promise<TaskView>
  listTasks: (page: number, perPage: number) => Promise<Page<TaskView>>
  getTask: (id: string, signal?: AbortSignal) => Promise<TaskDetail>
  listTargets: (options: { page: number, perPage: number, tags?: readonly string[] }, signal?: AbortSignal) => Promise<Page<TargetRecord>>
  /** Every target (with every tag in `tags`), reading all pages. */
  allTargets: (tags?: readonly string[], signal?: AbortSignal) => Promise<TargetRecord[]>
  getTarget: (id: string, signal?: AbortSignal) => Promise<TargetRecord>
  requestLogs: (id: string, stage: Stage, signal?: AbortSignal) => Promise<void>
  events: (query: { task?: string, target?: string }, handlers: EventHandlers) => EventStream
}

/**
 * `http://host:port` (or `host:port`) → the normalised base URL.
 * @throws {InvalidOptionError} not an http(s) URL.
 */
export function normaliseApiUrl (text: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`
  let url: URL
  try {
    url = new URL(withScheme)
  } catch {
    throw new InvalidOptionError(`--api ${JSON.stringify(text)}: expected a URL such as http://127.0.0.1:8080`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidOptionError(`--api ${JSON.stringify(text)}: expected an http or https URL`)
  return url.href.replace(/\/+$/, '')
}

/** Build a client of the API at `options.url`. */
export function createApiClient (options: ApiClientOptions): ApiClient {
  const base = normaliseApiUrl(options.url)
  const send = sender(base, options.token, options.requestTimeoutMs ?? CLI_DEFAULTS.requestTimeoutMs)
  const enc = encodeURIComponent
  const listTargets: ApiClient['listTargets'] = async ({ page, perPage, tags }, signal) => {
    const query = new URLSearchParams({ page: String(page), perPage: String(perPage) })
    if (tags != null && tags.length > 0) query.set('tags', tags.join(','))
    return await send<Page<TargetRecord>>('GET', `/targets?${query.toString()}`, { signal })
  }
  return {
    url: base,
    createTask: async (upload) => await send<TaskView>('POST', '/tasks', { body: taskBody(upload), upload: true }),
    listTasks: async (page, perPage) => await send<Page<TaskView>>('GET', `/tasks?page=${page}&perPage=${perPage}`),
    getTask: async (id, signal) => await send<TaskDetail>('GET', `/tasks/${enc(id)}`, { signal }),
    listTargets,
    allTargets: async (tags, signal) => await allPages(async page => await listTargets({ page, perPage: CLI_DEFAULTS.listPerPage, tags }, signal)),
    getTarget: async (id, signal) => await send<TargetRecord>('GET', `/targets/${enc(id)}`, { signal }),
    requestLogs: async (id, stage, signal) => { await send('PUT', `/targets/${enc(id)}/logs/${stage}`, { signal }) },
    events: (query, handlers) => openEvents(base, options.token, query, handlers)
  }
}

interface SendOptions {
  readonly body?: FormData | { readonly text: string, readonly mediaType: string }
  readonly signal?: AbortSignal | undefined
  /** A task upload: no request timeout (packages are large, assemble commands slow). */
  readonly upload?: boolean
}

type Send = <T>(method: string, path: string, options?: SendOptions) => Promise<T>

function sender (base: string, token: string | undefined, timeoutMs: number): Send {
  return async <T>(method: string, path: string, options: SendOptions = {}): Promise<T> => {
    const signals = [options.signal, options.upload === true ? undefined : AbortSignal.timeout(timeoutMs)].filter(s => s != null)
    const headers: Record<string, string> = { accept: 'application/json' }
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    const body = options.body
    if (body != null && !(body instanceof FormData)) headers['content-type'] = body.mediaType
    let response: Response
    try {
      response = await fetch(`${base}${path}`, {
        method,
        headers,
        body: body == null || body instanceof FormData ? body : body.text,
        signal: signals.length > 0 ? AbortSignal.any(signals) : null
      })
    } catch (err) {
      throw unreachable(base, err, options.signal)
    }
    if (!response.ok) throw await apiError(method, path, response)
    if (response.status === 204) return undefined as T
    return await response.json() as T
  }
}

function taskBody (upload: TaskUpload): SendOptions['body'] {
  if (upload.package == null) return { text: upload.text, mediaType: upload.mediaType }
  const form = new FormData()
  form.append('task', upload.text)
  form.append('package', upload.package, 'package.tar.gz')
  return form
}

/** The error of a failed fetch: the caller's own abort passes through, anything else means the manager was not reached. */
function unreachable (base: string, err: unknown, callerSignal: AbortSignal | undefined): Error {
  if (callerSignal?.aborted === true) return callerSignal.reason instanceof Error ? callerSignal.reason : new Error(String(callerSignal.reason))
  const e = err as Error & { cause?: { code?: string, message?: string } }
  if (e.name === 'TimeoutError') return new ManagerUnreachableError(`the manager at ${base} did not answer in time`, { cause: err })
  const code = e.cause?.code
  if (code === 'UND_ERR_HEADERS_TIMEOUT') {
    return new ManagerUnreachableError(`the manager at ${base} did not answer in time (the task may still be created: see \`pollen tasks\`)`, { cause: err })
  }
  const detail = code ?? e.cause?.message ?? e.message
  return new ManagerUnreachableError(`cannot reach the manager at ${base}${detail != null && detail !== '' ? ` (${detail})` : ''}`, { cause: err })
}

/** One line from the API's error body: `POST /tasks: 400 Bad Request: stages.run: must be array [field stages.run]`. */
async function apiError (method: string, path: string, response: Response): Promise<ApiRequestError> {
  const text = await response.text().catch(() => '')
  let body: { message?: unknown, field?: unknown, code?: unknown, output?: unknown } = {}
  try {
    body = JSON.parse(text) as typeof body
  } catch { /* not JSON: use the status line */ }
  const str = (value: unknown): string | undefined => typeof value === 'string' && value !== '' ? value : undefined
  const message = str(body.message) ?? (text.trim().split('\n')[0] || response.statusText)
  const field = str(body.field)
  const line = `${method} ${path.split('?')[0] ?? path}: ${response.status} ${response.statusText}: ${message}${field !== undefined ? ` [field ${field}]` : ''}`
  return new ApiRequestError(line, { status: response.status, apiCode: str(body.code), field, output: str(body.output) })
}

/** Read every page of a listing. */
async function allPages<T> (read: (page: number) => Promise<Page<T>>): Promise<T[]> {
  const all: T[] = []
  for (let page = 1; ; page++) {
    const { items, total } = await read(page)
    all.push(...items)
    if (items.length === 0 || all.length >= total) return all
  }
}

function openEvents (base: string, token: string | undefined, query: { task?: string, target?: string }, handlers: EventHandlers): EventStream {
  const params = new URLSearchParams()
  if (query.task !== undefined) params.set('task', query.task)
  if (query.target !== undefined) params.set('target', query.target)
  const url = `${base.replace(/^http/, 'ws')}/events${params.size > 0 ? `?${params.toString()}` : ''}`
  const socket = new WebSocket(url, { protocols: [API_DEFAULTS.eventsProtocol], headers: token !== undefined ? { authorization: `Bearer ${token}` } : {} })
  let closed = false
  socket.addEventListener('message', (message: MessageEvent) => {
    if (typeof message.data !== 'string') return
    try {
      handlers.onEvent(JSON.parse(message.data) as ManagerEvent)
    } catch { /* a malformed event is skipped; the poll catches up */ }
  })
  socket.addEventListener('close', () => { if (!closed) handlers.onClose?.() })
  return {
    close () {
      closed = true
      socket.close()
    }
  }
}

/** Map `items` through `fn` with at most `limit` calls in flight; results keep the order of `items`. */
export async function mapLimit<T, R> (items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++
      results[index] = await fn(items[index]!)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}
