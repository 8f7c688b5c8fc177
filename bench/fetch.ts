/**
 * `bench fetch`: one origin and N fetchers with capped uploads; every fetcher
 * downloads the same package at once. Measures completion times against the
 * bandwidth lower bound, origin upload, duplicates, CPU and memory.
 */
import { cpus } from 'node:os'
import { importBytes } from '../src/chunks/index.ts'
import { formatBytes } from '../src/core/units.ts'
import { MiB, chunkerFor, cpuSecondsNow, epochMs, peakRssNow, seededBytes, sha256, startBenchPeer, tempRoot, onCleanup, type BenchPeer } from './common.ts'
import { LocalGroup, type FetchDone, type GroupConfig, type GroupHandle, type GroupReport } from './group.ts'
import { RemoteGroup } from './remote.ts'
import { formatRate, lowerBoundSeconds, note, percentile, printResult, round, startProgress } from './report.ts'

/** Options of {@link runFetchBench}, parsed. */
export interface FetchBenchOptions {
  readonly peers: number
  readonly size: number
  /** Upload cap of every fetcher, bytes/s (Infinity: none). */
  readonly up: number
  readonly originUp: number
  readonly chunkAvg?: number
  readonly workers: number
  readonly json: boolean
}

/** What `bench fetch --json` prints (the JSON line). Rates are null when uncapped. */
export interface FetchBenchResult {
  peers: number
  /** Worker processes running the fetchers (0: all in this process). */
  workers: number
  packageBytes: number
  /** Average chunk size of the manifest. */
  chunkBytes: number
  chunks: number
  upBytesPerSecond: number | null
  originUpBytesPerSecond: number | null
  originUploadBytes: number
  /** originUploadBytes / packageBytes. */
  originUploadRatio: number
  /** Package bytes uploaded by every node, origin included. */
  totalBytesMoved: number
  duplicateBytes: number
  /** From the common start until the last fetcher finished. */
  seconds: number
  lowerBoundSeconds: number
  /** lowerBoundSeconds / seconds; null without upload caps. */
  efficiency: number | null
  p50Seconds: number
  p99Seconds: number
  allVerified: boolean
  /** CPU of every process over its whole life. */
  cpuSeconds: number
  /** CPU of every process from the start signal until the last fetcher finished. */
  fetchCpuSeconds: number
  cores: number
  /** Sum of each process's peak RSS. */
  peakRssBytes: number
}

/** The swarm under test, once set up. */
interface Swarm {
  readonly origin: BenchPeer
  readonly cid: string
  readonly chunks: number
  readonly groups: GroupHandle[]
  readonly done: FetchDone[]
}

/** Run the swarm fetch bench and print its summary (and JSON line). */
export async function runFetchBench (options: FetchBenchOptions): Promise<void> {
  const root = await tempRoot()
  const swarm = await setUp(root, options)
  const stopProgress = startProgress(() => progressLine(swarm, options.peers))
  const cpu0 = cpuSecondsNow()
  const t0 = epochMs()
  try {
    await Promise.all(swarm.groups.map(async g => { await g.fetch(swarm.cid, t0) }))
  } finally {
    stopProgress()
  }
  const parentFetchCpu = cpuSecondsNow() - cpu0
  note('verifying exports')
  const reports = await Promise.all(swarm.groups.map(async g => await g.finish(swarm.cid)))
  const originUpload = swarm.origin.exchange.uploadedBytesFor(swarm.cid)
  await Promise.all(swarm.groups.map(async g => { await g.stop() }))
  report(options, swarm, reports, originUpload, parentFetchCpu)
}

async function setUp (root: string, options: FetchBenchOptions): Promise<Swarm> {
  note(`importing ${formatBytes(options.size)} package at the origin`)
  const origin = await startBenchPeer(root, 'origin', options.originUp)
  onCleanup(origin.stop)
  const data = seededBytes(options.size, 1)
  const expectedSha = sha256(data)
  const { cid, manifest } = await importBytes(origin.store, data, { chunker: chunkerFor(options.chunkAvg) })
  await origin.exchange.seed(cid, { initial: true })
  note(`starting ${options.peers} fetchers in ${options.workers > 1 ? `${Math.min(options.workers, options.peers)} worker processes` : 'this process'}`)
  const done: FetchDone[] = []
  const groups = await startGroups(root, options, expectedSha, d => { done.push(d) })
  const all = [origin.node.addresses()[0]!.toString(), ...groups.flatMap(g => g.addresses)]
  note('connecting every peer to every other')
  await Promise.all(groups.map(async g => { await g.connect(all) }))
  return { origin, cid, chunks: manifest.chunks.length, groups, done }
}

/** Start the fetcher groups: one in process, or one per worker, fetchers dealt out in contiguous positions. */
async function startGroups (root: string, options: FetchBenchOptions, expectedSha: string, onDone: (d: FetchDone) => void): Promise<GroupHandle[]> {
  const workers = Math.min(Math.max(1, options.workers), options.peers)
  const timeoutMs = Math.max(300_000, 20_000 * lowerBoundSeconds(options.peers, options.size, options.originUp, options.up))
  const up = Number.isFinite(options.up) ? options.up : null
  const configs: GroupConfig[] = Array.from({ length: workers }, (_, w) => ({
    root, up, expectedSha, timeoutMs, positions: sharePositions(options.peers, workers, w)
  }))
  if (options.workers <= 1) {
    const group = await LocalGroup.start(configs[0]!, onDone)
    onCleanup(async () => { await group.stop() })
    return [group]
  }
  const groups: GroupHandle[] = []
  for (const config of configs) groups.push(await RemoteGroup.start(config, onDone))
  return groups
}

/** Swarm positions (1..peers) of worker `w` of `workers`, contiguous and balanced. */
function sharePositions (peers: number, workers: number, w: number): number[] {
  const from = Math.floor((w * peers) / workers)
  const to = Math.floor(((w + 1) * peers) / workers)
  return Array.from({ length: to - from }, (_, i) => from + i + 1)
}

function progressLine (swarm: Swarm, peers: number): string {
  const moved = swarm.groups.reduce((sum, g) => sum + g.progress().uploadedBytes, swarm.origin.exchange.uploadedBytesFor(swarm.cid))
  return `${swarm.done.length}/${peers} fetchers done, ${(moved / MiB).toFixed(1)} MiB moved`
}

function report (options: FetchBenchOptions, swarm: Swarm, reports: GroupReport[], originUpload: number, parentFetchCpu: number): void {
  const { peers, size } = options
  const times = swarm.done.map(d => d.seconds)
  const seconds = Math.max(...times)
  const bound = lowerBoundSeconds(peers, size, options.originUp, options.up)
  const usages = reports.flatMap(r => r.usage === undefined ? [] : [r.usage])
  const result: FetchBenchResult = {
    peers,
    workers: options.workers > 1 ? Math.min(options.workers, peers) : 0,
    packageBytes: size,
    chunkBytes: Math.round(size / swarm.chunks),
    chunks: swarm.chunks,
    upBytesPerSecond: finiteOrNull(options.up),
    originUpBytesPerSecond: finiteOrNull(options.originUp),
    originUploadBytes: originUpload,
    originUploadRatio: round(originUpload / size),
    totalBytesMoved: originUpload + reports.reduce((sum, r) => sum + r.uploadedBytes, 0),
    duplicateBytes: swarm.done.reduce((sum, d) => sum + d.duplicateBytes, 0),
    seconds: round(seconds),
    lowerBoundSeconds: round(bound),
    efficiency: bound > 0 ? round(bound / seconds) : null,
    p50Seconds: round(percentile(times, 50)),
    p99Seconds: round(percentile(times, 99)),
    allVerified: reports.every(r => r.verified.every(Boolean)) && times.length === peers,
    cpuSeconds: round(cpuSecondsNow() + usages.reduce((sum, u) => sum + u.cpuSeconds, 0)),
    fetchCpuSeconds: round(parentFetchCpu + usages.reduce((sum, u) => sum + u.fetchCpuSeconds, 0)),
    cores: cpus().length,
    peakRssBytes: peakRssNow() + usages.reduce((sum, u) => sum + u.peakRssBytes, 0)
  }
  printResult(summaryLines(result, options), result, options.json)
}

function summaryLines (r: FetchBenchResult, options: FetchBenchOptions): Array<[string, string]> {
  return [
    ['swarm', `1 origin (${formatRate(options.originUp)}) + ${r.peers} fetchers (${formatRate(options.up)}), ${r.workers === 0 ? 'all in one process' : `fetchers in ${r.workers} workers`}`],
    ['package', `${formatBytes(r.packageBytes)} in ${r.chunks} chunks of ${formatBytes(r.chunkBytes)} on average`],
    ['time', `${r.seconds} s (p50 ${r.p50Seconds} s, p99 ${r.p99Seconds} s), lower bound ${r.lowerBoundSeconds} s`],
    ['efficiency', r.efficiency === null ? 'n/a (no upload cap)' : r.efficiency.toFixed(2)],
    ['origin upload', `${formatBytes(r.originUploadBytes)} (${r.originUploadRatio.toFixed(2)} copies)`],
    ['total moved', `${formatBytes(r.totalBytesMoved)}, duplicates ${formatBytes(r.duplicateBytes)}`],
    ['cpu', `${r.fetchCpuSeconds} s during fetch (${(r.fetchCpuSeconds / r.seconds).toFixed(2)} of ${r.cores} cores), ${r.cpuSeconds} s in all`],
    ['peak rss', `${formatBytes(r.peakRssBytes)} (sum over processes)`],
    ['verified', r.allVerified ? 'every copy byte-identical' : 'FAILED: some copy differs or is missing']
  ]
}

function finiteOrNull (n: number): number | null {
  return Number.isFinite(n) ? n : null
}
