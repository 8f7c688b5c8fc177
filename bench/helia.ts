/**
 * The Helia/bitswap baseline: one origin Helia node holding the package
 * (UnixFS, fixed 256 KiB raw leaves) and N Helia fetchers, every node
 * connected to every other over the same libp2p transport as Pollen (TCP,
 * Noise, yamux, and the same private network: Pollen's own guarded
 * `@libp2p/pnet`, see {@link HeliaBaselineOptions.privateNetwork}) on
 * loopback. Each fetcher `cat`s the whole file through bitswap and checks
 * its SHA-256.
 *
 * Bitswap has no upload cap; the cap here is a token bucket in front of each
 * node's block store: the bitswap server reads every block it sends from
 * there, so a node's upload is paced (and counted) per block it serves. A
 * fetcher reads its own store only to serve (blocks it lacks come from the
 * network and are not re-read), so what passes the bucket is its upload.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { unixfs } from '@helia/unixfs'
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import { identify } from '@libp2p/identify'
import { generateKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { MemoryBlockstore } from 'blockstore-core'
import { MemoryDatastore } from 'datastore-core'
import { createHeliaLight } from 'helia'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { createHash } from 'node:crypto'
import type { Libp2p } from '@libp2p/interface'
import type { Helia } from 'helia'
import type { CID } from 'multiformats/cid'
import { createTokenBucket, type TokenBucket } from '../src/chunks/index.ts'
import { NODE_DEFAULTS } from '../src/constants.ts'
import { boundedPreSharedKey } from '../src/node/pnet.ts'
import { formatBytes } from '../src/core/units.ts'
import { formatRate, note } from './report.ts'
import { systemFigures, type SystemFigures } from './results.ts'

/** Options of {@link runHeliaBaseline}. */
export interface HeliaBaselineOptions {
  readonly agents: number
  readonly data: Uint8Array
  /** Upload cap of every fetcher, bytes/s (Infinity: none). */
  readonly up: number
  readonly originUp: number
  /** UnixFS leaf size. @default 256 KiB (Pollen's average chunk) */
  readonly chunkBytes?: number
  /** Aborting it ends the run with the abort reason. */
  readonly signal?: AbortSignal
  /** Give up on the fetches after this long. @default 600 s */
  readonly timeoutMs?: number
  /**
   * Put the nodes on a libp2p private network as Pollen's are, with the same
   * protector ({@link boundedPreSharedKey}: stock `@libp2p/pnet` died with
   * `RangeError: WebAssembly.Memory.grow()` once bitswap's send queue on a
   * connection backed up past 62.5 MiB). `false` gives the old variant
   * without it, which spares Helia the XSalsa20 pass Pollen pays. @default true
   */
  readonly privateNetwork?: boolean
}

/** Outcome of one baseline run. */
export interface HeliaRunResult {
  /** Seconds from the common start to each fetcher's verified copy. */
  readonly times: number[]
  /** Block bytes the origin served. */
  readonly originUploadBytes: number
  /** Block bytes the fetchers served each other. */
  readonly agentUploadBytes: number
  readonly allVerified: boolean
  /** Blocks in the DAG (leaves and the root). */
  readonly blocks: number
}

const BITSWAP = '/ipfs/bitswap/1.2.0'

interface HeliaPeer {
  readonly helia: Helia & { libp2p: Libp2p }
  readonly store: MeteredBlockstore
}

/**
 * The baseline as one system of a harness run, its times against
 * `boundSeconds`; skipped (with what it did) when it runs out of time.
 * `variant.timeoutMs` defaults to max(300 s, 20 × the bound).
 */
export async function heliaSystem (
  data: Uint8Array, o: { agents: number, up: number, originUp: number }, boundSeconds: number,
  variant: { privateNetwork?: boolean, timeoutMs?: number } = {}
): Promise<SystemFigures | { skipped: string }> {
  const privateNetwork = variant.privateNetwork ?? true
  note(`Helia/bitswap: ${o.agents} fetchers cat ${formatBytes(data.byteLength)} from one origin (${formatRate(o.originUp)}), fetchers ${formatRate(o.up)}, ${privateNetwork ? 'private network' : 'no private network'}…`)
  const timeoutMs = variant.timeoutMs ?? Math.max(300_000, 20_000 * (Number.isFinite(boundSeconds) ? boundSeconds : 0))
  const r = await runHeliaBaseline({ agents: o.agents, data, up: o.up, originUp: o.originUp, timeoutMs, privateNetwork })
  if (r.times.length < o.agents) {
    const f = (n: number): string => `${formatBytes(n)} (${(n / data.byteLength).toFixed(1)} F)`
    return { skipped: `did not finish within ${timeoutMs / 1000} s: ${r.times.length}/${o.agents} fetchers done; origin served ${f(r.originUploadBytes)}, fetchers served ${f(r.agentUploadBytes)}` }
  }
  return systemFigures(r.times, r.originUploadBytes, data.byteLength, r.allVerified, boundSeconds)
}

/**
 * Run the baseline once; every node is stopped before it returns. When
 * `timeoutMs` runs out, `times` holds only the fetchers that finished.
 */
export async function runHeliaBaseline (o: HeliaBaselineOptions): Promise<HeliaRunResult> {
  const deadline = AbortSignal.timeout(o.timeoutMs ?? 600_000)
  const signal = AbortSignal.any([deadline, ...(o.signal == null ? [] : [o.signal])])
  const psk = o.privateNetwork === false ? undefined : new Uint8Array(95)
  if (psk != null) generateKey(psk)
  const peers: HeliaPeer[] = []
  try {
    peers.push(await startPeer(psk, o.originUp))
    for (let i = 0; i < o.agents; i++) peers.push(await startPeer(psk, o.up))
    const [origin, ...fetchers] = peers as [HeliaPeer, ...HeliaPeer[]]
    const cid = await unixfs(origin.helia).addBytes(o.data, { chunker: fixedSize({ chunkSize: o.chunkBytes ?? 256 * 1024 }), rawLeaves: true, signal })
    const blocks = await countBlocks(origin.store)
    origin.store.servedBytes = 0
    await connectAll(peers, signal)
    const expected = createHash('sha256').update(o.data).digest('hex')
    const start = performance.now()
    const results = await Promise.all(fetchers.map(async f => {
      try {
        const ok = await catSha(f, cid, signal) === expected
        return { seconds: (performance.now() - start) / 1000, ok }
      } catch (err) {
        if (deadline.aborted && o.signal?.aborted !== true) return undefined
        throw err
      }
    }))
    const done = results.filter(r => r !== undefined)
    return {
      times: done.map(r => r.seconds),
      originUploadBytes: origin.store.servedBytes,
      agentUploadBytes: fetchers.reduce((sum, f) => sum + f.store.servedBytes, 0),
      allVerified: done.length === fetchers.length && done.every(r => r.ok),
      blocks
    }
  } finally {
    await Promise.all(peers.map(async p => { await p.helia.stop().catch(() => {}) }))
  }
}

async function startPeer (psk: Uint8Array | undefined, up: number): Promise<HeliaPeer> {
  const store = new MeteredBlockstore(createTokenBucket({ bytesPerSecond: up }))
  const helia = withBitswap(withLibp2pLight(createHeliaLight({ blockstore: store, datastore: new MemoryDatastore() }), {
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    ...(psk == null ? {} : { connectionProtector: boundedPreSharedKey(psk) }),
    services: { identify: identify() },
    // Pollen's node settings: loopback swarms dial in bursts from one address.
    connectionManager: {
      maxConnections: NODE_DEFAULTS.maxConnections,
      inboundConnectionThreshold: NODE_DEFAULTS.inboundConnectionThreshold,
      maxIncomingPendingConnections: NODE_DEFAULTS.maxIncomingPendingConnections,
      dialTimeout: NODE_DEFAULTS.dialTimeoutMs
    }
  }))
  await helia.start()
  return { helia, store }
}

/** Each node dials every lower one; resolves once every node knows every other speaks bitswap. */
async function connectAll (peers: HeliaPeer[], signal: AbortSignal): Promise<void> {
  await Promise.all(peers.map(async (p, i) => {
    for (const other of peers.slice(0, i)) await p.helia.libp2p.dial(other.helia.libp2p.getMultiaddrs()[0]!, { signal })
  }))
  const ready = async (p: HeliaPeer): Promise<boolean> => {
    const others = peers.filter(q => q !== p).map(q => q.helia.libp2p.peerId)
    for (const id of others) {
      const known = await p.helia.libp2p.peerStore.get(id).catch(() => undefined)
      if (known?.protocols.includes(BITSWAP) !== true) return false
    }
    return true
  }
  while (!(await Promise.all(peers.map(ready))).every(Boolean)) {
    signal.throwIfAborted()
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

async function catSha (peer: HeliaPeer, cid: CID, signal: AbortSignal): Promise<string> {
  const hash = createHash('sha256')
  for await (const piece of unixfs(peer.helia).cat(cid, { signal })) hash.update(piece)
  return hash.digest('hex')
}

async function countBlocks (store: MemoryBlockstore): Promise<number> {
  let n = 0
  for await (const _ of store.getAll()) n++
  return n
}

/** A memory block store whose reads (the bitswap server's) take upload tokens and are counted. */
class MeteredBlockstore extends MemoryBlockstore {
  servedBytes = 0
  readonly #bucket: TokenBucket

  constructor (bucket: TokenBucket) {
    super()
    this.#bucket = bucket
  }

  override async * get (key: CID, options?: { signal?: AbortSignal }): AsyncGenerator<Uint8Array> {
    for await (const piece of super.get(key, options)) {
      await this.#bucket.take(piece.byteLength, options?.signal)
      this.servedBytes += piece.byteLength
      yield piece
    }
  }
}
