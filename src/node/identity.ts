/**
 * The node's persistent identity: an Ed25519 private key kept in the data
 * directory, so the peer id survives restarts.
 */
import { randomBytes } from 'node:crypto'
import { link, mkdir, open, readFile, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { NODE_DEFAULTS } from '../constants.ts'
import { KeyFileError } from '../core/errors.ts'

/** Permission bits that must be clear on a key file: any access by group or others. */
const GROUP_OTHER_BITS = 0o077

/**
 * Loads the node's private key from `<dataDir>/<fileName>`, or creates an
 * Ed25519 key there (mode 0600, written atomically) when the file is missing.
 * The data directory is created with mode 0700 if it does not exist.
 *
 * @throws {KeyFileError} the file is accessible by group/others, is not a
 *   regular file, or does not decode as a libp2p private key.
 */
export async function loadOrCreatePrivateKey (dataDir: string, fileName: string = NODE_DEFAULTS.keyFile): Promise<PrivateKey> {
  const path = join(dataDir, fileName)
  const existing = await readKeyFile(path)
  if (existing != null) return existing
  const key = await generateKeyPair('Ed25519')
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 })
    await writeFileAtomic(path, privateKeyToProtobuf(key))
  } catch (err) {
    throw new KeyFileError(`cannot create key file ${path}: ${(err as Error).message}`, { cause: err })
  }
  // Another process may have won the race to create the file: use whichever key is on disk.
  return (await readKeyFile(path)) ?? key
}

/** Reads and checks a private key file; `undefined` when it does not exist. */
export async function readKeyFile (path: string): Promise<PrivateKey | undefined> {
  let info
  try {
    info = await stat(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new KeyFileError(`cannot read key file ${path}: ${(err as Error).message}`, { cause: err })
  }
  if (!info.isFile()) throw new KeyFileError(`key file ${path} is not a regular file`)
  checkPrivateMode(path, info.mode)
  try {
    return privateKeyFromProtobuf(await readFile(path))
  } catch (err) {
    throw new KeyFileError(`key file ${path} does not hold a valid private key`, { cause: err })
  }
}

/**
 * @throws {KeyFileError} the file is accessible by group or others.
 */
export function checkPrivateMode (path: string, mode: number): void {
  if ((mode & GROUP_OTHER_BITS) !== 0) {
    const text = (mode & 0o777).toString(8).padStart(4, '0')
    throw new KeyFileError(`key file ${path} has mode ${text}: it must not be accessible by group or others (chmod 600)`)
  }
}

/**
 * Creates `path` with mode 0600 through a temporary file, so a reader never
 * sees a partial key. `link` rather than `rename` publishes it: it fails
 * (EEXIST) instead of replacing a key another process created meanwhile;
 * with `exclusive` that EEXIST is thrown, otherwise the existing file stays.
 */
export async function writeFileAtomic (path: string, bytes: Uint8Array, options: { exclusive?: boolean } = {}): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`
  try {
    const handle = await open(tmp, 'wx', 0o600)
    try {
      await handle.writeFile(bytes)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await link(tmp, path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST' || options.exclusive === true) throw err
    })
  } finally {
    await rm(tmp, { force: true })
  }
}
