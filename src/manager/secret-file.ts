/**
 * Small JSON files of hashed secrets in the manager's data directory
 * (`tokens.json`, `enrollments.json`): written 0600 through a temporary file
 * and a rename, so a reader never sees half a file, and re-read by the
 * running manager only when they change, so the CLI can edit them while it runs.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { KeyFileError } from '../core/index.ts'

/** A versioned file holding a list of records under `key`. */
export interface SecretFile<R> {
  read (): Promise<readonly R[]>
  write (records: readonly R[]): Promise<void>
  /** The records, re-read only when the file's mtime or size changed since the last call. */
  cached (): Promise<readonly R[]>
}

/** The file `<dataDir>/<name>`, whose JSON is `{ version: 1, [key]: R[] }`. */
export function secretFile<R> (dataDir: string, name: string, key: string): SecretFile<R> {
  const path = join(dataDir, name)
  let cache: { mtimeMs: number, size: number, records: readonly R[] } | undefined
  const read = async (): Promise<readonly R[]> => {
    let text: string
    try {
      text = await readFile(path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw err
    }
    try {
      const file = JSON.parse(text) as Record<string, unknown>
      const records = file[key]
      if (file.version !== 1 || !Array.isArray(records)) throw new Error('unexpected shape')
      return records as R[]
    } catch (err) {
      throw new KeyFileError(`${path} is corrupt: ${(err as Error).message}`, { cause: err })
    }
  }
  return {
    read,
    async write (records) {
      await mkdir(dataDir, { recursive: true, mode: 0o700 })
      const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`
      await writeFile(tmp, `${JSON.stringify({ version: 1, [key]: records }, null, 2)}\n`, { mode: 0o600 })
      await rename(tmp, path)
    },
    async cached () {
      const info = await stat(path).catch(() => undefined)
      if (info == null) return []
      if (cache?.mtimeMs !== info.mtimeMs || cache.size !== info.size) cache = { mtimeMs: info.mtimeMs, size: info.size, records: await read() }
      return cache.records
    }
  }
}
