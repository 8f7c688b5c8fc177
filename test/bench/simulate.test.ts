import test from 'ava'
import { simulate } from '../../bench/simulate.ts'
import { lowerBoundSeconds } from '../../bench/report.ts'

const MiB = 1024 * 1024
const base = { agents: 40, packageBytes: 4 * MiB, chunkBytes: 256 * 1024, up: 2 * MiB, originUp: 2 * MiB, degree: 8, originDegree: 10, latencyMs: 1, seed: 3 }

test('every simulated agent completes, never faster than the fluid lower bound, and the origin sends at least one copy', t => {
  const r = simulate(base)
  t.is(r.times.length, 40)
  const bound = lowerBoundSeconds(40, base.packageBytes, base.originUp, base.up)
  t.true(Math.min(...r.times) > 0)
  t.true(Math.max(...r.times) >= bound, `${Math.max(...r.times)} >= ${bound}`)
  t.true(r.originUploadBytes >= base.packageBytes)
  t.true(r.totalUploadBytes >= 40 * base.packageBytes)
})

test('the same seed gives the same run; another seed another one', t => {
  t.deepEqual(simulate(base).times, simulate(base).times)
  t.notDeepEqual(simulate(base).times, simulate({ ...base, seed: 4 }).times)
})

test('agents that reach the origin only through peers still complete (origin linked to one agent)', t => {
  const r = simulate({ ...base, originDegree: 1 })
  t.is(r.times.filter(x => x > 0).length, 40)
})
