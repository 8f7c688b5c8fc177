/**
 * The run stage: a task's run commands as supervised child processes, each
 * `sh -c` in its own process group, restarted per the task's restart policy
 * with exponential backoff, stopped with SIGTERM then SIGKILL.
 */
import { AGENT_DEFAULTS } from '../constants.ts'
import { InvalidOptionError, withDefaults, type LogEntry, type RestartPolicy } from '../core/index.ts'
import {
  createCommandLog, describeExit, groupAlive, signalGroup, spawnCommand, waitFor, within,
  type CommandExit, type CommandLog, type SpawnedCommand
} from './commands.ts'

/** What happened to a run process. */
export interface SupervisorEvent {
  /**
   * `exit`: it exited (also when stopped). `restart`: it was started again
   * (`code`/`signal` of the exit that caused it). `gave-up`: it exited with a
   * failure and stays down (policy `never`). A clean exit the policy does not
   * restart is only an `exit`.
   */
  readonly type: 'exit' | 'restart' | 'gave-up'
  readonly index: number
  readonly command: string
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** State of one run command. */
export interface ProcessStatus {
  readonly index: number
  readonly command: string
  /** Pid (and process group id) of the current or last process. */
  readonly pid: number | undefined
  readonly running: boolean
  /** Times it was restarted. */
  readonly restarts: number
  /** How the last process ended (`at`: ms of the clock). */
  readonly lastExit?: CommandExit & { readonly at: number }
}

/** Outcome of {@link Supervisor.start}; a failure names the command when one failed. */
export type StartResult =
  | { readonly ok: true }
  | { readonly ok: false, readonly error: string, readonly index?: number, readonly command?: string }

/** Options of {@link createSupervisor}. */
export interface SupervisorOptions {
  readonly commands: readonly string[]
  readonly cwd: string
  /** @default process.env */
  readonly env?: NodeJS.ProcessEnv
  readonly uid?: number
  readonly gid?: number
  readonly restart: RestartPolicy
  /** First restart delay; doubles per consecutive restart. @default AGENT_DEFAULTS.restartBackoffMinMs */
  readonly backoffMinMs?: number
  /** @default AGENT_DEFAULTS.restartBackoffMaxMs */
  readonly backoffMaxMs?: number
  /** A process up this long before it exits restarts after `backoffMinMs` again. @default AGENT_DEFAULTS.restartStableMs */
  readonly stableMs?: number
  /** SIGTERM → SIGKILL delay when stopping. @default AGENT_DEFAULTS.stopGraceMs */
  readonly graceMs?: number
  /** A failure this soon after start fails the start. @default AGENT_DEFAULTS.runSettleMs */
  readonly settleMs?: number
  /** @default AGENT_DEFAULTS.maxLineBytes */
  readonly maxLineBytes?: number
  /** @default AGENT_DEFAULTS.outputDrainMs */
  readonly drainMs?: number
  /** @default AGENT_DEFAULTS.reapTimeoutMs */
  readonly reapTimeoutMs?: number
  /** Output lines and an `exit status N` / `killed by SIGTERM` line per exit. Must not throw. */
  readonly onLine: (entry: LogEntry) => void
  readonly onEvent?: (event: SupervisorEvent) => void
  /** ms since the epoch, for `Time` and uptimes. @default Date.now */
  readonly clock?: () => number
}

/** Supervised run commands. Single use: once stopped, it does not start again. */
export interface Supervisor {
  /**
   * Spawn every command; resolves `settleMs` later with `ok` if none exited
   * with a failure meanwhile (a clean exit is fine: one-shot programs), else
   * (or when `signal` aborts first) stops everything it started and resolves
   * with the error. Idempotent: later calls get the same result.
   */
  start(signal?: AbortSignal): Promise<StartResult>
  /**
   * SIGTERM to every process group, SIGKILL to those still there after
   * `graceMs`; resolves when all are gone (or `reapTimeoutMs` after the
   * SIGKILL). No restart happens afterwards. Idempotent.
   */
  stop(): Promise<void>
  /** SIGKILL to every process group, synchronously: for a process `exit` handler. Restarts nothing afterwards. */
  killAll(): void
  status(): ProcessStatus[]
}

/** How often the process groups of exited commands are checked for being empty (a bookkeeping interval, not a tunable). */
const PRUNE_INTERVAL_MS = 1_000

/** Restart delay after `streak` consecutive restarts: `min · 2^streak`, capped at `max`. */
export function restartDelayMs (streak: number, minMs: number, maxMs: number): number {
  return Math.min(maxMs, minMs * 2 ** Math.min(streak, 52))
}

/** Whether `policy` restarts a process that exited with (`failed`) or without a failure. */
export function shouldRestart (policy: RestartPolicy, failed: boolean): boolean {
  return policy === 'always' || (policy === 'on-failure' && failed)
}

interface Slot {
  readonly index: number
  readonly command: string
  readonly log: CommandLog
  proc: SpawnedCommand | undefined
  /** Resolves once the current process's exit is handled. */
  handled: Promise<void>
  running: boolean
  startedAt: number
  restarts: number
  /** Consecutive restarts of processes that did not stay up `stableMs`. */
  streak: number
  lastExit: (CommandExit & { at: number }) | undefined
  timer: NodeJS.Timeout | undefined
  /** The process was running when the supervisor was stopped: its exit is expected, not an error. */
  stopped: boolean
}

type State = 'idle' | 'starting' | 'running' | 'stopped'

type Resolved = Required<Omit<SupervisorOptions, 'env' | 'uid' | 'gid' | 'onEvent'>> & SupervisorOptions

function resolveOptions (options: SupervisorOptions): Resolved {
  const opts = withDefaults({
    backoffMinMs: AGENT_DEFAULTS.restartBackoffMinMs,
    backoffMaxMs: AGENT_DEFAULTS.restartBackoffMaxMs,
    stableMs: AGENT_DEFAULTS.restartStableMs,
    graceMs: AGENT_DEFAULTS.stopGraceMs,
    settleMs: AGENT_DEFAULTS.runSettleMs,
    maxLineBytes: AGENT_DEFAULTS.maxLineBytes,
    drainMs: AGENT_DEFAULTS.outputDrainMs,
    reapTimeoutMs: AGENT_DEFAULTS.reapTimeoutMs,
    clock: Date.now
  }, options)
  if (!(opts.backoffMinMs > 0) || !(opts.backoffMaxMs >= opts.backoffMinMs)) {
    throw new InvalidOptionError(`restart backoff needs 0 < backoffMinMs <= backoffMaxMs, got ${opts.backoffMinMs} and ${opts.backoffMaxMs}`)
  }
  return opts
}

/**
 * Create a supervisor for `options.commands`. Policies: `never` leaves an
 * exited process down; `on-failure` restarts it after a non-zero exit or a
 * signal; `always` after any exit. Before a restart, whatever the previous
 * process left in its group is killed. Processes a command leaves behind in
 * its group (a daemonising one-shot) are stopped with the rest.
 * @throws {InvalidOptionError} inconsistent backoff bounds.
 */
export function createSupervisor (options: SupervisorOptions): Supervisor {
  const opts = resolveOptions(options)
  const slots: Slot[] = opts.commands.map((command, index) => ({
    index, command, log: createCommandLog(command, opts), proc: undefined, handled: Promise.resolve(),
    running: false, startedAt: 0, restarts: 0, streak: 0, lastExit: undefined, timer: undefined, stopped: false
  }))
  /**
   * Process groups that may still hold processes: those of running commands,
   * and of exited ones that left processes behind. Pruned as they empty, so
   * that a group id freed and reused by an unrelated group is not signalled.
   */
  const groups = new Set<number>()
  let pruner: NodeJS.Timeout | undefined
  const prune = (): void => { for (const pgid of groups) if (!groupAlive(pgid)) groups.delete(pgid) }
  let state: State = 'idle'
  let settle: ((result: StartResult) => void) | undefined
  let starting: Promise<StartResult> | undefined
  let stopping: Promise<void> | undefined

  const emit = (type: SupervisorEvent['type'], slot: Slot, exit: CommandExit): void => {
    opts.onEvent?.({ type, index: slot.index, command: slot.command, code: exit.code, signal: exit.signal })
  }

  /** Settle a pending start; a failure stops everything. */
  const finishStart = (result: StartResult): void => {
    const resolve = settle
    if (resolve === undefined) return
    settle = undefined
    if (result.ok) state = 'running'
    else if (state !== 'stopped') void stop()
    resolve(result)
  }

  const launch = (slot: Slot): void => {
    const proc = spawnCommand(slot.command, { ...opts, log: slot.log })
    slot.proc = proc
    slot.running = proc.pid !== undefined
    slot.startedAt = opts.clock()
    if (proc.pid !== undefined) groups.add(proc.pid)
    pruner ??= setInterval(prune, PRUNE_INTERVAL_MS).unref()
    void proc.exit.then(exit => {
      slot.running = false
      if (state === 'starting' && exit.code !== 0) {
        finishStart({ ok: false, index: slot.index, command: slot.command, error: `stages.run[${slot.index}] (${JSON.stringify(slot.command)}): ${describeExit(exit)}` })
      }
    })
    slot.handled = proc.done.then(exit => { onExit(slot, proc, exit) })
  }

  const onExit = (slot: Slot, proc: SpawnedCommand, exit: CommandExit): void => {
    const failed = exit.code !== 0
    slot.lastExit = { ...exit, at: opts.clock() }
    if (proc.pid !== undefined && !groupAlive(proc.pid)) groups.delete(proc.pid)
    slot.log.note(describeExit(exit), failed && !slot.stopped)
    emit('exit', slot, exit)
    if (state !== 'starting' && state !== 'running') return
    if (!shouldRestart(opts.restart, failed)) {
      if (failed) emit('gave-up', slot, exit)
      return
    }
    // Whatever the process left in its group must not outlive it when it is restarted. Killed now,
    // while those processes still hold the group id (it cannot have been reused by another group).
    if (proc.pid !== undefined && groups.has(proc.pid)) signalGroup(proc.pid, 'SIGKILL')
    if (slot.lastExit.at - slot.startedAt >= opts.stableMs) slot.streak = 0
    const delay = restartDelayMs(slot.streak++, opts.backoffMinMs, opts.backoffMaxMs)
    slot.timer = setTimeout(() => { slot.timer = undefined; relaunch(slot, exit) }, delay)
  }

  const relaunch = (slot: Slot, exit: CommandExit): void => {
    if (state !== 'starting' && state !== 'running') return
    slot.restarts++
    emit('restart', slot, exit)
    launch(slot)
  }

  /** SIGTERM, then SIGKILL after the grace period; resolves when the group is gone (or given up on). */
  const terminate = async (pgid: number): Promise<void> => {
    if (signalGroup(pgid, 'SIGTERM')) {
      const gone = (): boolean => !groupAlive(pgid)
      if (!await waitFor(gone, opts.graceMs)) {
        signalGroup(pgid, 'SIGKILL')
        await waitFor(gone, opts.reapTimeoutMs)
      }
    }
    groups.delete(pgid)
  }

  const halt = (): void => {
    state = 'stopped'
    clearInterval(pruner)
    finishStart({ ok: false, error: 'stopped' })
    for (const slot of slots) {
      clearTimeout(slot.timer)
      slot.timer = undefined
      slot.stopped ||= slot.running
    }
  }

  const stop = async (): Promise<void> => {
    stopping ??= (async () => {
      halt()
      await Promise.all([...groups].map(terminate))
      await within(Promise.all(slots.map(async slot => { await slot.handled })), opts.drainMs + opts.reapTimeoutMs)
    })()
    await stopping
  }

  const start = async (signal?: AbortSignal): Promise<StartResult> => {
    starting ??= (async () => {
      if (state !== 'idle') return { ok: false, error: 'supervisor was stopped' }
      if (signal?.aborted === true) return { ok: false, error: 'aborted' }
      state = 'starting'
      const onAbort = (): void => { finishStart({ ok: false, error: 'aborted' }) }
      let timer: NodeJS.Timeout | undefined
      const result = await new Promise<StartResult>(resolve => {
        settle = resolve
        signal?.addEventListener('abort', onAbort, { once: true })
        timer = setTimeout(() => { finishStart({ ok: true }) }, opts.settleMs)
        for (const slot of slots) if (state === 'starting') launch(slot)
      })
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      if (!result.ok) await stop()
      return result
    })()
    return await starting
  }

  return {
    start,
    stop,
    killAll () {
      halt()
      for (const pgid of groups) signalGroup(pgid, 'SIGKILL')
    },
    status: () => slots.map(slot => ({
      index: slot.index,
      command: slot.command,
      pid: slot.proc?.pid,
      running: slot.running,
      restarts: slot.restarts,
      ...(slot.lastExit !== undefined ? { lastExit: { ...slot.lastExit } } : {})
    }))
  }
}
