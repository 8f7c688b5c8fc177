/**
 * A malicious swarm member for the fault suites. It holds swarm.json (so it
 * may connect and join gossip) but not the manager key. It claims every
 * chunk of every package it hears announced and serves each one corrupted
 * (right size, wrong bytes), and it floods both gossip topics with invalid
 * messages: garbage, malformed JSON, and tasks signed by a key of its own.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Multiaddr } from '@multiformats/multiaddr'
import { createChunkExchange, createChunkStore, type ChunkExchange, type ChunkStore } from '../../src/chunks/index.ts'
import { decodeManifest, decodePublicKey, parseCid, RAW_CODEC, signBody, type Signed, type TaskBody } from '../../src/core/index.ts'
import { createGossip, type SwarmGossip } from '../../src/gossip/index.ts'
import { createSwarmNode, readSwarmFile, swarmNodeOptions, type SwarmNode } from '../../src/node/index.ts'

/** The running rogue and what it did. */
export interface Rogue {
  readonly node: SwarmNode
  readonly peerId: string
  /** Corrupted chunks it sent. */
  readonly corruptChunksServed: number
  /** Invalid gossip messages it published. */
  readonly hostileMessages: number
  /** Of those, the ones on the tasks topic (every agent receives that topic; the status topic only agents that relay it). */
  readonly hostileTaskMessages: number
  /** Peers it knows subscribe to the tasks topic (it hears announcements through them). */
  subscribers (): number
  /** Resolves once it claims the package of an announced task (so it must hear the task before it floods). */
  readonly serving: Promise<string>
  /** Publish `count` invalid messages, spread over both topics and kinds; resolves when sent. */
  flood (count: number, gapMs?: number): Promise<void>
  stop (): Promise<void>
}

const isRawCid = (cid: string): boolean => { try { parseCid(cid, RAW_CODEC); return true } catch { return false } }

/**
 * A store that holds the manifests it is given and pretends to hold every
 * chunk: `has` is true for any chunk, `get` returns bytes of the chunk's size
 * that do not hash to its CID.
 */
function lyingStore (real: ChunkStore, onCorrupt: () => void): ChunkStore {
  const sizes = new Map<string, number>()
  return {
    get dir () { return real.dir },
    start: async () => { await real.start() },
    stop: async () => { await real.stop() },
    has: cid => isRawCid(cid) || real.has(cid),
    async get (cid, options) {
      if (!isRawCid(cid)) return await real.get(cid, options)
      onCorrupt()
      return randomBytes(sizes.get(cid) ?? 64 * 1024)
    },
    async put (cid, bytes, options) {
      if (isRawCid(cid)) return
      await real.put(cid, bytes, options)
      for (const chunk of decodeManifest(bytes).chunks) sizes.set(chunk.cid, chunk.size)
    },
    add: async (bytes, options) => await real.add(bytes, options),
    putManifest: async manifest => await real.putManifest(manifest),
    getManifest: async cid => await real.getManifest(cid),
    delete: async cid => { await real.delete(cid) },
    size: () => real.size(),
    bytesStored: () => real.bytesStored()
  }
}

/** Start a rogue member of the swarm in `swarmPath` and connect it to `peers`. */
export async function startRogue (swarmPath: string, peers: readonly Multiaddr[]): Promise<Rogue> {
  const swarm = await readSwarmFile(swarmPath)
  const dir = await mkdtemp(join(tmpdir(), 'pollen-rogue-'))
  let corrupt = 0
  let hostile = 0
  let hostileTasks = 0
  const store = lyingStore(createChunkStore({ dir: join(dir, 'chunks') }), () => { corrupt++ })
  await store.start()
  const node = await createSwarmNode({ listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, ...swarmNodeOptions(swarm) })
  const exchange: ChunkExchange = createChunkExchange(node.libp2p, { store })
  await exchange.start()
  const gossip: SwarmGossip = createGossip(node.libp2p.services.pubsub, { swarm: swarm.name, managerPublicKey: decodePublicKey(swarm.managerPublicKey) })
  const seen: Array<Signed<TaskBody>> = []
  const serving = Promise.withResolvers<string>()
  gossip.addEventListener('manager-message', evt => {
    const signed = evt.detail.signed
    if (signed.body.kind !== 'task') return
    seen.push(signed as Signed<TaskBody>)
    // Only the manifest is really fetched: the lying store claims every chunk, so the fetch ends there.
    const cid = (signed.body as TaskBody).package?.cid
    if (cid != null) void exchange.fetch(cid).then(() => { serving.resolve(cid) }, () => {})
  })
  await gossip.start()
  for (const addr of peers) await node.libp2p.dial(addr).catch(() => {})
  const foreignKey = await generateKeyPair('Ed25519')
  const pubsub = node.libp2p.services.pubsub

  const invalid = async (i: number): Promise<{ topic: string, data: Uint8Array }> => {
    const encode = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value))
    switch (i % 4) {
      case 0: return { topic: gossip.topics.tasks, data: randomBytes(200) }
      case 1: return { topic: gossip.topics.status, data: encode({ kind: 'ack', junk: i }) }
      case 2: return { topic: gossip.topics.status, data: randomBytes(100) }
      default: {
        const genuine = seen.at(-1)
        const body = { ...(genuine?.body ?? {}), id: `rogue-${i}`, seq: 1_000_000 + i, stages: { transfer: [], install: [], run: ['echo pwned'] } } as unknown as TaskBody
        return { topic: gossip.topics.tasks, data: encode(await signBody(foreignKey, body)) }
      }
    }
  }

  return {
    node,
    peerId: node.peerId.toString(),
    serving: serving.promise,
    subscribers: () => pubsub.getSubscribers(gossip.topics.tasks).length,
    get corruptChunksServed () { return corrupt },
    get hostileMessages () { return hostile },
    get hostileTaskMessages () { return hostileTasks },
    async flood (count, gapMs = 5) {
      for (let i = 0; i < count; i++) {
        const { topic, data } = await invalid(hostile)
        await pubsub.publish(topic, data).catch(() => {})
        hostile++
        if (topic === gossip.topics.tasks) hostileTasks++
        await new Promise(resolve => setTimeout(resolve, gapMs))
      }
    },
    async stop () {
      await gossip.stop()
      await exchange.stop()
      await node.stop()
      await store.stop()
      await rm(dir, { recursive: true, force: true })
    }
  }
}
