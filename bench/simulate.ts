/**
 * `bench simulate`: a discrete-event simulation of a swarm fetching one
 * package, driven by the very same selection policy as the agents; the
 * model is described in bench/sim/swarm.ts. With `--validate`, the real
 * `bench fetch` runs first with the same parameters (bench/sim/validate.ts).
 */
import { simulate, type SimulationOptions } from './sim/swarm.ts'

export { simulate, type SimulationOptions, type SimulationResult } from './sim/swarm.ts'

/** Options of {@link runSimulateBench} (the CLI mode). */
export interface SimulateBenchOptions extends SimulationOptions {
  readonly json: boolean
  readonly plot?: string
  readonly out: string
}

/** `bench simulate`: run, print the summary and (with --json) the record. */
export async function runSimulateBench (o: SimulateBenchOptions): Promise<void> {
  const { formatRate, lowerBoundSeconds, printResult, round } = await import('./report.ts')
  const { systemFigures, writeRunFiles } = await import('./results.ts')
  const { formatBytes } = await import('../src/core/units.ts')
  const result = simulate(o)
  const bound = Math.max(lowerBoundSeconds(o.agents, o.packageBytes, o.originUp, o.up), o.packageBytes / (o.down ?? Infinity))
  const chunks = Math.ceil(o.packageBytes / o.chunkBytes)
  const figures = systemFigures(result.times, result.originUploadBytes, o.packageBytes, true, bound)
  const record = {
    mode: 'simulate',
    topology: result.topology,
    agents: o.agents,
    packageBytes: o.packageBytes,
    lowerBoundSeconds: round(bound),
    broadcastBoundSeconds: round((chunks + Math.ceil(Math.log2(o.agents + 1)) - 1) * o.chunkBytes / Math.min(o.up, o.originUp)),
    systems: { pollen: { ...figures, times: o.agents <= 10_000 ? figures.times : [] } },
    duplicateRatio: round(result.totalUploadBytes / (o.agents * o.packageBytes) - 1),
    events: result.events,
    policyCalls: result.policyCalls,
    skippedCalls: result.skippedCalls,
    declined: result.declined,
    wallSeconds: round(result.wallSeconds),
    cpuSeconds: round(result.cpuSeconds)
  }
  const files = await writeRunFiles(o.out, record, o.plot)
  printResult([
    ['swarm', `${o.agents} simulated agents, ${formatBytes(o.packageBytes)} in ${chunks} chunks, agents up ${formatRate(o.up)} down ${formatRate(o.down ?? Infinity)}, origin ${formatRate(o.originUp)}; ${result.topology}`],
    ['lower bound', `${record.lowerBoundSeconds} s (broadcast bound ${record.broadcastBoundSeconds} s)`],
    ['completion', `${figures.seconds} s (p50 ${figures.p50Seconds}, p99 ${figures.p99Seconds}), efficiency ${figures.efficiency}`],
    ['origin upload', `${formatBytes(result.originUploadBytes)} = ${(result.originUploadBytes / o.packageBytes).toFixed(2)} F; duplicates ${record.duplicateRatio}`],
    ['declined', `${result.declined.backlog} requests for a full backlog, ${result.declined.originHold} held by the origin`],
    ['simulation', `${result.events} events, ${result.policyCalls} policy calls (${result.skippedCalls} more shown to decide nothing and skipped) in ${record.wallSeconds} s (${record.cpuSeconds} s of CPU)`],
    ['files', files.join(', ')]
  ], record, o.json)
}
