/**
 * Live progress of a deployment: on a terminal, one bar per stage (targets
 * done) and one for bytes transferred; elsewhere, a line whenever the counts
 * change.
 */
import { MultiBar, Presets, type SingleBar } from 'cli-progress'
import { formatBytes, type TargetRecord } from '../core/index.ts'
import type { TaskDetail } from '../api/index.ts'

/** Progress display of one task over `count` targets. */
export interface Progress {
  update (detail: TaskDetail, targets: readonly TargetRecord[]): void
  stop (): void
}

/** Bytes transferred so far for the task, summed over targets. */
export function transferredBytes (detail: TaskDetail, targets: readonly TargetRecord[]): number {
  let sum = 0
  for (const target of targets) {
    if (target.Task?.ID !== detail.id) continue
    sum += target.Task.StageLogs.Transfer?.Status === 'SUCCESS' ? (detail.package?.bytes ?? 0) : (target.Task.Progress?.Bytes ?? 0)
  }
  return sum
}

/** Build the display for `count` targets. */
export function createProgress (count: number): Progress {
  if (process.stdout.isTTY !== true) return createLineProgress(count)
  const multi = new MultiBar({ format: '{stage} [{bar}] {value}/{total} {unit}', hideCursor: true, clearOnComplete: false }, Presets.shades_classic)
  const bars = new Map<string, SingleBar>()
  const bar = (stage: string, total: number, unit: string): SingleBar => {
    let b = bars.get(stage)
    if (b == null) {
      b = multi.create(total, 0, { stage: stage.padEnd(8), unit })
      bars.set(stage, b)
    }
    return b
  }
  return {
    update (detail, targets) {
      const total = (detail.package?.bytes ?? 0) * count
      const bytes = transferredBytes(detail, targets)
      bar('bytes', Math.max(total, 1), '').update(bytes, { unit: `${formatBytes(bytes)} / ${formatBytes(total)}` })
      for (const key of ['Transfer', 'Install', 'Run'] as const) {
        const counts = detail.summary.stages[key]
        bar(key, count, 'targets').update(counts.SUCCESS ?? 0, { unit: failures(counts) })
      }
    },
    stop () { multi.stop() }
  }
}

function createLineProgress (count: number): Progress {
  let last = ''
  return {
    update (detail, targets) {
      const stages = (['Transfer', 'Install', 'Run'] as const).map(key => `${key.toLowerCase()} ${detail.summary.stages[key].SUCCESS ?? 0}/${count}${failures(detail.summary.stages[key])}`)
      const line = `  ${stages.join(', ')}; ${formatBytes(transferredBytes(detail, targets))} transferred`
      if (line !== last) process.stdout.write(`${line}\n`)
      last = line
    },
    stop () {}
  }
}

function failures (counts: Readonly<Partial<Record<string, number>>>): string {
  const bad = (counts.FAILURE ?? 0) + (counts.DECLINED ?? 0)
  return bad > 0 ? ` (${bad} failed)` : ''
}
