/**
 * A group of fetchers living in one process. The parent runs one group in
 * process, or each worker process runs one; the parent drives either through
 * the {@link GroupHandle} interface.
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { exportFile } from '../src/chunks/index.ts'
import { waitForPeers } from '../src/node/index.ts'
import { epochMs, sha256File, startBenchPeer, type BenchPeer } from './common.ts'

/** Dials a group has in progress at once while connecting the swarm, and attempts per peer before giving up. */
const DIAL_CONCURRENCY = 8
const DIAL_ATTEMPTS = 3

/** Dial `addr`, again after a failure (a handshake can outlast the dial timeout while a busy host connects hundreds of peers). */
async function dialWithRetries (peer: BenchPeer, addr: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await peer.node.libp2p.dial(multiaddr(addr))
      return
    } catch (err) {
      if (attempt >= DIAL_ATTEMPTS) throw err
    }
  }
}

/** What a group needs to start its fetchers. */
export interface GroupConfig {
  readonly root: string
  /** Swarm positions of this group's fetchers (the origin is position 0, fetchers 1..N). */
  readonly positions: number[]
  /** Upload cap of every fetcher, bytes/s (null: none; JSON has no Infinity). */
  readonly up: number | null
  /** SHA-256 of the package, to verify exports. */
  readonly expectedSha: string
  readonly timeoutMs: number
}

/** One fetcher finished. */
export interface FetchDone {
  readonly position: number
  /** Seconds from the common start signal. */
  readonly seconds: number
  readonly fetchedBytes: number
  readonly duplicateBytes: number
}

/** Running counters of a group. */
export interface GroupProgress {
  readonly done: number
  readonly uploadedBytes: number
}

/** CPU and memory of a worker process (absent for the in-process group). */
export interface ProcessUsage {
  readonly cpuSeconds: number
  readonly fetchCpuSeconds: number
  readonly peakRssBytes: number
}

/** What a group reports once every fetch is done. */
export interface GroupReport {
  /** Per fetcher (in `positions` order): export byte-identical to the package. */
  readonly verified: boolean[]
  /** Package bytes uploaded by the group's fetchers. */
  readonly uploadedBytes: number
  readonly usage?: ProcessUsage
}

/** How the parent drives a group, in process or in a worker. */
export interface GroupHandle {
  /** Listen address of each fetcher, in `positions` order. */
  readonly addresses: string[]
  /** Dial every lower swarm position and wait until connected to the whole swarm. */
  connect (all: string[]): Promise<void>
  /** Fetch on every fetcher; `t0` (epoch ms) is the common start. Resolves when all are done. */
  fetch (cid: string, t0: number): Promise<void>
  progress (): GroupProgress
  /** Export and verify every fetcher's copy; report counters. */
  finish (cid: string): Promise<GroupReport>
  stop (): Promise<void>
}

/** Fetchers of one process. */
export class LocalGroup implements GroupHandle {
  readonly addresses: string[]
  readonly #config: GroupConfig
  readonly #peers: BenchPeer[]
  readonly #onDone: (done: FetchDone) => void
  #done = 0
  #cid = ''

  private constructor (config: GroupConfig, peers: BenchPeer[], onDone: (done: FetchDone) => void) {
    this.#config = config
    this.#peers = peers
    this.#onDone = onDone
    this.addresses = peers.map(p => p.node.addresses()[0]!.toString())
  }

  /** Start the group's fetchers (listening, not yet connected). */
  static async start (config: GroupConfig, onDone: (done: FetchDone) => void): Promise<LocalGroup> {
    const up = config.up ?? Infinity
    const peers: BenchPeer[] = []
    try {
      for (const position of config.positions) peers.push(await startBenchPeer(config.root, `f${position}`, up))
    } catch (err) {
      await Promise.all(peers.map(async p => { await p.stop() }))
      throw err
    }
    return new LocalGroup(config, peers, onDone)
  }

  async connect (all: string[]): Promise<void> {
    // A few dials at a time: hundreds of Noise handshakes at once in one process outlast the dial timeout on a busy host.
    const dials = this.#peers.flatMap((peer, i) => all.slice(0, this.#config.positions[i]!).map(addr => ({ peer, addr })))
    let next = 0
    const lane = async (): Promise<void> => {
      while (next < dials.length) {
        const { peer, addr } = dials[next++]!
        await dialWithRetries(peer, addr)
      }
    }
    await Promise.all(Array.from({ length: Math.min(DIAL_CONCURRENCY, dials.length) }, lane))
    await Promise.all(this.#peers.map(async p => { await waitForPeers(p.node, all.length - 1, { timeoutMs: 60_000 }) }))
  }

  async fetch (cid: string, t0: number): Promise<void> {
    this.#cid = cid
    await Promise.all(this.#peers.map(async (peer, i) => {
      const result = await peer.exchange.fetch(cid, { timeoutMs: this.#config.timeoutMs })
      this.#done++
      this.#onDone({
        position: this.#config.positions[i]!,
        seconds: (epochMs() - t0) / 1000,
        fetchedBytes: result.fetchedBytes,
        duplicateBytes: result.duplicateBytes
      })
    }))
  }

  progress (): GroupProgress {
    const uploadedBytes = this.#cid === '' ? 0 : this.#uploaded(this.#cid)
    return { done: this.#done, uploadedBytes }
  }

  async finish (cid: string): Promise<GroupReport> {
    const uploadedBytes = this.#uploaded(cid)
    const verified: boolean[] = []
    for (const peer of this.#peers) verified.push(await this.#verify(peer, cid))
    return { verified, uploadedBytes }
  }

  async stop (): Promise<void> {
    await Promise.all(this.#peers.map(async p => { await p.stop() }))
  }

  #uploaded (cid: string): number {
    return this.#peers.reduce((sum, p) => sum + p.exchange.uploadedBytesFor(cid), 0)
  }

  async #verify (peer: BenchPeer, cid: string): Promise<boolean> {
    const out = join(peer.dir, 'package.out')
    try {
      await exportFile(peer.store, cid, out)
      return await sha256File(out) === this.#config.expectedSha
    } catch {
      return false
    } finally {
      await rm(out, { force: true })
    }
  }
}
