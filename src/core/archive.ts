/**
 * Which tar entries Pollen accepts in a package: regular files, directories,
 * and links that stay inside the package root. Pure, so the manager (at
 * upload) and every agent (before unpacking) apply the same rule.
 */
import { posix } from 'node:path'
import { UnsafePackageError } from './errors.ts'

/** What the check needs to know of one tar entry. */
export interface ArchiveEntry {
  readonly path: string
  /** node-tar's entry type: `File`, `Directory`, `SymbolicLink`, `Link`, `CharacterDevice`… */
  readonly type: string
  readonly linkpath?: string
  readonly size: number
}

const ALLOWED_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link'])
/** Metadata entries tar writes for long names and attributes; harmless. */
const METADATA_TYPES = new Set(['ExtendedHeader', 'GlobalExtendedHeader', 'NextFileHasLongPath', 'NextFileHasLongLinkpath', 'OldExtendedHeader'])

/**
 * @throws {UnsafePackageError} naming the entry: an absolute path, a `..`
 *   segment, a link leaving the root, a device, FIFO or other special file.
 */
export function checkArchiveEntry (entry: ArchiveEntry): void {
  if (METADATA_TYPES.has(entry.type)) return
  const name = JSON.stringify(entry.path)
  if (!ALLOWED_TYPES.has(entry.type)) throw new UnsafePackageError(`package entry ${name} is a ${entry.type}: only files, directories and links inside the package are allowed`)
  const path = checkInside(entry.path, name, 'path')
  if (entry.type === 'SymbolicLink') {
    const target = entry.linkpath ?? ''
    if (target.startsWith('/')) throw new UnsafePackageError(`package entry ${name} links to the absolute path ${JSON.stringify(target)}`)
    checkInside(posix.join(posix.dirname(path), target), name, 'link target')
  }
  if (entry.type === 'Link') checkInside(entry.linkpath ?? '', name, 'hard link target')
}

/** Normalises a relative path and refuses one that leaves the root. */
function checkInside (path: string, name: string, what: string): string {
  if (path === '' || path.includes('\0')) throw new UnsafePackageError(`package entry ${name} has an empty or invalid ${what}`)
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path)) throw new UnsafePackageError(`package entry ${name} has an absolute ${what}`)
  const normal = posix.normalize(path)
  if (normal === '..' || normal.startsWith('../') || path.split('/').includes('..')) {
    throw new UnsafePackageError(`package entry ${name}: its ${what} leaves the package (contains "..")`)
  }
  return normal
}
