/**
 * What the deployment harness modes (`inprocess`, `netns`) share: their
 * options, the sample task and package they deploy, the summary line of a
 * system, and polling until a condition holds.
 */
import { openAsBlob } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as tar from 'tar'
import type { RunRecord } from './results.ts'

/** Options every harness mode takes. */
export interface HarnessOptions {
  readonly agents: number
  /** Package payload size in bytes. */
  readonly size: number
  /** Upload cap (or link rate) of every agent, bytes/s (Infinity: none). */
  readonly up: number
  readonly originUp: number
  readonly json: boolean
  readonly plot?: string
  /** Directory for the run's JSON and Markdown files. */
  readonly out: string
  /** Skip the HTTP baseline. */
  readonly noHttp: boolean
  /** Skip the Helia/bitswap baseline (where the mode runs it). */
  readonly noHelia?: boolean
}

/** The task every bench deploys: the package's `app` folder, its payload and a program that sleeps. */
export const BENCH_TASK = 'stages:\n  transfer: [app]\n  install: ["mv app/* ."]\n  run: ["sh run.sh"]\ntarget:\n  tags: [bench]\n'

/**
 * Write the sample package to `<root>/package.tar`: `app/` holding `data`
 * as `payload.bin` and a `run.sh` that stays up. Resolves with its path.
 */
export async function writeBenchPackage (root: string, data: Uint8Array): Promise<string> {
  const dir = join(root, 'package')
  await mkdir(join(dir, 'app'), { recursive: true })
  await writeFile(join(dir, 'app', 'payload.bin'), data)
  await writeFile(join(dir, 'app', 'run.sh'), 'exec sleep 100000\n')
  const file = join(root, 'package.tar')
  await tar.c({ file, cwd: dir }, ['app'])
  return file
}

/** The multipart body of the sample task ({@link BENCH_TASK} and {@link writeBenchPackage}'s package). */
export async function benchTaskForm (root: string, data: Uint8Array): Promise<FormData> {
  const form = new FormData()
  form.append('task', BENCH_TASK)
  form.append('package', await openAsBlob(await writeBenchPackage(root, data)), 'package.tar')
  return form
}

/** A summary line of one system of a run. */
export function systemLine (label: string, s: RunRecord['systems'][string] | undefined, packageBytes: number, formatBytes: (n: number) => string): [string, string] {
  if (s == null) return [label, '-']
  if ('skipped' in s) return [label, `skipped: ${s.skipped}`]
  const ratio = (s.originUploadBytes / packageBytes).toFixed(2)
  return [label, `${s.seconds} s (p50 ${s.p50Seconds}, p99 ${s.p99Seconds}), origin uploaded ${formatBytes(s.originUploadBytes)} = ${ratio} F, efficiency ${s.efficiency ?? '-'}, verified ${s.allVerified}`]
}

/** Re-run `check` every `everyMs` until it is true; an error it throws ends the wait. */
export async function until (check: () => Promise<boolean>, timeoutMs: number, what: string, everyMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
}
