/**
 * `bench fetch --raw`: one unthrottled fetch between two nodes, compared with
 * pushing the same bytes over a plain libp2p stream between the same nodes.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { importBytes } from '../src/chunks/index.ts'
import { formatBytes } from '../src/core/units.ts'
import { waitForPeers } from '../src/node/index.ts'
import { MiB, chunkerFor, cpuSecondsNow, onCleanup, peakRssNow, seededBytes, startBenchPeer, tempRoot, type BenchPeer } from './common.ts'
import { note, printResult, round } from './report.ts'

/** Protocol of the raw comparison stream. */
export const RAW_PROTOCOL = '/pollen/bench/raw/1.0.0'
/** Bytes per `send` on the raw stream. */
const PIECE_BYTES = 256 * 1024

/** Options of {@link runRawBench}, parsed. */
export interface RawBenchOptions {
  readonly size: number
  readonly chunkAvg?: number
  readonly json: boolean
}

/** What `bench fetch --raw --json` prints. */
export interface RawBenchResult {
  packageBytes: number
  chunks: number
  pollenSeconds: number
  pollenMiBps: number
  pollenCpuSeconds: number
  rawSeconds: number
  rawMiBps: number
  rawCpuSeconds: number
  /** pollenMiBps / rawMiBps, both ends in this process (one event loop). */
  ratio: number
  /** The same two transfers with the fetcher in a child process (as on two devices). */
  twoProcess: { pollenMiBps: number, rawMiBps: number, ratio: number }
  peakRssBytes: number
}

/** Run the raw comparison and print its summary (and JSON line). */
export async function runRawBench (options: RawBenchOptions): Promise<void> {
  const root = await tempRoot()
  const seeder = await startBenchPeer(root, 'seeder', Infinity)
  onCleanup(seeder.stop)
  const fetcher = await startBenchPeer(root, 'fetcher', Infinity)
  onCleanup(fetcher.stop)
  note(`importing ${formatBytes(options.size)} package at the seeder`)
  const data = seededBytes(options.size, 1)
  const { cid, manifest } = await importBytes(seeder.store, data, { chunker: chunkerFor(options.chunkAvg) })
  await seeder.exchange.seed(cid)
  await fetcher.node.libp2p.dial(multiaddr(seeder.node.addresses()[0]!.toString()))
  await waitForPeers(fetcher.node, 1, { timeoutMs: 30_000 })
  note('pollen fetch')
  const pollen = await timed(async () => { await fetcher.exchange.fetch(cid, { timeoutMs: 600_000 }) })
  note('raw stream')
  const raw = await timed(async () => { await rawTransfer(seeder, fetcher, data) })
  const mibps = (seconds: number): number => options.size / MiB / seconds
  note('the same with the fetcher in a child process')
  const apart = await twoProcess(seeder, cid, data)
  const result: RawBenchResult = {
    packageBytes: options.size,
    chunks: manifest.chunks.length,
    pollenSeconds: round(pollen.seconds),
    pollenMiBps: round(mibps(pollen.seconds), 1),
    pollenCpuSeconds: round(pollen.cpuSeconds),
    rawSeconds: round(raw.seconds),
    rawMiBps: round(mibps(raw.seconds), 1),
    rawCpuSeconds: round(raw.cpuSeconds),
    ratio: round(raw.seconds / pollen.seconds),
    twoProcess: { pollenMiBps: round(mibps(apart.pollenSeconds), 1), rawMiBps: round(mibps(apart.rawSeconds), 1), ratio: round(apart.rawSeconds / apart.pollenSeconds) },
    peakRssBytes: peakRssNow()
  }
  printResult([
    ['package', `${formatBytes(options.size)} in ${result.chunks} chunks`],
    ['pollen', `${result.pollenSeconds} s, ${result.pollenMiBps} MiB/s, ${result.pollenCpuSeconds} s CPU`],
    ['raw stream', `${result.rawSeconds} s, ${result.rawMiBps} MiB/s, ${result.rawCpuSeconds} s CPU`],
    ['ratio', `${result.ratio.toFixed(2)} (pollen / raw, both ends in one process)`],
    ['two processes', `pollen ${result.twoProcess.pollenMiBps} MiB/s, raw ${result.twoProcess.rawMiBps} MiB/s, ratio ${result.twoProcess.ratio.toFixed(2)}`]
  ], result, options.json)
}

async function timed (work: () => Promise<void>): Promise<{ seconds: number, cpuSeconds: number }> {
  const cpu0 = cpuSecondsNow()
  const t0 = performance.now()
  await work()
  return { seconds: (performance.now() - t0) / 1000, cpuSeconds: cpuSecondsNow() - cpu0 }
}

/** Push `data` from `sender` to `receiver` over a fresh {@link RAW_PROTOCOL} stream; resolves once all of it was read. */
async function rawTransfer (sender: BenchPeer, receiver: BenchPeer, data: Uint8Array): Promise<void> {
  const received = Promise.withResolvers<number>()
  await receiver.node.libp2p.handle(RAW_PROTOCOL, stream => { countUntilEnd(stream).then(received.resolve, received.reject) })
  const stream = await sender.node.libp2p.dialProtocol(receiver.node.peerId, RAW_PROTOCOL)
  for (let offset = 0; offset < data.byteLength; offset += PIECE_BYTES) {
    if (!stream.send(data.subarray(offset, offset + PIECE_BYTES))) await stream.onDrain()
  }
  await stream.close()
  const count = await received.promise
  if (count !== data.byteLength) throw new Error(`raw stream delivered ${count} of ${data.byteLength} bytes`)
}

/** Read a stream to its end; resolves with the byte count. */
export async function countUntilEnd (stream: Stream): Promise<number> {
  let count = 0
  for await (const buf of stream) count += buf.byteLength
  await stream.close()
  return count
}

/** Time a raw transfer and a Pollen fetch from `seeder` to a fetcher in a child process. */
async function twoProcess (seeder: BenchPeer, cid: string, data: Uint8Array): Promise<{ pollenSeconds: number, rawSeconds: number }> {
  const child = fork(fileURLToPath(new URL('./raw-peer.ts', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  onCleanup(async () => { if (child.exitCode === null) child.kill() })
  const next = eventsOf(child)
  const { ready } = await next<{ ready: string }>('ready')
  child.send({ op: 'dial', addr: seeder.node.addresses()[0]!.toString() })
  await next('dialled')
  const peerId = peerIdFromString(multiaddr(ready).getComponents().find(c => c.name === 'p2p')!.value!)
  const rawSeconds = await secondsUntil(async () => {
    const counted = next<{ rawBytes: number }>('rawBytes')
    const stream = await seeder.node.libp2p.dialProtocol(peerId, RAW_PROTOCOL)
    for (let offset = 0; offset < data.byteLength; offset += PIECE_BYTES) {
      if (!stream.send(data.subarray(offset, offset + PIECE_BYTES))) await stream.onDrain()
    }
    await stream.close()
    const { rawBytes } = await counted
    if (rawBytes !== data.byteLength) throw new Error(`raw stream delivered ${rawBytes} of ${data.byteLength} bytes`)
  })
  const pollenSeconds = await secondsUntil(async () => {
    child.send({ op: 'fetch', cid })
    await next('fetched')
  })
  child.send({ op: 'stop' })
  return { pollenSeconds, rawSeconds }
}

async function secondsUntil (work: () => Promise<void>): Promise<number> {
  const t0 = performance.now()
  await work()
  return (performance.now() - t0) / 1000
}

/** Await the child's next message carrying `key` (an `error` message rejects). */
function eventsOf (child: ChildProcess): <T> (key: string) => Promise<T> {
  return async <T>(key: string) => await new Promise<T>((resolve, reject) => {
    const onMessage = (message: Record<string, unknown>): void => {
      if ('error' in message) { done(); reject(new Error(String(message.error))) } else if (key in message) { done(); resolve(message as T) }
    }
    const onExit = (): void => { done(); reject(new Error('raw bench child exited')) }
    const done = (): void => { child.off('message', onMessage); child.off('exit', onExit) }
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}
