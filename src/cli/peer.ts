import { join } from 'node:path'
import { createSwarmNode, type SwarmNode } from '../node/index.ts'
import { createChunkExchange, createChunkStore, type ChunkExchange, type ChunkStore } from '../chunks/index.ts'

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
}

/** Start a node, open its store under `<data>/chunks` and start the exchange. */
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
  const exchange = createChunkExchange(node.libp2p, { store, uploadBytesPerSecond: options.uploadBytesPerSecond })
  await exchange.start()
  return {
    node, store, exchange,
    async stop () {
      await exchange.stop()
      await node.stop()
      await store.stop()
    }
  }
}
