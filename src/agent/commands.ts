/**
 * Running shell commands for the agent: the install stage's commands one by
 * one ({@link runCommands}), and the plumbing the run stage's supervisor
 * shares with it: spawning `sh -c` in its own process group, splitting its
 * output into {@link LogEntry} lines (the CPSwarm Appendix B log format) and
 * signalling or waiting for a whole process group.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import type { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { AGENT_DEFAULTS } from '../constants.ts'
import { withDefaults, type LogEntry } from '../core/index.ts'

/** Longest delay `setTimeout` honours (about 24.8 days); longer timeouts are clamped to it. */
const MAX_TIMER_MS = 2 ** 31 - 1

/** Splits a byte stream into lines. */
export interface LineSplitter {
  /** Feed bytes; every complete line is emitted. */
  write(chunk: Uint8Array): void
  /** Emit the partial last line, if any. Idempotent; later writes are ignored. */
  end(): void
}

/**
 * Split bytes at `\n` (a trailing `\r` is dropped) and decode them as UTF-8.
 * A line reaching `maxLineBytes` is emitted at once, cut there (at a
 * character boundary), and the rest of it up to the next `\n` is discarded,
 * so memory stays bounded whatever a program prints.
 */
export function createLineSplitter (maxLineBytes: number, emit: (line: string) => void): LineSplitter {
  let parts: Buffer[] = []
  let pending = 0
  let cut = false
  let ended = false
  const take = (bytes: Uint8Array): void => {
    if (cut || bytes.length === 0) return
    const room = maxLineBytes - pending
    parts.push(Buffer.from(bytes.subarray(0, room)))
    pending += Math.min(room, bytes.length)
    if (bytes.length <= room) return
    emit(utf8Prefix(Buffer.concat(parts)).toString('utf8'))
    parts = []
    pending = 0
    cut = true
  }
  const newline = (): void => {
    if (!cut) emit(decodeLine(Buffer.concat(parts)))
    parts = []
    pending = 0
    cut = false
  }
  return {
    write (chunk) {
      if (ended) return
      for (let from = 0; ;) {
        const at = chunk.indexOf(10, from)
        if (at < 0) { take(chunk.subarray(from)); return }
        take(chunk.subarray(from, at))
        newline()
        from = at + 1
      }
    },
    end () {
      if (ended) return
      ended = true
      if (!cut && pending > 0) emit(decodeLine(Buffer.concat(parts)))
      parts = []
    }
  }
}

function decodeLine (bytes: Buffer): string {
  const text = bytes.toString('utf8')
  return text.endsWith('\r') ? text.slice(0, -1) : text
}

/** The longest prefix of `bytes` that does not end inside a UTF-8 sequence. */
function utf8Prefix (bytes: Buffer): Buffer {
  let lead = bytes.length - 1
  while (lead >= 0 && bytes.length - lead <= 3 && (bytes[lead]! & 0xc0) === 0x80) lead--
  if (lead < 0) return bytes
  const byte = bytes[lead]!
  const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1
  return need > bytes.length - lead ? bytes.subarray(0, lead) : bytes
}

/** The log of one command: its output streams and notes, numbered together. */
export interface CommandLog {
  /** A fresh splitter for one output stream of one run of the command (`error`: stderr). */
  stream(error: boolean): LineSplitter
  /** Report a line that is not output, such as `exit status 0`. */
  note(output: string, error: boolean): void
}

/** Options of {@link createCommandLog}. */
export interface CommandLogOptions {
  readonly onLine: (entry: LogEntry) => void
  readonly maxLineBytes: number
  /** ms since the epoch. */
  readonly clock: () => number
}

/**
 * Log of one command: every line becomes `{Command, Output, Error, LineNum,
 * Time}`, `LineNum` counting from 1 over all of the command's lines (stdout,
 * stderr and notes, in the order they arrive), `Time` in whole seconds.
 */
export function createCommandLog (command: string, options: CommandLogOptions): CommandLog {
  let lineNum = 0
  const note = (output: string, error: boolean): void => {
    options.onLine({ Command: command, Output: output, Error: error, LineNum: ++lineNum, Time: Math.floor(options.clock() / 1000) })
  }
  return { note, stream: error => createLineSplitter(options.maxLineBytes, line => { note(line, error) }) }
}

/** How a command ended: exit code, or the signal that killed it, or why it could not start. */
export interface CommandExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  /** Set when the shell could not be started. */
  readonly error?: string
}

/** `exit status 3`, `killed by SIGTERM` or `failed to start: …`. */
export function describeExit (exit: CommandExit): string {
  if (exit.error !== undefined) return exit.error
  return exit.signal != null ? `killed by ${exit.signal}` : `exit status ${exit.code ?? -1}`
}

/** Options of {@link spawnCommand}. */
export interface SpawnCommandOptions {
  readonly cwd: string
  readonly env?: NodeJS.ProcessEnv
  readonly uid?: number
  readonly gid?: number
  readonly log: CommandLog
  /** After the shell exits, how long its output pipes may stay open. */
  readonly drainMs: number
}

/** A command started by {@link spawnCommand}. */
export interface SpawnedCommand {
  /** Pid of the shell, which is also the id of its process group; undefined when it could not start. */
  readonly pid: number | undefined
  /** Resolves when the shell exits (or fails to start). */
  readonly exit: Promise<CommandExit>
  /**
   * Resolves after {@link exit} once the output is all reported: when the
   * pipes close, or `drainMs` after the exit (a process the command left
   * behind may hold them open), whichever comes first.
   */
  readonly done: Promise<CommandExit>
}

/**
 * Start `sh -c command`, detached in its own process group (so the group can
 * be signalled as a whole), stdin closed, stdout and stderr logged line by line.
 */
export function spawnCommand (command: string, options: SpawnCommandOptions): SpawnedCommand {
  let child: ChildProcess
  try {
    child = spawn('sh', ['-c', command], {
      cwd: options.cwd, env: options.env, uid: options.uid, gid: options.gid, detached: true, stdio: ['ignore', 'pipe', 'pipe']
    })
  } catch (err) {
    // Some spawn errors (EPERM for uid/gid, EINVAL…) are thrown rather than emitted.
    const failed = Promise.resolve({ code: null, signal: null, error: `failed to start: ${(err as Error).message}` })
    return { pid: undefined, exit: failed, done: failed }
  }
  const out = pipeLines(child.stdout!, options.log.stream(false))
  const err = pipeLines(child.stderr!, options.log.stream(true))
  const exit = new Promise<CommandExit>(resolve => {
    child.once('exit', (code, signal) => { resolve({ code, signal }) })
    child.on('error', error => {
      if (child.pid === undefined) resolve({ code: null, signal: null, error: `failed to start: ${error.message}` })
    })
  })
  const closed = new Promise<void>(resolve => { child.once('close', () => { resolve() }) })
  const done = exit.then(async result => {
    if (result.error === undefined) await within(closed, options.drainMs)
    out()
    err()
    return result
  })
  return { pid: child.pid, exit, done }
}

/** Feed a stream into a splitter; the returned function closes the stream and flushes. */
function pipeLines (stream: Readable, lines: LineSplitter): () => void {
  stream.on('data', (chunk: Buffer) => { lines.write(chunk) })
  stream.on('end', () => { lines.end() })
  stream.on('error', () => { lines.end() })
  return () => { stream.destroy(); lines.end() }
}

/** Whether `promise` settled within `ms`. */
export async function within (promise: Promise<unknown>, ms: number): Promise<boolean> {
  return await new Promise(resolve => {
    const timer = setTimeout(() => { resolve(false) }, Math.min(ms, MAX_TIMER_MS))
    const settled = (): void => { clearTimeout(timer); resolve(true) }
    promise.then(settled, settled)
  })
}

/**
 * Send `signal` to every process of group `pgid`; false when there is none.
 * Refuses pgid ≤ 1, so a missing pid can never become `kill(-1)` (everything).
 */
export function signalGroup (pgid: number, signal: NodeJS.Signals): boolean {
  if (!(pgid > 1)) return false
  try {
    process.kill(-pgid, signal)
    return true
  } catch {
    return false
  }
}

/** Whether any process of group `pgid` exists (an exited one not yet reaped counts). */
export function groupAlive (pgid: number): boolean {
  if (!(pgid > 1)) return false
  try {
    process.kill(-pgid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Poll `condition` (every few ms at first, then every `pollMs`) until it holds or `timeoutMs` passed; whether it held. */
export async function waitFor (condition: () => boolean, timeoutMs: number, pollMs: number = AGENT_DEFAULTS.groupPollMs): Promise<boolean> {
  const deadline = performance.now() + timeoutMs
  let wait = Math.min(2, pollMs)
  while (!condition()) {
    const left = deadline - performance.now()
    if (left <= 0) return false
    await sleep(Math.min(wait, left))
    wait = Math.min(wait * 2, pollMs)
  }
  return true
}

/** Options of {@link runCommands}. */
export interface RunCommandsOptions {
  /** Directory the commands run in. */
  readonly cwd: string
  /** Environment of the commands. @default process.env */
  readonly env?: NodeJS.ProcessEnv
  readonly uid?: number
  readonly gid?: number
  /** Timeout of each command. @default AGENT_DEFAULTS.commandTimeoutMs */
  readonly timeoutMs?: number
  /** Aborting kills the running command's process group; the result is `aborted`. */
  readonly signal?: AbortSignal
  /** Receives every output line and, after each command, its `exit status N` line. Must not throw. */
  readonly onLine: (entry: LogEntry) => void
  /** @default AGENT_DEFAULTS.maxLineBytes */
  readonly maxLineBytes?: number
  /** @default AGENT_DEFAULTS.outputDrainMs */
  readonly drainMs?: number
  /** @default AGENT_DEFAULTS.reapTimeoutMs */
  readonly reapTimeoutMs?: number
  /** ms since the epoch, for `Time`. @default Date.now */
  readonly clock?: () => number
}

/** Outcome of {@link runCommands}: all succeeded, or the first that did not and why. */
export type CommandsResult =
  | { readonly ok: true }
  | { readonly ok: false, readonly index: number, readonly command: string, readonly error: string }

/**
 * Run `commands` one by one with `sh -c` in `cwd`, stopping at the first
 * failure. Each runs in its own process group: on timeout or abort the whole
 * group is killed (SIGKILL), and whatever a command leaves running in its
 * group when it exits is killed too (an install step does not leave
 * processes behind; the run stage is for those). Each command is over only
 * once its group is gone (or `reapTimeoutMs` after the SIGKILL).
 * Errors: `exit status 3`, `killed by SIGTERM`, `timed out after 60000 ms`,
 * `aborted`, `failed to start: …`. Never rejects.
 */
export async function runCommands (commands: readonly string[], options: RunCommandsOptions): Promise<CommandsResult> {
  const opts = withDefaults({
    timeoutMs: AGENT_DEFAULTS.commandTimeoutMs,
    maxLineBytes: AGENT_DEFAULTS.maxLineBytes,
    drainMs: AGENT_DEFAULTS.outputDrainMs,
    reapTimeoutMs: AGENT_DEFAULTS.reapTimeoutMs,
    clock: Date.now
  }, options)
  for (const [index, command] of commands.entries()) {
    const error = await runOne(command, opts)
    if (error !== undefined) return { ok: false, index, command, error }
  }
  return { ok: true }
}

type RunOneOptions = RunCommandsOptions & Required<Pick<RunCommandsOptions, 'timeoutMs' | 'maxLineBytes' | 'drainMs' | 'reapTimeoutMs' | 'clock'>>

/** Run one command; its error, or undefined on success. */
async function runOne (command: string, options: RunOneOptions): Promise<string | undefined> {
  if (options.signal?.aborted === true) return 'aborted'
  const log = createCommandLog(command, options)
  const spawned = spawnCommand(command, { ...options, log })
  const pgid = spawned.pid ?? 0
  let reason: string | undefined
  const kill = (why: string): void => { reason ??= why; signalGroup(pgid, 'SIGKILL') }
  const timer = setTimeout(() => { kill(`timed out after ${options.timeoutMs} ms`) }, Math.min(options.timeoutMs, MAX_TIMER_MS))
  const onAbort = (): void => { kill('aborted') }
  options.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    await spawned.exit
  } finally {
    clearTimeout(timer)
    options.signal?.removeEventListener('abort', onAbort)
  }
  signalGroup(pgid, 'SIGKILL')
  const exit = await spawned.done
  await waitFor(() => !groupAlive(pgid), options.reapTimeoutMs)
  const error = exit.code === 0 ? undefined : reason ?? describeExit(exit)
  log.note(error ?? 'exit status 0', error !== undefined)
  return error
}
