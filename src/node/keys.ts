/**
 * The files that make a swarm: the manager's signing key and swarm.json
 * (manager public key, swarm name, private-network key). Both are secrets,
 * created 0600 and refused when readable by others; neither is ever
 * overwritten.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { encodePsk, encodeSwarmFile, decodeSwarmFile, SWARM_NAME, type SwarmFile } from '../core/swarm.ts'
import { encodePublicKey } from '../core/signing.ts'
import { FileExistsError, InvalidOptionError, KeyFileError, SwarmFileError } from '../core/errors.ts'
import { checkPrivateMode, readKeyFile, writeFileAtomic } from './identity.ts'
import type { SwarmNodeOptions } from './create.ts'
import { boundedPreSharedKey } from './pnet.ts'

/** File names `pollen init` creates. */
export const SWARM_FILES = { managerKey: 'manager.key', swarm: 'swarm.json' } as const

/** What {@link initSwarm} created. */
export interface InitResult {
  readonly swarm: SwarmFile
  readonly swarmPath: string
  readonly keyPath: string
}

/**
 * Create `<dir>/manager.key` (Ed25519, 0600) and `<dir>/swarm.json` (0600)
 * with a fresh 32-byte private-network key.
 * @throws {FileExistsError} either file exists already (nothing is written).
 */
export async function initSwarm (dir: string, name: string): Promise<InitResult> {
  if (!SWARM_NAME.test(name)) throw new InvalidOptionError(`swarm name ${JSON.stringify(name)}: use 1-64 letters, digits, ".", "_" or "-"`)
  const keyPath = join(dir, SWARM_FILES.managerKey)
  const swarmPath = join(dir, SWARM_FILES.swarm)
  for (const path of [keyPath, swarmPath]) {
    if (await exists(path)) throw new FileExistsError(`${path} exists already; Pollen never overwrites keys (move it away first)`)
  }
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const key = await generateKeyPair('Ed25519')
  const swarm: SwarmFile = { version: 1, name, managerPublicKey: encodePublicKey(key.publicKey), psk: encodePsk(randomBytes(32)) }
  await writeExclusive(keyPath, privateKeyToProtobuf(key))
  await writeExclusive(swarmPath, new TextEncoder().encode(encodeSwarmFile(swarm)))
  return { swarm, swarmPath, keyPath }
}

/**
 * Read and check swarm.json.
 * @throws {SwarmFileError} missing, malformed, or readable by group/others.
 */
export async function readSwarmFile (path: string): Promise<SwarmFile> {
  let text: string
  try {
    const info = await stat(path)
    checkPrivateMode(path, info.mode)
    text = await readFile(path, 'utf8')
  } catch (err) {
    if (err instanceof KeyFileError) throw new SwarmFileError(err.message.replace('key file', 'swarm file'), { cause: err })
    throw new SwarmFileError(`cannot read swarm file ${path}: ${(err as Error).message}`, { cause: err })
  }
  return decodeSwarmFile(text)
}

/**
 * Read the manager's signing key.
 * @throws {KeyFileError} missing, malformed, or readable by group/others.
 */
export async function readManagerKey (path: string): Promise<PrivateKey> {
  const key = await readKeyFile(path)
  if (key == null) throw new KeyFileError(`manager key ${path} does not exist (create one with \`pollen init\`)`)
  if (key.type !== 'Ed25519') throw new KeyFileError(`manager key ${path} is a ${key.type} key; Pollen signs with Ed25519`)
  return key
}

/** Node options that make a node a member of the swarm's private network. */
export function swarmNodeOptions (swarm: SwarmFile): Pick<SwarmNodeOptions, 'connectionProtector'> {
  return { connectionProtector: boundedPreSharedKey(new TextEncoder().encode(swarm.psk)) }
}

async function writeExclusive (path: string, bytes: Uint8Array): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 })
    await writeFileAtomic(path, bytes, { exclusive: true })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new FileExistsError(`${path} exists already; Pollen never overwrites keys`)
    throw err
  }
}

async function exists (path: string): Promise<boolean> {
  return await stat(path).then(() => true, () => false)
}
