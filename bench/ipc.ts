/**
 * Request/response over a forked child's IPC channel, for bench workers:
 * the parent calls a method by name, the child answers it or pushes events.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { onCleanup } from './common.ts'

/** A call from the parent to a worker. */
export interface IpcCall {
  readonly id: number
  readonly method: string
  readonly args: unknown[]
}

/** A worker's answer to a call, or an event it pushes. */
export type IpcMessage =
  | { id: number, result?: unknown, error?: string }
  | { event: string, data: unknown }

/** Parent side: a forked worker script whose methods are called over IPC. */
export class WorkerProcess {
  readonly #child: ChildProcess
  readonly #pending = new Map<number, PromiseWithResolvers<unknown>>()
  #nextId = 0

  /** Fork `script` (with this process's runtime flags plus `execArgv`); `onEvent` gets the events it pushes. */
  constructor (script: string, onEvent: (event: string, data: unknown) => void = () => {}, execArgv: string[] = []) {
    this.#child = fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [...process.execArgv, ...execArgv] })
    this.#child.on('message', (message: IpcMessage) => {
      if ('event' in message) onEvent(message.event, message.data)
      else this.#answer(message)
    })
    this.#child.on('exit', (code, signal) => { this.#failAll(new Error(`worker exited (code ${code}, signal ${signal})`)) })
    onCleanup(async () => { await this.kill() })
  }

  /** Call `method` in the worker; rejects with the worker's error or when it exits. */
  async call (method: string, ...args: unknown[]): Promise<unknown> {
    const id = this.#nextId++
    const pending = Promise.withResolvers<unknown>()
    this.#pending.set(id, pending)
    this.#child.send({ id, method, args } satisfies IpcCall)
    return await pending.promise
  }

  get running (): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null && this.#child.connected
  }

  /** Disconnect (the worker cleans up and exits); SIGKILL after `graceMs`. Idempotent. */
  async kill (graceMs = 30_000): Promise<void> {
    const child = this.#child
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise(resolve => child.once('exit', resolve))
    if (child.connected) child.disconnect()
    const timer = setTimeout(() => { child.kill('SIGKILL') }, graceMs)
    await exited
    clearTimeout(timer)
  }

  #answer (message: { id: number, result?: unknown, error?: string }): void {
    const pending = this.#pending.get(message.id)
    this.#pending.delete(message.id)
    if (message.error !== undefined) pending?.reject(new Error(`worker: ${message.error}`))
    else pending?.resolve(message.result)
  }

  #failAll (err: Error): void {
    for (const pending of this.#pending.values()) pending.reject(err)
    this.#pending.clear()
  }
}

/**
 * Child side: answer the parent's calls with `handlers`; on disconnect or
 * SIGINT/SIGTERM run `shutdown` and exit.
 */
export function serveCalls (handlers: Record<string, (...args: any[]) => Promise<unknown>>, shutdown: () => Promise<void>): void {
  process.on('message', (call: IpcCall) => {
    const handler = handlers[call.method]
    const run = handler === undefined ? Promise.reject(new Error(`unknown method ${call.method}`)) : handler(...call.args)
    run.then(
      result => { process.send?.({ id: call.id, result } satisfies IpcMessage) },
      (err: Error) => { process.send?.({ id: call.id, error: `${err.name}: ${err.message}` } satisfies IpcMessage) }
    )
  })
  process.on('disconnect', () => { void shutdown().finally(() => process.exit(0)) })
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => { void shutdown().finally(() => process.exit(130)) })
  }
}

/** Push an event to the parent. */
export function sendEvent (event: string, data: unknown): void {
  process.send?.({ event, data } satisfies IpcMessage)
}
