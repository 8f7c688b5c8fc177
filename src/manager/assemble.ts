/**
 * The assemble stage: the task's `stages.assemble` commands run one by one
 * with `sh -c` in the scratch copy of the package (cross-compilation and
 * the like). Each has a timeout; the first failure stops the stage.
 */
import { spawn } from 'node:child_process'
import { AbortError, AssembleFailedError } from '../core/index.ts'

/** Options of {@link runAssemble}. */
export interface AssembleOptions {
  readonly cwd: string
  /** Per command. */
  readonly timeoutMs: number
  /** Output kept for the error report (the newest bytes). */
  readonly maxOutputBytes: number
  readonly signal?: AbortSignal
}

/**
 * Run the commands in order.
 * @throws {AssembleFailedError} a command exited non-zero, was killed or timed out (with its output).
 * @throws {AbortError} the signal was aborted.
 */
export async function runAssemble (commands: readonly string[], options: AssembleOptions): Promise<void> {
  let transcript = ''
  for (const [index, command] of commands.entries()) {
    const { code, signal, output, timedOut } = await runOne(command, options)
    transcript = tail(`${transcript}$ ${command}\n${output}`, options.maxOutputBytes)
    if (options.signal?.aborted === true) throw new AbortError('assemble was aborted')
    if (code !== 0) {
      const why = timedOut ? `timed out after ${options.timeoutMs} ms` : signal != null ? `was killed by ${signal}` : `exited with status ${code}`
      throw new AssembleFailedError(`stages.assemble[${index}] (${JSON.stringify(command)}) ${why}`, transcript)
    }
  }
}

interface Outcome { code: number | null, signal: NodeJS.Signals | null, output: string, timedOut: boolean }

async function runOne (command: string, options: AssembleOptions): Promise<Outcome> {
  return await new Promise(resolve => {
    // Own process group, so a timeout or abort kills the command's children too.
    const child = spawn('sh', ['-c', command], { cwd: options.cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    let timedOut = false
    const collect = (data: Buffer): void => { output = tail(output + data.toString('utf8'), options.maxOutputBytes) }
    child.stdout.on('data', collect)
    child.stderr.on('data', collect)
    const kill = (): void => { try { process.kill(-child.pid!, 'SIGKILL') } catch {} }
    const timer = setTimeout(() => { timedOut = true; kill() }, options.timeoutMs)
    options.signal?.addEventListener('abort', kill, { once: true })
    child.on('error', err => { collect(Buffer.from(`${err.message}\n`)) })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', kill)
      resolve({ code, signal, output, timedOut })
    })
  })
}

function tail (text: string, max: number): string {
  return text.length > max ? text.slice(text.length - max) : text
}
