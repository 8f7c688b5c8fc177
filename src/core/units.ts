import { InvalidOptionError } from './errors.ts'

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1, k: 1024, kb: 1000, kib: 1024, m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3
}

/**
 * Parse a human byte size: `1048576`, `512KiB`, `32MiB`, `1G` (bare K/M/G are binary).
 * @throws {InvalidOptionError}
 */
export function parseBytes (text: string | number): number {
  if (typeof text === 'number') return checkBytes(text, String(text))
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text)
  const unit = match?.[2]?.toLowerCase() ?? ''
  const factor = SIZE_UNITS[unit]
  if (match === null || factor === undefined) {
    throw new InvalidOptionError(`invalid size ${JSON.stringify(text)}: use a number with an optional unit (B, KiB, MiB, GiB, KB, MB, GB)`)
  }
  return checkBytes(Math.round(Number(match[1]) * factor), text)
}

/**
 * Parse a rate in bytes per second: `4MiB/s`, `4MiB`, `50mbit` (bits), `0` or `unlimited` (no cap → Infinity).
 * @throws {InvalidOptionError}
 */
export function parseRate (text: string | number): number {
  if (typeof text === 'number') return text <= 0 ? Infinity : text
  const trimmed = text.trim().toLowerCase().replace(/\/s$/, '').replace(/ps$/, '')
  if (trimmed === 'unlimited' || trimmed === 'none' || trimmed === '0') return Infinity
  const bits = /^(\d+(?:\.\d+)?)\s*([kmg]?)bit$/.exec(trimmed)
  if (bits !== null) {
    const factor = { '': 1, k: 1e3, m: 1e6, g: 1e9 }[bits[2] as '' | 'k' | 'm' | 'g']
    return Number(bits[1]) * factor / 8
  }
  return parseBytes(trimmed)
}

function checkBytes (n: number, text: string): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidOptionError(`invalid size ${JSON.stringify(text)}`)
  return n
}

/** Format bytes for humans: `32.0 MiB`. */
export function formatBytes (n: number): string {
  if (!Number.isFinite(n)) return 'unlimited'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = n
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++ }
  return unit === 0 ? `${n} B` : `${value.toFixed(1)} ${units[unit]}`
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 }

/**
 * Parse a duration: `90s`, `15m`, `24h`, `7d`, `500ms` (a bare number is seconds).
 * @throws {InvalidOptionError}
 */
export function parseDuration (text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text)
  const factor = DURATION_UNITS[match?.[2]?.toLowerCase() === '' ? 's' : match?.[2]?.toLowerCase() ?? '']
  const ms = match === null || factor === undefined ? NaN : Math.round(Number(match[1]) * factor)
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new InvalidOptionError(`invalid duration ${JSON.stringify(text)}: use a number with a unit (ms, s, m, h, d), e.g. 24h`)
  return ms
}
