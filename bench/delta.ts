/**
 * `bench delta`: deploy v1 of a package through the full path (REST →
 * signed task → swarm fetch → install → run, as `bench inprocess` does),
 * then v2 — v1 with a share of its content changed in a few regions, one of
 * them an insertion that shifts everything after it — and measure what v2
 * moved: every byte an agent receives is one some node uploaded, so the
 * bytes fetched per agent are (manager upload + agents' upload) / N.
 * Content-defined chunking keeps the chunks outside the edited regions, and
 * an agent fetches only the chunks its store lacks.
 */
import type { RelayMode } from '../src/agent/index.ts'
import { formatBytes, type Manifest } from '../src/core/index.ts'
import { cpuSecondsNow, seededBytes, sha256, tempRoot } from './common.ts'
import { deploy, startSwarm, type PollenRun, type Swarm } from './inprocess.ts'
import type { HarnessOptions } from './harness.ts'
import { systemLine } from './harness.ts'
import { formatRate, lowerBoundSeconds, note, printResult, round } from './report.ts'
import { systemFigures, writeRunFiles, type RunRecord } from './results.ts'

/** Options of {@link runDeltaBench}. */
export interface DeltaOptions extends HarnessOptions {
  /** Share of v1's payload changed in v2 (0..1). */
  readonly change: number
  /** Edited regions: all overwrites but one insertion. */
  readonly edits: number
  readonly workers: number
  readonly degree: number
  readonly relayStatus: RelayMode
}

/**
 * v1 with `fraction` of its length rewritten in `edits` regions spread over
 * it (seeded jitter): the last region is inserted (v2 is longer by its
 * length), the others overwrite bytes in place with fresh ones.
 */
export function changedCopy (v1: Uint8Array, fraction: number, edits: number, seed = 7): Uint8Array {
  const regionBytes = Math.max(1, Math.floor((v1.byteLength * fraction) / edits))
  const fresh = seededBytes(regionBytes * edits, seed + 1000)
  let x = seed >>> 0 || 1
  const jitter = (): number => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 2 ** 32 }
  const slot = v1.byteLength / edits
  const starts = Array.from({ length: edits }, (_, i) => Math.floor(i * slot + jitter() * Math.max(0, slot - regionBytes)))
  const out = new Uint8Array(v1)
  for (let i = 0; i < edits - 1; i++) out.set(fresh.subarray(i * regionBytes, (i + 1) * regionBytes), starts[i])
  const at = starts[edits - 1]!
  const inserted = fresh.subarray((edits - 1) * regionBytes, edits * regionBytes)
  const v2 = new Uint8Array(out.byteLength + inserted.byteLength)
  v2.set(out.subarray(0, at), 0)
  v2.set(inserted, at)
  v2.set(out.subarray(at), at + inserted.byteLength)
  return v2
}

/** Run the mode and print its summary (and JSON line). */
export async function runDeltaBench (o: DeltaOptions): Promise<void> {
  const root = await tempRoot('pollen-delta-')
  const v1 = seededBytes(o.size, 42)
  const v2 = changedCopy(v1, o.change, o.edits)
  note(`starting a manager and ${o.agents} agents in this process…`)
  const swarm = await startSwarm(root, { ...o, noHttp: true })
  let first: PollenRun, second: PollenRun, agentUploadV2: number, verified: number, ideal: { newBytes: number, packageBytes: number }
  const cpuBefore = cpuSecondsNow()
  try {
    note('v1:')
    first = await deploy(swarm, root, v1, { ...o, noHttp: true })
    const uploadedBefore = await agentUploads(swarm)
    note(`v2: ${round(o.change * 100, 1)}% of the payload changed in ${o.edits} regions (one inserted)`)
    second = await deploy(swarm, root, v2, { ...o, noHttp: true })
    agentUploadV2 = (await agentUploads(swarm)) - uploadedBefore
    verified = (await Promise.all(swarm.groups.map(async g => await g.verify(sha256(v2))))).reduce((a, b) => a + b, 0)
    ideal = await newChunkBytes(swarm)
  } finally {
    await swarm.close()
  }
  const cpuSeconds = cpuSecondsNow() - cpuBefore
  const moved = second.originUploadBytes + agentUploadV2
  const perAgent = moved / o.agents
  const F = second.packageBytes
  const bound = lowerBoundSeconds(o.agents, ideal.newBytes, o.originUp, o.up)
  const record: RunRecord = {
    mode: 'delta',
    topology: 'loopback',
    agents: o.agents,
    packageBytes: F,
    lowerBoundSeconds: Number.isFinite(bound) ? round(bound) : 0,
    systems: {
      pollenV1: systemFigures(first.runTimes, first.originUploadBytes, first.packageBytes, first.allVerified, lowerBoundSeconds(o.agents, first.packageBytes, o.originUp, o.up)),
      pollen: systemFigures(second.runTimes, second.originUploadBytes, F, second.allVerified && verified === o.agents, bound),
      pollenTransfer: systemFigures(second.transferTimes, second.originUploadBytes, F, second.allVerified && verified === o.agents, bound)
    },
    change: o.change,
    edits: o.edits,
    v1PackageBytes: first.packageBytes,
    /** Bytes of v2's chunks that v1 lacks: what an agent must fetch at least. */
    newChunkBytes: ideal.newBytes,
    newChunkRatio: round(ideal.newBytes / F),
    deltaBytesPerAgent: Math.round(perAgent),
    deltaRatio: round(perAgent / F),
    agentUploadBytes: agentUploadV2,
    upBytesPerSecond: Number.isFinite(o.up) ? o.up : null,
    originUpBytesPerSecond: Number.isFinite(o.originUp) ? o.originUp : null,
    cpuSecondsPerAgent: round(cpuSeconds / o.agents)
  }
  const files = await writeRunFiles(o.out, record, o.plot)
  printSummary(record, o, files)
}

async function agentUploads (swarm: Swarm): Promise<number> {
  const stats = await Promise.all(swarm.groups.map(async g => await g.stats()))
  return stats.reduce((n, s) => n + s.uploadedBytes, 0)
}

/** Bytes of the newest task's chunks that the task before it does not hold. */
async function newChunkBytes (swarm: Swarm): Promise<{ newBytes: number, packageBytes: number }> {
  const tasks = [...(await swarm.manager.listTasks({ page: 1, perPage: 100 })).items].sort((a, b) => a.seq - b.seq)
  const manifest = async (i: number): Promise<Manifest> => await swarm.manager.store.getManifest(tasks.at(i)!.package!.cid)
  const [v1, v2] = [await manifest(-2), await manifest(-1)]
  const held = new Set(v1.chunks.map(c => c.cid))
  return { newBytes: v2.chunks.filter(c => !held.has(c.cid)).reduce((n, c) => n + c.size, 0), packageBytes: v2.size }
}

function printSummary (r: RunRecord, o: DeltaOptions, files: string[]): void {
  const n = (key: string): number => Number(r[key] ?? 0)
  printResult([
    ['swarm', `${o.agents} agents in-process, v2 ${formatBytes(r.packageBytes)} (${round(o.change * 100, 1)}% changed in ${o.edits} regions), agents ${formatRate(o.up)}, manager ${formatRate(o.originUp)}`],
    systemLine('v1 (REST → RUN)', r.systems.pollenV1, n('v1PackageBytes'), formatBytes),
    systemLine('v2 (REST → RUN)', r.systems.pollen, r.packageBytes, formatBytes),
    ['v2 new chunks', `${formatBytes(n('newChunkBytes'))} = ${n('newChunkRatio')} F`],
    ['v2 moved per agent', `${formatBytes(n('deltaBytesPerAgent'))} = ${n('deltaRatio')} F (target ≤ 0.2 F)`],
    ['files', files.join(', ')]
  ], r, o.json)
}
