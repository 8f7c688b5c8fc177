/**
 * Parent side of a worker process: a {@link GroupHandle} whose fetchers run
 * in a forked `bench/worker.ts`, driven over IPC by a {@link WorkerProcess}.
 */
import { fileURLToPath } from 'node:url'
import { WorkerProcess } from './ipc.ts'
import type { FetchDone, GroupConfig, GroupHandle, GroupProgress, GroupReport } from './group.ts'

const WORKER_SCRIPT = fileURLToPath(new URL('./worker.ts', import.meta.url))

/** Fetchers running in a child process. */
export class RemoteGroup implements GroupHandle {
  addresses: string[] = []
  readonly #worker: WorkerProcess
  #progress: GroupProgress = { done: 0, uploadedBytes: 0 }

  private constructor (onDone: (done: FetchDone) => void) {
    this.#worker = new WorkerProcess(WORKER_SCRIPT, (event, data) => {
      if (event === 'done') onDone(data as FetchDone)
      else if (event === 'progress') this.#progress = data as GroupProgress
    })
  }

  /** Fork a worker and start its fetchers. */
  static async start (config: GroupConfig, onDone: (done: FetchDone) => void): Promise<RemoteGroup> {
    const group = new RemoteGroup(onDone)
    group.addresses = await group.#worker.call('start', config) as string[]
    return group
  }

  async connect (all: string[]): Promise<void> { await this.#worker.call('connect', all) }
  async fetch (cid: string, t0: number): Promise<void> { await this.#worker.call('fetch', cid, t0) }
  progress (): GroupProgress { return this.#progress }

  async finish (cid: string): Promise<GroupReport> {
    const report = await this.#worker.call('finish', cid) as GroupReport
    this.#progress = { done: report.verified.length, uploadedBytes: report.uploadedBytes }
    return report
  }

  /** Stop the fetchers, then disconnect (the worker exits); SIGKILL after 5 s. */
  async stop (): Promise<void> {
    if (!this.#worker.running) return
    await this.#worker.call('stop').catch(() => {})
    await this.#worker.kill(5_000)
  }
}
