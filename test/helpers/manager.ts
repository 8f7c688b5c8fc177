import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as tar from 'tar'
import { createGossip, type SwarmGossip } from '../../src/gossip/index.ts'
import { createManager, type Manager, type ManagerOptions } from '../../src/manager/index.ts'
import { createSwarmNode, initSwarm, readManagerKey, swarmNodeOptions, waitForPeers, type SwarmNode } from '../../src/node/index.ts'
import { decodePublicKey, type SwarmFile, type TargetRecord } from '../../src/core/index.ts'
import { createAgent, type Agent, type AgentOptions } from '../../src/agent/index.ts'

/** A swarm made by `initSwarm` in a temporary directory. */
export interface TestSwarm {
  readonly root: string
  readonly swarm: SwarmFile
  readonly keyPath: string
  readonly swarmPath: string
  cleanup (): Promise<void>
}

export async function makeSwarm (name = 'test-swarm'): Promise<TestSwarm> {
  const root = await mkdtemp(join(tmpdir(), 'pollen-manager-'))
  const { swarm, keyPath, swarmPath } = await initSwarm(join(root, 'keys'), name)
  return { root, swarm, keyPath, swarmPath, cleanup: async () => { await rm(root, { recursive: true, force: true }) } }
}

/** Start a manager of `swarm` on loopback with data in `<root>/<dataName>`. */
export async function startManager (s: TestSwarm, dataName = 'manager', options: Partial<ManagerOptions> = {}): Promise<Manager> {
  const manager = createManager({
    swarm: s.swarm,
    managerKey: await readManagerKey(s.keyPath),
    dataDir: join(s.root, dataName),
    node: { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false },
    ...options
  })
  await manager.start()
  return manager
}

/** A swarm member (no manager key) with the swarm's gossip, connected to `peer`. */
export interface Member { readonly node: SwarmNode, readonly gossip: SwarmGossip, stop (): Promise<void> }

export async function startMember (s: TestSwarm, connectTo?: SwarmNode): Promise<Member> {
  const node = await createSwarmNode({ listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, ...swarmNodeOptions(s.swarm) })
  const gossip = createGossip(node.libp2p.services.pubsub, { swarm: s.swarm.name, managerPublicKey: decodePublicKey(s.swarm.managerPublicKey) })
  await gossip.start()
  if (connectTo != null) {
    await node.libp2p.dial(connectTo.addresses()[0]!)
    await waitForPeers(node, 1, { timeoutMs: 30_000 })
  }
  return { node, gossip, async stop () { await gossip.stop(); await node.stop() } }
}

/** Write a directory tree and pack it as a .tar.gz; returns the archive path. */
export async function makeTarGz (root: string, files: Record<string, string | Uint8Array>): Promise<string> {
  const dir = await mkdtemp(join(root, 'upload-'))
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(dir, 'tree', path, '..'), { recursive: true })
    await writeFile(join(dir, 'tree', path), content)
  }
  const file = join(dir, 'package.tar.gz')
  await tar.c({ file, gzip: true, cwd: join(dir, 'tree') }, ['.'])
  return file
}

/** Resolve with the first value `probe` returns that is not undefined, re-running `act` every `everyMs` until then. */
export async function retryUntil<T> (act: () => Promise<unknown> | unknown, probe: () => T | undefined, timeoutMs = 60_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    await act()
    const value = probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
}

/** Resolve once `node`'s gossipsub knows `peer` subscribes to `topic` (so a publish reaches it). */
export async function waitForSubscriber (node: SwarmNode, topic: string, peer: SwarmNode, timeoutMs = 30_000): Promise<void> {
  const pubsub = node.libp2p.services.pubsub
  const known = (): boolean => pubsub.getSubscribers(topic).some(p => p.equals(peer.peerId))
  if (known()) return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { done(new Error(`${peer.peerId.toString()} did not subscribe to ${topic} within ${timeoutMs} ms`)) }, timeoutMs)
    const onChange = (): void => { if (known()) done() }
    function done (err?: Error): void {
      clearTimeout(timer)
      pubsub.removeEventListener('subscription-change', onChange)
      if (err == null) resolve()
      else reject(err)
    }
    pubsub.addEventListener('subscription-change', onChange)
  })
}

/** Resolve once `check` passes on the manager's targets, re-checked on every target event. */
export async function waitForTargets (manager: Manager, check: (targets: TargetRecord[]) => boolean, timeoutMs = 120_000): Promise<TargetRecord[]> {
  const read = async (): Promise<TargetRecord[]> => [...(await manager.listTargets({ page: 1, perPage: 10_000 })).items]
  let targets = await read()
  if (check(targets)) return targets
  return await new Promise((resolve, reject) => {
    let busy = false
    const timer = setTimeout(() => { unsubscribe(); reject(new Error(`targets not as expected within ${timeoutMs} ms: ${JSON.stringify(targets.map(t => [t.ID, t.Task?.CurrentStage, t.Task?.StageLogs, t.History]))}`)) }, timeoutMs)
    const unsubscribe = manager.subscribe(event => {
      if (event.topic !== 'target' || busy) return
      busy = true
      void read().then(current => {
        busy = false
        targets = current
        if (!check(current)) return
        clearTimeout(timer)
        unsubscribe()
        resolve(current)
      })
    })
  })
}

/** Start an agent of `s` on loopback that bootstraps to `manager`'s node. */
export async function startAgent (s: TestSwarm, name: string, tags: string[], bootstrap: SwarmNode, options: Partial<AgentOptions> = {}): Promise<Agent> {
  const agent = createAgent({
    swarm: s.swarm,
    dataDir: join(s.root, name),
    id: name,
    tags,
    node: { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap: [bootstrap.addresses()[0]!.toString()] },
    runSettleMs: 500,
    stopGraceMs: 2_000,
    advertIntervalMs: 1_000,
    syncIntervalMs: 2_000,
    transferRetryMs: 1_000,
    ...options
  })
  await agent.start()
  return agent
}
