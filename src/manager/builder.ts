/**
 * From an uploaded archive to a package in the chunk store: unpack it into a
 * scratch directory (refusing unsafe entries), run the assemble stage, pack
 * the transfer paths into a deterministic tar and chunk it into the store as
 * it is packed.
 */
import { lstat, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { extractArchive, packDeterministicStream } from '../archive/index.ts'
import { chunkerForAverage, importSource, type ChunkStore } from '../chunks/index.ts'
import { InvalidTaskError, type TaskPackage, type TaskSpec } from '../core/index.ts'
import { runAssemble } from './assemble.ts'

/** Options of {@link buildPackage}. */
export interface BuildOptions {
  readonly spec: TaskSpec
  /** The uploaded `.tar` or `.tar.gz`, if any. */
  readonly packagePath?: string
  /** Or the upload already unpacked (see `Manager.receivePackage`): used in place, removed by the caller. */
  readonly unpackedDir?: string
  /** Where scratch directories are made (and removed). */
  readonly scratchDir: string
  readonly store: ChunkStore
  readonly assembleTimeoutMs: number
  readonly assembleOutputBytes: number
  readonly maxPackageEntries: number
  /** Most bytes an upload may unpack to (a gzip bomb is refused before it fills the disk). */
  readonly maxPackageBytes: number
  /** Average chunk size; chunks are cut between a quarter and four times it. */
  readonly avgChunkBytes: number
  readonly signal?: AbortSignal
}

/**
 * Build the package a task delivers; `null` when it transfers nothing.
 * @throws {InvalidTaskError} transfer paths without a package, or a path the package lacks.
 * @throws {UnsafePackageError} the upload is not a valid archive or holds an unsafe entry.
 * @throws {AssembleFailedError} an assemble command failed.
 */
export async function buildPackage (options: BuildOptions): Promise<TaskPackage | null> {
  const { spec } = options
  const transfer = spec.stages.transfer ?? []
  const assemble = spec.stages.assemble ?? []
  const uploaded = options.packagePath != null || options.unpackedDir != null
  if (!uploaded && assemble.length === 0) {
    if (transfer.length > 0) throw new InvalidTaskError('stages.transfer: lists paths, but no package was uploaded', { field: 'stages.transfer' })
    return null
  }
  if (transfer.length === 0) {
    throw new InvalidTaskError('stages.transfer: name the paths of the package to deliver (e.g. ".")', { field: 'stages.transfer' })
  }
  const work = await mkdtemp(join(options.scratchDir, 'build-'))
  try {
    const root = options.unpackedDir ?? join(work, 'package')
    if (options.unpackedDir == null) await mkdir(root)
    if (options.packagePath != null) await extractArchive(options.packagePath, root, { maxEntries: options.maxPackageEntries, maxBytes: options.maxPackageBytes })
    if (assemble.length > 0) {
      await runAssemble(assemble, { cwd: root, timeoutMs: options.assembleTimeoutMs, maxOutputBytes: options.assembleOutputBytes, signal: options.signal })
    }
    await checkTransferPaths(root, transfer)
    // The tar goes straight into the chunker: never written out and read back.
    const chunker = chunkerForAverage(options.avgChunkBytes)
    const imported = await importSource(options.store, await packDeterministicStream(root, transfer), { chunker, signal: options.signal })
    return { cid: imported.cid, bytes: imported.manifest.size }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

async function checkTransferPaths (root: string, paths: readonly string[]): Promise<void> {
  for (const [index, path] of paths.entries()) {
    const found = await lstat(join(root, path)).then(() => true, () => false)
    if (!found) {
      const field = `stages.transfer[${index}]`
      throw new InvalidTaskError(`${field}: ${JSON.stringify(path)} is not in the package`, { field })
    }
  }
}
