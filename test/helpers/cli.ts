import { spawn } from 'node:child_process'
import { join } from 'node:path'

/** The CLI entry the tests run. */
export const BIN = join(import.meta.dirname, '../../bin/pollen.js')

/** A finished `pollen` run. */
export interface Run { code: number | null, stdout: string, stderr: string, ms: number }

/** Run `pollen <args>` to completion with `env` added to this process's environment. */
export async function pollen (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const started = Date.now()
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', d => { stdout += String(d) })
  child.stderr.on('data', d => { stderr += String(d) })
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
  return { code, stdout, stderr, ms: Date.now() - started }
}
