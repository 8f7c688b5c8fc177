/** Counting and checking archive entries as their headers are read, against limits; the options every unpack shares. */
import { checkArchiveEntry, UnsafePackageError, type ArchiveEntry } from '../core/index.ts'

/** node-tar options of every unpack: a damaged archive fails, nothing lands outside `cwd`, no ownership is restored. */
export const SAFE_UNPACK = { strict: true, preservePaths: false, preserveOwner: false } as const

/** Limits of an archive's entries. */
export interface GuardLimits {
  /** Most entries accepted. @default 100_000 */
  readonly maxEntries?: number
  /** Most content bytes (sum of entry sizes) accepted. @default Infinity */
  readonly maxBytes?: number
}

/** What an archive holds. */
export interface ArchiveSummary {
  readonly entries: number
  readonly bytes: number
}

/** Counts and checks entries; remembers the first refusal, which {@link summary} throws. */
export function entryGuard (options: GuardLimits): { admit: (entry: ArchiveEntry & { size: number }) => boolean, refused: () => boolean, summary: () => ArchiveSummary } {
  const maxEntries = options.maxEntries ?? 100_000
  const maxBytes = options.maxBytes ?? Infinity
  let entries = 0
  let bytes = 0
  let refusal: Error | undefined
  return {
    admit: entry => {
      if (refusal != null) return false
      try {
        checkArchiveEntry(entry)
        entries += 1
        bytes += entry.size
        if (entries > maxEntries) throw new UnsafePackageError(`package has more than ${maxEntries} entries`)
        if (bytes > maxBytes) throw new UnsafePackageError(`package content exceeds ${maxBytes} bytes`)
        return true
      } catch (err) {
        refusal = err as Error
        return false
      }
    },
    refused: () => refusal != null,
    summary: () => {
      if (refusal != null) throw refusal
      return { entries, bytes }
    }
  }
}
