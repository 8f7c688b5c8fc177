import { simulate } from './simulate.ts'
const MiB = 1024 * 1024
const o = { agents: 1000, packageBytes: 8 * MiB, chunkBytes: 256 * 1024, up: 4 * MiB, originUp: 4 * MiB, degree: 16, originDegree: 300, latencyMs: 1, seed: 1 }
const r = simulate(o)
const slow = r.times.map((t, i) => [t, i + 1] as const).sort((a, b) => b[0] - a[0])[0]!
console.log('slowest', slow);
(globalThis as any).DBG = slow[1]
simulate(o)
