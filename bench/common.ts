/**
 * Pieces shared by the bench modes and the worker processes: bench peers,
 * deterministic package bytes, hashing, clocks and cleanup on exit.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ChunkerOptions, ChunkExchange, ChunkStore } from '../src/chunks/index.ts'
import { chunkerForAverage } from '../src/chunks/chunker.ts'
import type { SwarmNode } from '../src/node/index.ts'
import type { CliPeer } from '../src/cli/peer.ts'

export const MiB = 1024 * 1024

/** One swarm member of a bench run: node, store and exchange. */
export type BenchPeer = CliPeer & { readonly name: string, readonly dir: string }

/** Start a loopback peer (no mDNS, no bootstrap) with data in `<root>/<name>` and upload cap `up` (Infinity: none). */
export async function startBenchPeer (root: string, name: string, up: number): Promise<BenchPeer> {
  const dir = join(root, name)
  // Loaded here, not at the top: `bench/index.ts` imports this file, and libp2p takes seconds to load.
  const { startCliPeer } = await import('../src/cli/peer.ts')
  const peer = await startCliPeer({ chunksDir: dir, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap: [], uploadBytesPerSecond: up })
  return { name, dir, ...peer }
}

/** Chunker bounds for an average size: min = avg/4, max = avg*4; undefined keeps the defaults. */
export function chunkerFor (avg: number | undefined): Partial<ChunkerOptions> | undefined {
  return avg === undefined ? undefined : chunkerForAverage(avg)
}

/** Deterministic pseudo-random bytes (xorshift32), so runs repeat. */
export function seededBytes (size: number, seed = 1): Uint8Array {
  const words = new Uint32Array(Math.ceil(size / 4))
  let x = seed >>> 0 || 1
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    words[i] = x
  }
  return new Uint8Array(words.buffer, 0, size)
}

/** Hex SHA-256 of bytes. */
export function sha256 (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** Hex SHA-256 of a file, streamed. */
export async function sha256File (path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const buf of createReadStream(path)) hash.update(buf as Buffer)
  return hash.digest('hex')
}

/** Milliseconds since the epoch with sub-ms resolution, comparable across processes of one host. */
export function epochMs (): number {
  return performance.timeOrigin + performance.now()
}

/** User + system CPU seconds of this process so far. */
export function cpuSecondsNow (): number {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1e6
}

/** Peak resident set size of this process in bytes. */
export function peakRssNow (): number {
  return process.resourceUsage().maxRSS * 1024
}

/** A fresh temporary directory, removed by the cleanup registry. */
export async function tempRoot (prefix = 'pollen-bench-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  onCleanup(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

const cleanups: Array<() => Promise<void>> = []
let cleaning: Promise<void> | undefined
let signalled = false

/** Register work to run on exit, error or signal; runs last-registered first. */
export function onCleanup (fn: () => Promise<void>): void {
  cleanups.push(fn)
}

/** Run every registered cleanup once, newest first; errors are ignored. Concurrent calls share one run. */
export async function runCleanup (): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length > 0) await cleanups.pop()!().catch(() => {})
  })()
  await cleaning
}

/** Whether SIGINT/SIGTERM arrived (errors after it are the interruption's, not worth reporting). */
export function interrupted (): boolean {
  return signalled
}

/** On SIGINT/SIGTERM, run the cleanups and exit 130. */
export function cleanupOnSignals (): void {
  const onSignal = (): void => {
    signalled = true
    void runCleanup().finally(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
}
