/**
 * Figures and output of the bench: lower bound, percentiles, progress lines,
 * and the human summary followed by the JSON line.
 */
import { formatBytes } from '../src/core/units.ts'

/**
 * Shortest possible time for N fetchers to each get F bytes when the origin
 * uploads at `originUp` and each fetcher at `up`: max(F/u_o, N·F/(u_o + N·u)).
 * 0 when the caps are infinite.
 */
export function lowerBoundSeconds (peers: number, bytes: number, originUp: number, up: number): number {
  const total = originUp + peers * up
  return Math.max(bytes / originUp, (peers * bytes) / total)
}

/** Nearest-rank percentile (p in 0..100) of unsorted values; 0 for none. */
export function percentile (values: readonly number[], p: number): number {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length))
  return sorted[Math.min(rank, sorted.length) - 1]!
}

/** Round for display/JSON: `digits` decimals. */
export function round (n: number, digits = 3): number {
  const f = 10 ** digits
  return Math.round(n * f) / f
}

/** A rate in bytes/s for humans (`4.0 MiB/s`, `unlimited`). */
export function formatRate (bytesPerSecond: number): string {
  return Number.isFinite(bytesPerSecond) ? `${formatBytes(bytesPerSecond)}/s` : 'unlimited'
}

/** Print `label: value` lines, then (with `json`) the JSON object as the last line. */
export function printResult (lines: ReadonlyArray<[string, string]>, result: object, json: boolean): void {
  const width = Math.max(...lines.map(([label]) => label.length))
  for (const [label, value] of lines) process.stdout.write(`${label.padEnd(width)}  ${value}\n`)
  if (json) process.stdout.write(`${JSON.stringify(result)}\n`)
}

/** Write one progress line to stderr every second while `snapshot` runs; returns a stop function. */
export function startProgress (snapshot: () => string): () => void {
  const started = performance.now()
  const timer = setInterval(() => {
    const elapsed = ((performance.now() - started) / 1000).toFixed(0).padStart(4)
    process.stderr.write(`[${elapsed}s] ${snapshot()}\n`)
  }, 1000)
  return () => { clearInterval(timer) }
}

/** A setup step, to stderr (stdout stays for the summary and JSON). */
export function note (text: string): void {
  process.stderr.write(`${text}\n`)
}
