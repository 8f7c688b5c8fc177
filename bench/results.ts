/**
 * The record of one harness run: per-system figures, the JSON file with every
 * raw completion time, a Markdown summary, and an SVG chart (completion-time
 * CDF per system, bytes uploaded by the origin per system).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { formatBytes } from '../src/core/units.ts'
import { percentile, round } from './report.ts'

/** Figures of one system in one run. */
export interface SystemFigures {
  /** Until the last target completed. */
  readonly seconds: number
  readonly p50Seconds: number
  readonly p99Seconds: number
  readonly originUploadBytes: number
  readonly allVerified: boolean
  /** lowerBoundSeconds / seconds; null without caps. */
  readonly efficiency: number | null
  readonly times: readonly number[]
}

/** One run, as `--json` prints it (without `raw`) and as the run file keeps it. */
export interface RunRecord {
  readonly mode: string
  readonly topology: string
  readonly agents: number
  readonly packageBytes: number
  readonly lowerBoundSeconds: number
  readonly broadcastBoundSeconds?: number
  readonly systems: Record<string, SystemFigures | { readonly skipped: string }>
  readonly [extra: string]: unknown
}

/** Figures from raw completion times. */
export function systemFigures (times: readonly number[], originUploadBytes: number, packageBytes: number, allVerified: boolean, boundSeconds: number): SystemFigures {
  const seconds = Math.max(0, ...times)
  return {
    seconds: round(seconds),
    p50Seconds: round(percentile(times, 50)),
    p99Seconds: round(percentile(times, 99)),
    originUploadBytes,
    allVerified,
    efficiency: Number.isFinite(boundSeconds) && boundSeconds > 0 && seconds > 0 ? round(boundSeconds / seconds) : null,
    times: times.map(t => round(t))
  }
}

/** Write `<out>/<stamp>.json` and `<out>/<stamp>.md` (and the SVG at `plot`); returns the paths. */
export async function writeRunFiles (out: string, record: RunRecord, plot?: string): Promise<string[]> {
  await mkdir(out, { recursive: true })
  const stamp = `${record.mode}-${record.agents}-${new Date().toISOString().replace(/[:.]/g, '-')}`
  const json = join(out, `${stamp}.json`)
  const md = join(out, `${stamp}.md`)
  await writeFile(json, `${JSON.stringify(record, null, 2)}\n`)
  await writeFile(md, markdown(record))
  const files = [json, md]
  if (plot != null) {
    await writeFile(plot, svg(record))
    files.push(plot)
  }
  return files
}

function systems (record: RunRecord): Array<[string, SystemFigures]> {
  return Object.entries(record.systems).filter((e): e is [string, SystemFigures] => !('skipped' in e[1]))
}

function markdown (r: RunRecord): string {
  const rows = Object.entries(r.systems).map(([name, s]) => 'skipped' in s
    ? `| ${name} | skipped: ${s.skipped} | | | | |`
    : `| ${name} | ${s.seconds} | ${s.p50Seconds} / ${s.p99Seconds} | ${formatBytes(s.originUploadBytes)} (${(s.originUploadBytes / r.packageBytes).toFixed(2)} F) | ${s.efficiency ?? '-'} | ${s.allVerified} |`)
  return [
    `# ${r.mode} run: ${r.agents} agents, ${formatBytes(r.packageBytes)}, ${r.topology}`,
    '',
    `Lower bound ${r.lowerBoundSeconds} s${r.broadcastBoundSeconds != null ? `, broadcast bound ${r.broadcastBoundSeconds} s` : ''}.`,
    '',
    '| system | seconds | p50 / p99 | origin upload | efficiency | verified |',
    '|---|---|---|---|---|---|',
    ...rows,
    ''
  ].join('\n')
}

const COLORS = ['#1b7837', '#2166ac', '#b2182b', '#762a83', '#e08214']

/** Two panels: completion-time CDF per system, and origin upload per system (in packages). */
function svg (r: RunRecord): string {
  const list = systems(r)
  const maxT = Math.max(1e-3, ...list.map(([, s]) => s.seconds))
  const x = (t: number): number => 60 + (t / maxT) * 400
  const y = (f: number): number => 260 - f * 220
  const curves = list.map(([name, s], i) => {
    const sorted = [...s.times].sort((a, b) => a - b)
    const points = sorted.map((t, k) => `${x(t).toFixed(1)},${y((k + 1) / sorted.length).toFixed(1)}`).join(' ')
    return `<polyline fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2" points="${x(0)},${y(0)} ${points}"/>` +
      `<text x="470" y="${40 + i * 16}" fill="${COLORS[i % COLORS.length]}" font-size="12">${name}</text>`
  })
  const maxU = Math.max(1, ...list.map(([, s]) => s.originUploadBytes / r.packageBytes))
  const bars = list.map(([name, s], i) => {
    const ratio = s.originUploadBytes / r.packageBytes
    const h = (ratio / maxU) * 220
    return `<rect x="${640 + i * 60}" y="${260 - h}" width="40" height="${h}" fill="${COLORS[i % COLORS.length]}"/>` +
      `<text x="${640 + i * 60}" y="${252 - h}" font-size="11">${ratio.toFixed(2)}</text>` +
      `<text x="${640 + i * 60}" y="280" font-size="10">${name.slice(0, 9)}</text>`
  })
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${680 + list.length * 60}" height="300" font-family="sans-serif">
<text x="60" y="20" font-size="14">Completion time CDF (${r.agents} agents, ${formatBytes(r.packageBytes)}; bound ${r.lowerBoundSeconds} s)</text>
<line x1="60" y1="260" x2="460" y2="260" stroke="black"/><line x1="60" y1="40" x2="60" y2="260" stroke="black"/>
<text x="60" y="280" font-size="11">0</text><text x="440" y="280" font-size="11">${maxT.toFixed(1)} s</text>
<text x="30" y="44" font-size="11">1.0</text>
${r.lowerBoundSeconds > 0 ? `<line x1="${x(r.lowerBoundSeconds)}" y1="40" x2="${x(r.lowerBoundSeconds)}" y2="260" stroke="gray" stroke-dasharray="4"/>` : ''}
${curves.join('\n')}
<text x="640" y="20" font-size="14">Origin upload (packages)</text>
${bars.join('\n')}
</svg>
`
}
