import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitForPeers, type SwarmNode } from '../../src/node/index.ts'
import { pseudoRandomBytes } from '../../src/core/index.ts'
import type { ChunkExchange, ChunkStore, FetchOptions } from '../../src/chunks/index.ts'
import { startCliPeer, type CliPeer, type CliPeerOptions } from '../../src/cli/peer.ts'

/** One in-process swarm member for tests: a node, a store and the exchange. */
export type TestPeer = CliPeer & { readonly name: string, readonly dir: string }

export interface TestPeerOptions {
  readonly uploadBytesPerSecond?: number
  readonly bootstrap?: string[]
  /** Wrap the store the exchange serves from (e.g. to corrupt what it sends). */
  readonly wrapStore?: (store: ChunkStore) => ChunkStore
  readonly fetch?: Partial<FetchOptions>
  readonly maxQueuedUploads?: number
  readonly exchange?: CliPeerOptions['exchange']
}

/** A temporary directory removed when `cleanup` runs. */
export async function tempRoot (): Promise<{ dir: string, cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'pollen-test-'))
  return { dir, cleanup: async () => { await rm(dir, { recursive: true, force: true }) } }
}

/** Start a peer on loopback whose data lives in `<root>/<name>`. */
export async function startPeer (root: string, name: string, options: TestPeerOptions = {}): Promise<TestPeer> {
  const dir = join(root, name)
  const peer = await startCliPeer({
    chunksDir: dir,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: false,
    bootstrap: options.bootstrap ?? [],
    uploadBytesPerSecond: options.uploadBytesPerSecond,
    wrapStore: options.wrapStore,
    maxQueuedUploads: options.maxQueuedUploads,
    exchange: options.exchange,
    fetch: { requestTimeoutMs: 10_000, stallTimeoutMs: 60_000, ...options.fetch }
  })
  return { name, dir, ...peer }
}

/** Connect every peer to every other and wait until each sees all the others. */
export async function connectAll (peers: readonly TestPeer[]): Promise<void> {
  for (const [i, a] of peers.entries()) {
    for (const b of peers.slice(i + 1)) await dialWithRetry(a, b)
  }
  await Promise.all(peers.map(async p => { await waitForPeers(p.node, peers.length - 1, { timeoutMs: 60_000 }) }))
}

/** Dial `b` from `a`, again up to twice if the handshake fails (it can time out on a loaded machine). */
async function dialWithRetry (a: TestPeer, b: TestPeer): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await a.node.libp2p.dial(b.node.addresses()[0]!)
      return
    } catch (err) {
      if (attempt >= 3) throw err
    }
  }
}

/** Deterministic pseudo-random bytes, so failures reproduce. */
export const seededBytes = (size: number, seed = 1): Uint8Array => pseudoRandomBytes(size, seed)
