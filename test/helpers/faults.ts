/**
 * Helpers of the fault suites: poll for a condition, watch an agent's data
 * directory, and the three checks every fault case ends with (the right
 * release runs, its files are byte-identical to the package, the registry
 * has every target at the right outcome).
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { readdir, readFile, readlink, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { TargetRecord } from '../../src/core/index.ts'

/** Resolve with the first value `probe` returns that is not undefined (polled every `everyMs`). */
export async function until<T> (probe: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 90_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
}

/** Bytes in an agent's chunk pack files (what its transfers have written so far). */
export async function packBytes (agentDir: string): Promise<number> {
  const dir = join(agentDir, 'chunks', 'packs')
  const names = await readdir(dir).catch(() => [] as string[])
  let total = 0
  for (const name of names) total += (await stat(join(dir, name)).catch(() => ({ size: 0 }))).size
  return total
}

/** The release `<agentDir>/current` points at, if any. */
export async function currentRelease (agentDir: string): Promise<string | undefined> {
  const target = await readlink(join(agentDir, 'current')).catch(() => undefined)
  return target?.replace(/^releases\//, '')
}

/** Whether a process is alive: it exists and is not a zombie waiting for a parent that may never reap it. */
export function alive (pid: number): boolean {
  try { process.kill(pid, 0) } catch { return false }
  const stat = (() => { try { return readFileSync(`/proc/${pid}/stat`, 'utf8') } catch { return '' } })()
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
}

const sha = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex')

/** What one deployment must end with on every target. */
export interface Expected {
  readonly taskId: string
  /** Installed files (relative to the release directory) and their bytes. */
  readonly files: Readonly<Record<string, string | Uint8Array>>
  /** `History[taskId]` every target must show in the registry. @default 'RUN-SUCCESS' */
  readonly outcome?: string
}

/**
 * The three end checks of a fault case; returns what is wrong (empty: nothing
 * was lost). Every target runs `taskId` (`current` points at it), its files
 * are byte-identical, and the registry shows the outcome for every target.
 */
export async function checkDeployment (root: string, targetIds: readonly string[], expected: Expected, registry: readonly TargetRecord[]): Promise<string[]> {
  const problems: string[] = []
  const outcome = expected.outcome ?? 'RUN-SUCCESS'
  for (const id of targetIds) {
    const current = await currentRelease(join(root, id))
    if (current !== expected.taskId) problems.push(`${id}: current is ${current ?? 'absent'}, expected ${expected.taskId}`)
    for (const [path, bytes] of Object.entries(expected.files)) {
      const got = await readFile(join(root, id, 'current', path)).catch(() => undefined)
      if (got == null || sha(got) !== sha(bytes)) problems.push(`${id}: ${path} ${got == null ? 'missing' : 'differs from the package'}`)
    }
    const record = registry.find(r => r.ID === id)
    if (record?.History[expected.taskId] !== outcome) problems.push(`${id}: registry shows ${record?.History[expected.taskId] ?? 'nothing'} for ${expected.taskId}, expected ${outcome}`)
  }
  return problems
}

/** Files of a package after `mv app/* .`: the `app/` prefix dropped. */
export function installed (files: Readonly<Record<string, string | Uint8Array>>): Record<string, string | Uint8Array> {
  return Object.fromEntries(Object.entries(files).map(([path, bytes]) => [path.replace(/^app\//, ''), bytes]))
}

/** Counters the suites report: what they tried and what was lost. */
export interface FaultFigures {
  faultsInjected: number
  hostileMessages: number
  corruptChunksServed: number
  lost: number
}

export const figures = (): FaultFigures => ({ faultsInjected: 0, hostileMessages: 0, corruptChunksServed: 0, lost: 0 })
