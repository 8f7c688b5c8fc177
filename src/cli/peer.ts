import { join } from 'node:path'
import { createSwarmNode, type SwarmNode } from '../node/index.ts'
import { createChunkExchange, createChunkStore, type ChunkExchange, type ChunkExchangeOptions, type ChunkStore } from '../chunks/index.ts'

/** A node with its chunk store and exchange, as the CLI commands run it. */
export interface CliPeer {
  readonly node: SwarmNode
  readonly store: ChunkStore
  readonly exchange: ChunkExchange
  stop (): Promise<void>
}

export interface CliPeerOptions {
  /** Data directory (key and chunks); without it, an ephemeral identity and `chunksDir` must be given. */
  readonly dataDir?: string
  readonly chunksDir?: string
  readonly listen?: string[]
  readonly bootstrap?: string[]
  readonly mdns?: boolean
  readonly uploadBytesPerSecond?: number
  /** Defaults for every fetch this peer starts. */
  readonly fetch?: ChunkExchangeOptions['fetch']
  /** Chunks accepted for upload and not yet sent, over all peers. @default EXCHANGE_DEFAULTS.maxQueuedUploads */
  readonly maxQueuedUploads?: number
  /** Any other exchange option (tests use it to try a rule at small scale). */
  readonly exchange?: Partial<Omit<ChunkExchangeOptions, 'store'>>
  /** Serve from a view of the store (tests use it to play a peer that corrupts what it sends). */
  readonly wrapStore?: (store: ChunkStore) => ChunkStore
}

/** Start a node, open its store under `<data>/chunks` and start the exchange. `stop()` is safe to call twice. */
export async function startCliPeer (options: CliPeerOptions): Promise<CliPeer> {
  const chunksDir = options.chunksDir ?? join(options.dataDir!, 'chunks')
  const node = await createSwarmNode({
    dataDir: options.dataDir,
    listen: options.listen,
    bootstrap: options.bootstrap,
    mdns: options.mdns
  })
  const store = createChunkStore({ dir: chunksDir })
  await store.start()
  const exchange = createChunkExchange(node.libp2p, {
    ...options.exchange,
    store: options.wrapStore?.(store) ?? store,
    uploadBytesPerSecond: options.uploadBytesPerSecond,
    wire: node,
    maxQueuedUploads: options.maxQueuedUploads,
    fetch: options.fetch
  })
  await exchange.start()
  let stopping: Promise<void> | undefined
  return {
    node, store, exchange,
    async stop () {
      stopping ??= (async () => {
        await exchange.stop()
        await node.stop()
        await store.stop()
      })()
      await stopping
    }
  }
}
