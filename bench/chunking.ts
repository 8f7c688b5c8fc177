/**
 * `npm run bench -- chunking`: how the average chunk size trades chunking
 * speed and manifest size against what a device must refetch after an edit.
 * Everything runs in memory; no network.
 */
import { chunkerForAverage, chunkStream } from '../src/chunks/index.ts'
import { chunkCid, formatBytes, xorshift32 } from '../src/core/index.ts'
import { seededBytes } from './common.ts'

/** Options of {@link runChunkingBench}. */
export interface ChunkingBenchOptions {
  readonly size: number
  readonly averages: readonly number[]
  readonly json: boolean
}

/** Figures for one average chunk size. */
interface ChunkingRow {
  avgChunkBytes: number
  chunks: number
  chunkMiBps: number
  /** Bytes of v2 in chunks v1 does not have, over the package size, per edit kind. */
  refetchRatio: Record<string, number>
}

/** Edits applied to v1 to make v2: a contiguous 10 % rewrite, 1 % scattered in 32 places, and a 4 KiB insertion. */
const EDITS: Record<string, (v1: Uint8Array, random: () => number) => Uint8Array> = {
  rewrite10pct: (v1, random) => overwrite(v1, [[Math.floor(v1.byteLength * 0.45), Math.floor(v1.byteLength * 0.1)]], random),
  scattered1pct: (v1, random) => overwrite(v1, Array.from({ length: 32 }, (_, i) => [Math.floor((i + 0.5) * v1.byteLength / 32), Math.floor(v1.byteLength / 3200)]), random),
  insert4KiB: (v1, random) => insert(v1, Math.floor(v1.byteLength / 2), randomBytes(4096, random))
}

/** Run the chunking comparison and print a table (and a JSON line with `json`). */
export async function runChunkingBench (options: ChunkingBenchOptions): Promise<void> {
  const random = xorshift(2024)
  const v1 = seededBytes(options.size, 2024)
  const rows: ChunkingRow[] = []
  for (const avg of options.averages) rows.push(await measure(v1, avg, random))
  for (const row of rows) {
    const edits = Object.entries(row.refetchRatio).map(([k, v]) => `${k} ${(v * 100).toFixed(1)}%`).join(', ')
    process.stdout.write(`avg ${formatBytes(row.avgChunkBytes)}: ${row.chunks} chunks, ${row.chunkMiBps.toFixed(0)} MiB/s; refetch after ${edits}\n`)
  }
  if (options.json) process.stdout.write(`${JSON.stringify({ mode: 'chunking', packageBytes: options.size, rows })}\n`)
}

async function measure (v1: Uint8Array, avg: number, random: () => number): Promise<ChunkingRow> {
  const chunker = chunkerForAverage(avg)
  const start = performance.now()
  const base = await cidsOf(v1, chunker)
  const seconds = (performance.now() - start) / 1000
  const refetchRatio: Record<string, number> = {}
  for (const [name, edit] of Object.entries(EDITS)) {
    const v2 = await cidsOf(edit(v1, random), chunker)
    let fresh = 0
    for (const [cid, size] of v2) if (!base.has(cid)) fresh += size
    refetchRatio[name] = fresh / v1.byteLength
  }
  return { avgChunkBytes: avg, chunks: base.size, chunkMiBps: v1.byteLength / 1024 / 1024 / seconds, refetchRatio }
}

async function cidsOf (bytes: Uint8Array, chunker: { avgChunkBytes: number, minChunkBytes: number, maxChunkBytes: number }): Promise<Map<string, number>> {
  const cids = new Map<string, number>()
  async function * source (): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < bytes.byteLength; i += 1024 * 1024) yield bytes.subarray(i, i + 1024 * 1024)
  }
  for await (const chunk of chunkStream(source(), chunker)) cids.set(chunkCid(chunk).toString(), chunk.byteLength)
  return cids
}

function overwrite (v1: Uint8Array, ranges: Array<[number, number]>, random: () => number): Uint8Array {
  const v2 = Uint8Array.from(v1)
  for (const [at, length] of ranges) v2.set(randomBytes(length, random), at)
  return v2
}

function insert (v1: Uint8Array, at: number, bytes: Uint8Array): Uint8Array {
  const v2 = new Uint8Array(v1.byteLength + bytes.byteLength)
  v2.set(v1.subarray(0, at), 0)
  v2.set(bytes, at)
  v2.set(v1.subarray(at), at + bytes.byteLength)
  return v2
}

function randomBytes (size: number, random: () => number): Uint8Array {
  return seededBytes(size, Math.floor(random() * 0xffffffff))
}

function xorshift (seed: number): () => number {
  const next = xorshift32(seed)
  return () => next() / 0x100000000
}
