/**
 * Child `pollen` processes for the demo: start one, wait for a line it
 * prints, stop it (SIGTERM, then SIGKILL), and never leave one behind.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { TimeoutError } from '../core/index.ts'

const BIN = fileURLToPath(new URL('../../bin/pollen.js', import.meta.url))

/** A running `pollen` child process. */
export interface PollenProcess {
  readonly name: string
  readonly child: ChildProcess
  /** Resolves with the first stdout line matching `pattern` (its match). */
  waitFor (pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray>
  stop (): Promise<void>
}

/** Start `pollen <args>`; its stderr (logs) goes to `logFile`. */
export function startPollen (name: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): PollenProcess {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  child.stderr!.pipe(createWriteStream(logFile))
  const lines: string[] = []
  const waiters = new Set<() => void>()
  createInterface({ input: child.stdout! }).on('line', line => {
    lines.push(line)
    for (const wake of waiters) wake()
  })
  const exited = new Promise<void>(resolve => child.once('exit', () => {
    for (const wake of waiters) wake()
    resolve()
  }))
  const running = (): boolean => child.exitCode == null && child.signalCode == null
  return {
    name,
    child,
    async waitFor (pattern, timeoutMs) {
      return await new Promise((resolve, reject) => {
        const timer = setTimeout(() => { finish(new TimeoutError(`${name} did not print ${pattern} within ${timeoutMs} ms (see ${logFile})`)) }, timeoutMs)
        const check = (): void => {
          for (const line of lines) {
            const match = pattern.exec(line)
            if (match != null) { finish(undefined, match); return }
          }
          if (!running()) finish(new Error(`${name} exited (code ${child.exitCode ?? child.signalCode}) before printing ${pattern}; see ${logFile}`))
        }
        function finish (err?: Error, match?: RegExpExecArray): void {
          clearTimeout(timer)
          waiters.delete(check)
          if (err != null) reject(err)
          else resolve(match!)
        }
        waiters.add(check)
        check()
      })
    },
    async stop () {
      if (!running()) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => { child.kill('SIGKILL') }, 10_000)
      await exited
      clearTimeout(timer)
    }
  }
}
