/**
 * The task pipeline of one device: Transfer (fetch and verify the package
 * from the swarm), Install (unpack into a staging directory, run the install
 * commands, record the tree, move it into `releases/<taskId>`), Run (stop the
 * previous release's processes, start the new ones supervised, switch
 * `current`). One task at a time; a newer task supersedes one in progress.
 * Nothing half-installed is ever activated: a failed install or run leaves
 * (or puts back) the previous release running.
 */
import { mkdir, readdir, readlink, rename, rm, stat, statfs } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { removeUnpacked, unpackStream } from '../archive/index.ts'
import { readPackage, type ChunkExchange, type ChunkStore } from '../chunks/index.ts'
import { AGENT_DEFAULTS, AGENT_RUN_DEFAULTS } from '../constants.ts'
import { formatBytes, type Stage, type StopBody, type TaskBody } from '../core/index.ts'
import { runCommands } from './commands.ts'
import { hashTree, readCurrent, readReleaseManifest, switchCurrent, verifyTree, writeReleaseManifest, type VerifyResult } from './release.ts'
import type { Reporter } from './reporter.ts'
import type { AgentState, TaskEntry, TaskPhase } from './state.ts'
import { createSupervisor, type Supervisor } from './supervisor.ts'
import { progressGate } from './progress-gate.ts'

/** Where the agent logs its own doings (pino-compatible). */
export interface AgentLogger {
  info (obj: object | string, msg?: string): void
  warn (obj: object | string, msg?: string): void
  error (obj: object | string, msg?: string): void
}

/** Tunables of the pipeline; defaults from AGENT_DEFAULTS and AGENT_RUN_DEFAULTS. */
export type ProcessorSettings = typeof AGENT_DEFAULTS & typeof AGENT_RUN_DEFAULTS & {
  /** Run install and run commands as this user/group (when the agent runs as root). */
  readonly uid?: number
  readonly gid?: number
}

/** What the processor works with. */
export interface ProcessorDeps {
  readonly dataDir: string
  readonly state: AgentState
  readonly store: ChunkStore
  readonly exchange: ChunkExchange
  readonly reporter: Reporter
  readonly settings: ProcessorSettings
  readonly clock: () => number
  readonly log: AgentLogger
}

/** A stage that did not succeed, with the status to report. */
class StageFailure extends Error {
  readonly stage: Stage
  readonly status: 'FAILURE' | 'DECLINED' | 'STOPPED'
  constructor (stage: Stage, status: 'FAILURE' | 'DECLINED' | 'STOPPED', message: string) {
    super(message)
    this.stage = stage
    this.status = status
  }
}

/** Why a task in progress was aborted: a newer task for this device arrived. */
class SupersededError extends Error {
  constructor (by: string) {
    super(`superseded by task ${by}`)
  }
}

interface Active { readonly id: string, readonly controller: AbortController, readonly done: Promise<void>, stage: Stage }
interface Running { readonly id: string, readonly supervisor: Supervisor }

/** Runs tasks through Transfer, Install and Run on this device. */
export class TaskProcessor {
  readonly #deps: ProcessorDeps
  #active: Active | undefined
  #queue: Promise<void> = Promise.resolve()
  #running: Running | undefined
  #closed = false

  constructor (deps: ProcessorDeps) {
    this.#deps = deps
  }

  /** The id of the task in progress or running, if any. */
  get currentTask (): string | undefined {
    return this.#active?.id ?? this.#running?.id
  }

  /** Start `entry` once the task before it is done; a task in progress is superseded. */
  submit (entry: TaskEntry): Promise<void> {
    this.#active?.controller.abort(new SupersededError(entry.signed.body.id))
    const run = this.#queue.then(async () => { if (!this.#closed) await this.#process(entry) })
    this.#queue = run.catch(() => {})
    return run
  }

  /** A stop order: abort the task if in progress, stop its processes if running. */
  async stop (order: StopBody): Promise<void> {
    const { reporter, state } = this.#deps
    if (this.#active?.id === order.taskId) {
      this.#active.controller.abort(new StageFailure(this.#active.stage, 'STOPPED', 'stopped by the operator'))
      return
    }
    if (this.#running?.id !== order.taskId) return
    await this.#running.supervisor.stop()
    this.#running = undefined
    await state.update(data => ({ ...data, pgids: [] }))
    await state.setTask(order.taskId, { phase: 'stopped', outcome: 'RUN-STOPPED' })
    reporter.note(order.taskId, 'run', 'stopped by the operator', false, false)
    reporter.ack(order.taskId, 'run', 'STOPPED')
  }

  /**
   * After a restart: kill what a crashed agent left running, restart the
   * current release if it still verifies, and resume an interrupted task.
   */
  async resume (): Promise<void> {
    const { state, dataDir, settings } = this.#deps
    // /proc shows absolute paths; the data directory may have been given as a relative one.
    await killLeftovers(state.data.pgids ?? [], resolve(dataDir, settings.releasesDir))
    await killStrays([resolve(dataDir, 'staging'), resolve(dataDir, settings.releasesDir)])
    const currentId = state.data.current ?? await readCurrent(this.#deps.dataDir)
    const current = currentId == null ? undefined : state.data.tasks[currentId]
    if (current != null && current.phase === 'running') await this.#restartRelease(current, true)
    const interrupted = Object.values(state.data.tasks)
      .filter(e => (e.phase === 'accepted' || e.phase === 'transferred' || e.phase === 'installed') && e.signed.body.id !== currentId)
      .sort((a, b) => a.signed.body.seq - b.signed.body.seq)
    const newest = interrupted.at(-1)
    for (const entry of interrupted.slice(0, -1)) await state.setTask(entry.signed.body.id, { phase: 'superseded' })
    if (newest != null && newest.signed.body.expiresAt > this.#deps.clock()) void this.submit(newest)
  }

  /** Stop everything: the task in progress is aborted, the running programs are stopped. */
  async close (): Promise<void> {
    this.#closed = true
    this.#active?.controller.abort(new Error('agent stopping'))
    await this.#queue
    await this.#running?.supervisor.stop()
    this.#running = undefined
  }

  /** Synchronous last resort for a process `exit` handler. */
  killAll (): void {
    this.#running?.supervisor.killAll()
  }

  async #process (entry: TaskEntry): Promise<void> {
    const body = entry.signed.body
    const controller = new AbortController()
    const active: Active = { id: body.id, controller, done: Promise.resolve(), stage: 'transfer' }
    this.#active = active
    const { reporter, state } = this.#deps
    try {
      reporter.note(body.id, 'transfer', `received task ${body.id} (seq ${body.seq})`, false, body.debug)
      await this.#checkDisk(body)
      if (entry.phase === 'accepted') await this.#transfer(body, controller.signal)
      active.stage = 'install'
      if (entry.phase !== 'installed' || !await this.#releaseIntact(body)) await this.#install(body, controller.signal)
      active.stage = 'run'
      await this.#run(body, controller.signal)
    } catch (err) {
      const failure = asFailure(err, active.stage, controller.signal)
      const superseded = controller.signal.reason instanceof SupersededError
      const phase: TaskPhase = superseded ? 'superseded' : failure.status === 'DECLINED' ? 'declined' : failure.status === 'STOPPED' ? 'stopped' : 'failed'
      // Reported before it is recorded: on a full disk the state file cannot be written, and the manager must still hear.
      reporter.note(body.id, failure.stage, failure.message, failure.status !== 'STOPPED', body.debug)
      reporter.ack(body.id, failure.stage, phase === 'superseded' ? 'STOPPED' : failure.status, { error: failure.message })
      await state.setTask(body.id, { phase, outcome: `${failure.stage.toUpperCase()}-${failure.status}` }).catch((err: Error) => {
        this.#deps.log.error({ task: body.id, err: err.message }, 'could not record the task outcome')
      })
      // The error alone rarely explains a failed command: its last lines go with it (debug tasks sent them all already).
      if (failure.status === 'FAILURE' && !body.debug) await reporter.sendLogs(body.id, failure.stage, this.#deps.settings.failureLogLines)
      this.#deps.log.warn({ task: body.id, stage: failure.stage, status: failure.status, error: failure.message }, 'task did not complete')
    } finally {
      if (this.#active === active) this.#active = undefined
    }
  }

  async #checkDisk (body: TaskBody): Promise<void> {
    if (body.package == null) return
    const free = await freeDiskBytes(this.#deps.dataDir)
    const need = body.package.bytes * 3 + this.#deps.settings.diskMarginBytes
    if (free < need) throw new StageFailure('transfer', 'DECLINED', `not enough disk: the task needs ${formatBytes(need)}, ${formatBytes(free)} free`)
  }

  async #transfer (body: TaskBody, signal: AbortSignal): Promise<void> {
    const { reporter, exchange, settings } = this.#deps
    const total = body.package?.bytes ?? 0
    reporter.ack(body.id, 'transfer', 'STARTED', { progress: { bytes: 0, total } })
    if (body.package != null) {
      const due = progressGate(settings.progressIntervalMs, settings.progressStepShare)
      const onProgress = (p: { bytesDone: number, bytesTotal: number }): void => {
        if (!due(this.#deps.clock(), p.bytesDone, p.bytesTotal)) return
        reporter.ack(body.id, 'transfer', 'STARTED', { progress: { bytes: p.bytesDone, total: p.bytesTotal } })
      }
      const result = await this.#fetchWithRetries(body.package.cid, signal, onProgress)
      const peers = Object.keys(result.bytesByPeer).length
      const { badPeers } = exchange.stats()
      const refused = badPeers > 0 ? `; ${badPeers} peer(s) refused for sending bad data` : ''
      reporter.note(body.id, 'transfer', `fetched ${formatBytes(result.fetchedBytes)} of ${formatBytes(total)} from ${peers} peer(s) in ${result.seconds.toFixed(1)} s; every chunk verified${refused}`, false, body.debug)
      if (badPeers > 0) this.#deps.log.warn({ task: body.id, badPeers }, 'peers refused for sending bad data')
    } else {
      reporter.note(body.id, 'transfer', 'nothing to transfer', false, body.debug)
    }
    await this.#deps.state.setTask(body.id, { phase: 'transferred' })
    reporter.ack(body.id, 'transfer', 'SUCCESS', { progress: { bytes: total, total } })
  }

  async #fetchWithRetries (cid: string, signal: AbortSignal, onProgress: (p: { bytesDone: number, bytesTotal: number }) => void): ReturnType<ChunkExchange['fetch']> {
    const { exchange, settings } = this.#deps
    for (let attempt = 1; ; attempt++) {
      try {
        return await exchange.fetch(cid, { signal, onProgress })
      } catch (err) {
        // A full disk does not empty itself between attempts: fail at once.
        if (isDiskFull(err)) throw new StageFailure('transfer', 'FAILURE', `no space left on device while storing the package: ${(err as Error).message}`)
        if (signal.aborted || attempt >= settings.transferAttempts) throw new StageFailure('transfer', 'FAILURE', (err as Error).message)
        this.#deps.log.warn({ cid, attempt, err: (err as Error).message }, 'transfer failed; trying again')
        await sleep(settings.transferRetryMs, signal)
      }
    }
  }

  async #install (body: TaskBody, signal: AbortSignal): Promise<void> {
    const { reporter, dataDir, settings, store } = this.#deps
    reporter.ack(body.id, 'install', 'STARTED')
    const staging = join(dataDir, 'staging', body.id)
    await rm(staging, { recursive: true, force: true })
    await mkdir(staging, { recursive: true })
    try {
      if (body.package != null) {
        // Straight from the store, every chunk verified again as it is read: no copy of the package on disk.
        try {
          await unpackStream(readPackage(store, body.package.cid, { signal }), staging, { signal })
        } catch (err) {
          throw new StageFailure('install', 'FAILURE', `unpacking the package failed: ${(err as Error).message}`)
        }
      }
      const result = await runCommands(body.stages.install, {
        cwd: staging, env: this.#env(body, staging), uid: settings.uid, gid: settings.gid, timeoutMs: settings.commandTimeoutMs, signal,
        maxLineBytes: settings.maxLineBytes, clock: this.#deps.clock,
        onLine: entry => { reporter.log(body.id, 'install', entry, body.debug) }
      })
      if (!result.ok) throw signal.aborted ? signal.reason : new StageFailure('install', 'FAILURE', `stages.install[${result.index}] (${result.command}): ${result.error}`)
      const release = join(dataDir, settings.releasesDir, body.id)
      await mkdir(join(dataDir, settings.releasesDir), { recursive: true })
      await writeReleaseManifest(`${release}.manifest.json`, await hashTree(staging, { signal }))
      await rm(release, { recursive: true, force: true })
      await rename(staging, release)
    } finally {
      await removeUnpacked(staging) // after a failed unpack, writes it started may still be landing
    }
    await this.#deps.state.setTask(body.id, { phase: 'installed' })
    reporter.ack(body.id, 'install', 'SUCCESS')
  }

  async #run (body: TaskBody, signal: AbortSignal): Promise<void> {
    const { reporter, state } = this.#deps
    reporter.ack(body.id, 'run', 'STARTED')
    const previous = this.#running
    if (previous != null) {
      reporter.note(body.id, 'run', `stopping the processes of task ${previous.id}`, false, body.debug)
      await previous.supervisor.stop()
      this.#running = undefined
    }
    const started = await this.#start(body, signal)
    if (!started.ok) {
      if (previous != null) await this.#restartRelease(state.data.tasks[previous.id], false)
      throw signal.aborted ? signal.reason : new StageFailure('run', 'FAILURE', started.error)
    }
    await switchCurrent(this.#deps.dataDir, body.id)
    await state.update(data => ({ ...data, current: body.id }))
    await state.setTask(body.id, { phase: 'running', outcome: 'RUN-SUCCESS' })
    reporter.ack(body.id, 'run', 'SUCCESS')
    reporter.retain([body.id])
    await this.#pruneReleases(body.id)
  }

  /** Start the run commands of an installed release; on success it becomes `#running`. */
  async #start (body: TaskBody, signal?: AbortSignal): Promise<{ ok: true } | { ok: false, error: string }> {
    const { settings, reporter } = this.#deps
    const releaseDir = join(this.#deps.dataDir, settings.releasesDir, body.id)
    const cwd = join(releaseDir, body.workdir ?? '.')
    if (!await isDirectory(cwd)) return { ok: false, error: `run.workdir ${JSON.stringify(body.workdir)} is not a directory of the release` }
    const supervisor = createSupervisor({
      commands: body.stages.run, cwd, env: this.#env(body, releaseDir), uid: settings.uid, gid: settings.gid, restart: body.restart,
      backoffMinMs: settings.restartBackoffMinMs, backoffMaxMs: settings.restartBackoffMaxMs, stableMs: settings.restartStableMs,
      graceMs: settings.stopGraceMs, settleMs: settings.runSettleMs, maxLineBytes: settings.maxLineBytes, clock: this.#deps.clock,
      onLine: entry => { reporter.log(body.id, 'run', entry, body.debug) },
      onEvent: event => { if (event.type === 'restart') void this.#savePgids(supervisor) }
    })
    const starting = supervisor.start(signal)
    // The processes exist as soon as start() is called: recorded before they settle, so that an
    // agent killed meanwhile ends them after its restart instead of running the release twice.
    await this.#savePgids(supervisor)
    const result = await starting
    if (!result.ok) {
      await this.#deps.state.update(data => ({ ...data, pgids: [] }))
      return { ok: false, error: result.error }
    }
    this.#running = { id: body.id, supervisor }
    await this.#savePgids(supervisor)
    return { ok: true }
  }

  /**
   * Start an installed release again (agent restart, or after a newer task
   * failed to run), if its files still verify; report either way.
   */
  async #restartRelease (entry: TaskEntry | undefined, report: boolean): Promise<void> {
    if (entry == null) return
    const body = entry.signed.body
    const { reporter } = this.#deps
    const verified = await this.#verifyRelease(body)
    if (!verified.ok) {
      const error = `release ${body.id} failed verification, not started: ${verified.problems.slice(0, 5).join('; ')}`
      this.#deps.log.error({ task: body.id, problems: verified.problems }, 'release failed verification')
      await this.#deps.state.setTask(body.id, { phase: 'failed', outcome: 'RUN-FAILURE' })
      reporter.note(body.id, 'run', error, true, body.debug)
      reporter.ack(body.id, 'run', 'FAILURE', { error })
      return
    }
    const started = await this.#start(body)
    reporter.note(body.id, 'run', started.ok ? `release ${body.id} verified and restarted` : `release ${body.id} did not restart: ${started.error}`, !started.ok, body.debug)
    if (report || !started.ok) reporter.ack(body.id, 'run', started.ok ? 'SUCCESS' : 'FAILURE', started.ok ? {} : { error: started.error })
  }

  /** Check an installed release against the manifest recorded at install. */
  async #verifyRelease (body: TaskBody): Promise<VerifyResult> {
    const release = join(this.#deps.dataDir, this.#deps.settings.releasesDir, body.id)
    return await readReleaseManifest(`${release}.manifest.json`)
      .then(async manifest => await verifyTree(release, manifest))
      .catch(err => ({ ok: false as const, problems: [(err as Error).message] }))
  }

  /** Whether an installed release resumed after a restart may be run as it is (else it is installed again). */
  async #releaseIntact (body: TaskBody): Promise<boolean> {
    const verified = await this.#verifyRelease(body)
    if (!verified.ok) this.#deps.log.warn({ task: body.id, problems: verified.problems.slice(0, 5) }, 'installed release does not verify; installing it again')
    return verified.ok
  }

  async #savePgids (supervisor: Supervisor): Promise<void> {
    const pgids = supervisor.status().filter(p => p.running && p.pid != null).map(p => p.pid!)
    await this.#deps.state.update(data => ({ ...data, pgids }))
  }

  /** Environment of install and run commands: the allow-list, plus POLLEN_* facts. */
  #env (body: TaskBody, releaseDir: string): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {}
    for (const name of this.#deps.settings.envAllowList) if (process.env[name] != null) env[name] = process.env[name]
    return { ...env, POLLEN_TASK_ID: body.id, POLLEN_TARGET_ID: this.#deps.state.data.id, POLLEN_RELEASE_DIR: releaseDir }
  }

  /** Delete releases other than the running one and the newest `keepReleases` before it. */
  async #pruneReleases (runningId: string): Promise<void> {
    const { dataDir, settings, state } = this.#deps
    const dir = join(dataDir, settings.releasesDir)
    const bySeq = (id: string): number => state.data.tasks[id]?.signed.body.seq ?? 0
    const names = (await readdir(dir).catch(() => [] as string[])).filter(n => !n.endsWith('.manifest.json') && n !== runningId)
    for (const name of names.sort((a, b) => bySeq(b) - bySeq(a)).slice(settings.keepReleases)) {
      await rm(join(dir, name), { recursive: true, force: true })
      await rm(join(dir, `${name}.manifest.json`), { force: true })
    }
  }
}

function asFailure (err: unknown, stage: Stage, signal: AbortSignal): StageFailure {
  if (err instanceof StageFailure) return err
  if (signal.aborted && signal.reason instanceof StageFailure) return signal.reason
  if (signal.aborted) return new StageFailure(stage, 'STOPPED', (signal.reason as Error)?.message ?? 'aborted')
  if (isDiskFull(err)) return new StageFailure(stage, 'FAILURE', `no space left on device during ${stage}: ${(err as Error).message}`)
  return new StageFailure(stage, 'FAILURE', (err as Error).message)
}

/** Whether an error (or one it was caused by) is ENOSPC; the chunk index reports it only in its message. */
function isDiskFull (err: unknown): boolean {
  for (let e = err as (Error & { code?: unknown }) | undefined, depth = 0; e != null && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.code === 'ENOSPC' || /ENOSPC|no space left/i.test(String(e.message))) return true
  }
  return false
}

async function freeDiskBytes (dir: string): Promise<number> {
  const stats = await statfs(dir)
  return Number(stats.bavail) * Number(stats.bsize)
}

/**
 * Kill the process groups a crashed agent left running. Only groups whose
 * leader still works inside our releases directory: after a reboot the same
 * numbers may belong to unrelated processes.
 */
async function killLeftovers (pgids: readonly number[], releasesDir: string): Promise<void> {
  for (const pgid of pgids) {
    const cwd = await readlink(`/proc/${pgid}/cwd`).catch(() => undefined)
    if (cwd == null || !cwd.startsWith(releasesDir)) continue
    try { process.kill(-pgid, 'SIGKILL') } catch {}
  }
}

/**
 * Kill what a crashed agent left running in its own directories: any
 * process working in the staging area (an interrupted install) or in a
 * release (including one started just before the crash, before its process
 * groups were recorded). Linux only (/proc); elsewhere a no-op.
 */
async function killStrays (dirs: readonly string[]): Promise<void> {
  const pids = await readdir('/proc').catch(() => [] as string[])
  for (const pid of pids.filter(name => /^\d+$/.test(name) && Number(name) !== process.pid)) {
    const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => undefined)
    if (cwd == null || !dirs.some(dir => cwd === dir || cwd.startsWith(`${dir}/`))) continue
    try { process.kill(Number(pid), 'SIGKILL') } catch {}
  }
}

async function sleep (ms: number, signal: AbortSignal): Promise<void> {
  await new Promise<void>(resolve => {
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
    function done (): void {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
  })
}

async function isDirectory (path: string): Promise<boolean> {
  return await stat(path).then(info => info.isDirectory(), () => false)
}
