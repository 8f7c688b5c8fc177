/**
 * Parent side of a worker process: a {@link GroupHandle} whose fetchers run
 * in a forked `bench/worker.ts`, driven by request/response over IPC.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { onCleanup } from './common.ts'
import type { FetchDone, GroupConfig, GroupHandle, GroupProgress, GroupReport } from './group.ts'

/** A call from the parent to a worker. */
export interface WorkerCall {
  readonly id: number
  readonly method: 'start' | 'connect' | 'fetch' | 'finish' | 'stop'
  readonly args: unknown[]
}

/** A worker's answer to a call, or an event it pushes. */
export type WorkerMessage =
  | { id: number, result?: unknown, error?: string }
  | { event: 'done', done: FetchDone }
  | { event: 'progress', progress: GroupProgress }

const WORKER_SCRIPT = fileURLToPath(new URL('./worker.ts', import.meta.url))

/** Fetchers running in a child process. */
export class RemoteGroup implements GroupHandle {
  addresses: string[] = []
  readonly #child: ChildProcess
  readonly #pending = new Map<number, PromiseWithResolvers<unknown>>()
  readonly #onDone: (done: FetchDone) => void
  #progress: GroupProgress = { done: 0, uploadedBytes: 0 }
  #nextId = 0

  private constructor (onDone: (done: FetchDone) => void) {
    this.#onDone = onDone
    this.#child = fork(WORKER_SCRIPT, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.#child.on('message', (message: WorkerMessage) => { this.#receive(message) })
    this.#child.on('exit', (code, signal) => { this.#failAll(new Error(`worker exited (code ${code}, signal ${signal})`)) })
    onCleanup(async () => { await this.#kill() })
  }

  /** Fork a worker and start its fetchers. */
  static async start (config: GroupConfig, onDone: (done: FetchDone) => void): Promise<RemoteGroup> {
    const group = new RemoteGroup(onDone)
    group.addresses = await group.#call('start', config) as string[]
    return group
  }

  async connect (all: string[]): Promise<void> { await this.#call('connect', all) }
  async fetch (cid: string, t0: number): Promise<void> { await this.#call('fetch', cid, t0) }
  progress (): GroupProgress { return this.#progress }

  async finish (cid: string): Promise<GroupReport> {
    const report = await this.#call('finish', cid) as GroupReport
    this.#progress = { done: report.verified.length, uploadedBytes: report.uploadedBytes }
    return report
  }

  async stop (): Promise<void> {
    if (this.#child.exitCode !== null || !this.#child.connected) return
    await this.#call('stop').catch(() => {})
    await this.#kill()
  }

  async #call (method: WorkerCall['method'], ...args: unknown[]): Promise<unknown> {
    const id = this.#nextId++
    const pending = Promise.withResolvers<unknown>()
    this.#pending.set(id, pending)
    this.#child.send({ id, method, args } satisfies WorkerCall)
    return await pending.promise
  }

  #receive (message: WorkerMessage): void {
    if ('event' in message) {
      if (message.event === 'done') this.#onDone(message.done)
      else this.#progress = message.progress
      return
    }
    const pending = this.#pending.get(message.id)
    this.#pending.delete(message.id)
    if (message.error !== undefined) pending?.reject(new Error(`worker: ${message.error}`))
    else pending?.resolve(message.result)
  }

  #failAll (err: Error): void {
    for (const pending of this.#pending.values()) pending.reject(err)
    this.#pending.clear()
  }

  /** Disconnect (the worker stops its nodes and exits); SIGKILL after 5 s. */
  async #kill (): Promise<void> {
    const child = this.#child
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise(resolve => child.once('exit', resolve))
    if (child.connected) child.disconnect()
    const timer = setTimeout(() => { child.kill('SIGKILL') }, 5_000)
    await exited
    clearTimeout(timer)
  }
}
