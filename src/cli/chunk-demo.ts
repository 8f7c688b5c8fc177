import type { Command } from 'commander'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import Table from 'cli-table3'
import { exportFile, importBytes, type FetchResult } from '../chunks/index.ts'
import { waitForPeers } from '../node/index.ts'
import { formatBytes, parseBytes, parseRate } from '../core/index.ts'
import { byteBar } from './shared.ts'
import { startCliPeer, type CliPeer } from './peer.ts'

interface DemoFlags { peers: string, size: string, up: string }

/** `pollen chunk-demo`: the chunk swarm alone (no manager, no agents): an origin and N fetchers on loopback. */
export function registerChunkDemo (program: Command): void {
  program.command('chunk-demo')
    .description('run an origin and N fetchers on loopback, swarm a package between them and report')
    .option('--peers <n>', 'number of fetchers', '8')
    .option('--size <size>', 'package size', '32MiB')
    .option('--up <rate>', 'upload cap of every peer (origin included)', '8MiB/s')
    .action(async (flags: DemoFlags) => { process.exitCode = await demo(flags) })
}

interface Outcome { name: string, result: FetchResult, verified: boolean, seconds: number }

async function demo (flags: DemoFlags): Promise<number> {
  const count = Number.parseInt(flags.peers, 10)
  const size = parseBytes(flags.size)
  const rate = parseRate(flags.up)
  const root = await mkdtemp(join(tmpdir(), 'pollen-demo-'))
  const peers: CliPeer[] = []
  try {
    process.stdout.write(`Pollen chunk-swarm demo: 1 origin + ${count} fetchers on loopback, ${formatBytes(size)} package, every upload capped at ${formatBytes(rate)}/s\n`)
    for (let i = 0; i <= count; i++) {
      peers.push(await startCliPeer({ chunksDir: join(root, `peer${i}`), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, uploadBytesPerSecond: rate }))
    }
    await connectAll(peers)
    const [origin, ...fetchers] = peers as [CliPeer, ...CliPeer[]]
    const data = randomBytes(size)
    const { cid, manifest } = await importBytes(origin.store, data)
    await origin.exchange.seed(cid, { initial: true })
    process.stdout.write(`package ${cid} (${manifest.chunks.length} chunks)\n`)
    const outcomes = await fetchAll(fetchers, cid, data, root)
    return report(outcomes, origin, cid, size, rate, count)
  } finally {
    await Promise.all(peers.map(async p => { await p.stop() }))
    await rm(root, { recursive: true, force: true })
  }
}

async function connectAll (peers: CliPeer[]): Promise<void> {
  for (const [i, a] of peers.entries()) {
    for (const b of peers.slice(i + 1)) await a.node.libp2p.dial(b.node.addresses()[0]!)
  }
  await Promise.all(peers.map(async p => { await waitForPeers(p.node, peers.length - 1, { timeoutMs: 60_000 }) }))
}

async function fetchAll (fetchers: CliPeer[], cid: string, data: Uint8Array, root: string): Promise<Outcome[]> {
  const bar = byteBar('swarming')
  const done = new Array<number>(fetchers.length).fill(0)
  const total = fetchers.length * data.byteLength
  const start = performance.now()
  const outcomes = await Promise.all(fetchers.map(async (peer, i) => {
    const result = await peer.exchange.fetch(cid, {
      timeoutMs: 600_000,
      onProgress: p => { done[i] = p.bytesDone; bar.update(done.reduce((a, b) => a + b, 0), total) }
    })
    const seconds = (performance.now() - start) / 1000
    const out = join(root, `fetched${i}`)
    await exportFile(peer.store, cid, out)
    const verified = Buffer.from(data).equals(await readFile(out))
    return { name: `fetcher ${i + 1}`, result, verified, seconds }
  }))
  bar.stop()
  return outcomes
}

function report (outcomes: Outcome[], origin: CliPeer, cid: string, size: number, rate: number, count: number): number {
  const originId = origin.node.peerId.toString()
  const plain = process.stdout.isTTY !== true
  const table = new Table({ head: ['peer', 'done after', 'from origin', 'from other fetchers', 'verified'], ...(plain ? { style: { head: [], border: [] } } : {}) })
  for (const o of outcomes) {
    const fromOrigin = o.result.bytesByPeer[originId] ?? 0
    table.push([o.name, `${o.seconds.toFixed(1)} s`, formatBytes(fromOrigin), formatBytes(o.result.fetchedBytes - fromOrigin), o.verified ? 'yes' : 'NO'])
  }
  process.stdout.write(`${table.toString()}\n`)
  const uploaded = origin.exchange.uploadedBytesFor(cid)
  const seconds = Math.max(...outcomes.map(o => o.seconds))
  const bound = Math.max(size / rate, count * size / (rate * (count + 1)))
  process.stdout.write(`origin uploaded ${formatBytes(uploaded)} = ${(uploaded / size).toFixed(2)} copies for ${count} fetchers (a client-server fan-out uploads ${count})\n`)
  if (Number.isFinite(bound)) process.stdout.write(`finished in ${seconds.toFixed(1)} s; the fluid lower bound is ${bound.toFixed(1)} s (efficiency ${(bound / seconds).toFixed(2)})\n`)
  const ok = outcomes.every(o => o.verified)
  process.stdout.write(ok ? 'every fetcher holds a byte-identical, verified package\n' : 'VERIFICATION FAILED\n')
  return ok ? 0 : 1
}
