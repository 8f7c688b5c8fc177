/**
 * Bounded log of one stage: a ring buffer of {@link LogEntry} that keeps the
 * newest `max` entries and counts the ones it dropped.
 */
import { InvalidOptionError, type LogEntry } from '../core/index.ts'

/** A ring buffer of log entries. */
export interface LogBuffer {
  /** Capacity. */
  readonly max: number
  /** Entries held (at most `max`). */
  readonly size: number
  /** Entries dropped to make room since creation or the last {@link clear}. */
  readonly dropped: number
  /** Append an entry, dropping the oldest when full. O(1). */
  push(entry: LogEntry): void
  /** The entries held, oldest first (a copy). */
  entries(): LogEntry[]
  /** Drop every entry and reset {@link dropped}. */
  clear(): void
}

/**
 * Create a ring buffer holding up to `max` entries.
 * @throws {InvalidOptionError} `max` is not a positive integer.
 */
export function createLogBuffer (max: number): LogBuffer {
  if (!Number.isSafeInteger(max) || max < 1) throw new InvalidOptionError(`log buffer size must be a positive integer, got ${max}`)
  let slots: Array<LogEntry | undefined> = new Array<LogEntry | undefined>(max)
  let start = 0
  let size = 0
  let dropped = 0
  return {
    max,
    get size () { return size },
    get dropped () { return dropped },
    push (entry) {
      slots[(start + size) % max] = entry
      if (size < max) size++
      else { start = (start + 1) % max; dropped++ }
    },
    entries () {
      const out: LogEntry[] = []
      for (let i = 0; i < size; i++) out.push(slots[(start + i) % max]!)
      return out
    },
    clear () {
      slots = new Array<LogEntry | undefined>(max)
      start = 0
      size = 0
      dropped = 0
    }
  }
}
