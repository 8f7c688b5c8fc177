/**
 * `bench simulate --validate`: the real swarm and the simulated one side by
 * side. Runs `bench fetch` (real libp2p fetchers in worker processes, every
 * peer connected to every other, content-defined chunks) as a child
 * process, cuts the same package with the same chunker to get the exact
 * chunk sizes, simulates that swarm (full mesh, those sizes, the same caps)
 * with a few seeds, and prints both with the gap.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { chunkStream } from '../../src/chunks/chunker.ts'
import { formatBytes } from '../../src/core/units.ts'
import { chunkerFor, seededBytes } from '../common.ts'
import type { FetchBenchResult } from '../fetch.ts'
import { formatRate, lowerBoundSeconds, note, percentile, printResult, round } from '../report.ts'
import { simulate, type SimulationOptions } from './swarm.ts'

/** Options of {@link runValidation}. */
export interface ValidationOptions extends SimulationOptions {
  /** Worker processes of the real run. */
  readonly workers: number
  readonly json: boolean
}

/** Seeds the simulation is run with; the figures are their mean. */
const SEEDS = [1, 2, 3, 4, 5]

const BENCH_SCRIPT = fileURLToPath(new URL('../index.ts', import.meta.url))

/** One side of the comparison. */
interface Side {
  readonly seconds: number
  readonly p50Seconds: number
  readonly originUploadRatio: number
}

/** Run the real fetch bench, then the simulation of the same swarm; print both and the gaps. */
export async function runValidation (o: ValidationOptions): Promise<void> {
  const real = await runRealFetch(o)
  const sizes = await chunkSizes(o.packageBytes, o.chunkBytes)
  if (sizes.length !== real.chunks) throw new Error(`the chunker cut ${sizes.length} chunks here but ${real.chunks} in the real run`)
  note(`simulating the same swarm with seeds ${SEEDS.join(', ')}`)
  const runs = SEEDS.map(seed => simulate({ ...o, seed, chunkSizes: sizes, degree: o.agents, originDegree: o.agents }))
  const sim: Side = {
    seconds: mean(runs.map(r => Math.max(...r.times))),
    p50Seconds: mean(runs.map(r => percentile(r.times, 50))),
    originUploadRatio: mean(runs.map(r => r.originUploadBytes / o.packageBytes))
  }
  const realSide: Side = { seconds: real.seconds, p50Seconds: real.p50Seconds, originUploadRatio: real.originUploadRatio }
  const gap = (sim.seconds - real.seconds) / real.seconds
  const p50Gap = (sim.p50Seconds - real.p50Seconds) / real.p50Seconds
  const record = {
    mode: 'simulate-validate',
    agents: o.agents,
    packageBytes: o.packageBytes,
    chunks: sizes.length,
    up: o.up,
    originUp: o.originUp,
    lowerBoundSeconds: round(lowerBoundSeconds(o.agents, o.packageBytes, o.originUp, o.up)),
    real: { ...roundSide(realSide), allVerified: real.allVerified, fetchCpuSeconds: real.fetchCpuSeconds, cores: real.cores },
    simulated: {
      ...roundSide(sim),
      seeds: SEEDS,
      slowestBySeed: runs.map(r => round(Math.max(...r.times))),
      declinedBacklog: mean(runs.map(r => r.declined.backlog)),
      declinedOriginHold: mean(runs.map(r => r.declined.originHold))
    },
    gap: round(gap),
    p50Gap: round(p50Gap)
  }
  printResult([
    ['swarm', `${o.agents} fetchers, full mesh, ${formatBytes(o.packageBytes)} in ${sizes.length} chunks, up ${formatRate(o.up)}, origin ${formatRate(o.originUp)}`],
    ['real', describe(realSide) + `, ${real.fetchCpuSeconds} s CPU on ${real.cores} cores${real.allVerified ? '' : ', NOT VERIFIED'}`],
    ['simulated', describe(sim) + ` (mean of ${SEEDS.length} seeds: ${record.simulated.slowestBySeed.join(', ')} s)`],
    ['gap', `${(100 * gap).toFixed(1)} % slowest fetcher, ${(100 * p50Gap).toFixed(1)} % p50 (simulated vs real)`]
  ], record, o.json)
}

function describe (side: Side): string {
  return `slowest ${side.seconds.toFixed(2)} s, p50 ${side.p50Seconds.toFixed(2)} s, origin ${side.originUploadRatio.toFixed(2)} F`
}

function roundSide (side: Side): Side {
  return { seconds: round(side.seconds), p50Seconds: round(side.p50Seconds), originUploadRatio: round(side.originUploadRatio) }
}

/** `bench fetch` with the same parameters, in a child process (its progress goes to our stderr); its JSON record. */
async function runRealFetch (o: ValidationOptions): Promise<FetchBenchResult> {
  const args = [
    BENCH_SCRIPT, 'fetch', '--peers', String(o.agents), '--size', String(o.packageBytes), '--chunk-avg', String(o.chunkBytes),
    '--up', String(Math.round(o.up)), '--origin-up', String(Math.round(o.originUp)), '--workers', String(o.workers), '--json'
  ]
  note(`real run: bench ${args.slice(1).join(' ')}`)
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (text: string) => { out += text })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', resolve)
  })
  const last = out.trim().split('\n').at(-1) ?? ''
  if (code !== 0 || !last.startsWith('{')) throw new Error(`bench fetch exited with ${code}:\n${out}`)
  return JSON.parse(last) as FetchBenchResult
}

/** The sizes the chunker cuts the bench package (`seededBytes(size, 1)`, as `bench fetch` imports it) into. */
async function chunkSizes (packageBytes: number, chunkBytes: number): Promise<number[]> {
  const data = seededBytes(packageBytes, 1)
  const sizes: number[] = []
  for await (const chunk of chunkStream((async function * () { yield data })(), chunkerFor(chunkBytes))) sizes.push(chunk.byteLength)
  return sizes
}

function mean (values: readonly number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length
}
