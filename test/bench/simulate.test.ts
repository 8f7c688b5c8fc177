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

test('one agent and the origin: the package takes its size over the origin\'s rate, or over the agent\'s download rate when that is lower', t => {
  const one = { ...base, agents: 1, packageBytes: MiB, originUp: MiB, up: MiB, originDegree: 1 }
  const seconds = simulate(one).times[0]!
  t.true(seconds >= 1 && seconds < 1.05, `${seconds} s for 1 MiB at 1 MiB/s`)
  t.is(simulate(one).originUploadBytes, MiB, 'initial seeding: every chunk sent once')
  const capped = simulate({ ...one, down: MiB / 2 }).times[0]!
  t.true(capped >= 2 && capped < 2.1, `${capped} s for 1 MiB at a 512 KiB/s download cap`)
})

test('a download cap below the upload rate slows a swarm down; exact chunk sizes are honoured', t => {
  const free = Math.max(...simulate(base).times)
  const capped = Math.max(...simulate({ ...base, down: MiB / 2 }).times)
  t.true(capped >= base.packageBytes / (MiB / 2), `capped ${capped} s`)
  t.true(capped > free * 1.5, `capped ${capped} s vs ${free} s`)
  const sizes = [3 * MiB, MiB / 4, MiB / 4, MiB / 2]
  const r = simulate({ ...base, agents: 1, packageBytes: 4 * MiB, chunkSizes: sizes, originDegree: 1 })
  t.is(r.originUploadBytes, 4 * MiB)
})

test('with degree and origin degree at least the swarm size, every node is linked to every other', t => {
  t.regex(simulate({ ...base, agents: 12, degree: 12, originDegree: 12 }).topology, /full mesh/)
  t.regex(simulate(base).topology, /8-regular/)
})

test('a policy call the driver skips would have decided nothing, and skipping changes no outcome but the random draws', t => {
  const crowded = { ...base, agents: 30, degree: 30, originDegree: 30, maxQueuedUploads: 2 }
  for (const options of [base, { ...base, agents: 12, degree: 12, originDegree: 12 }, { ...base, down: MiB }, crowded]) {
    const r = simulate({ ...options, checkSkips: true })
    t.true(r.skippedCalls > 0, `${r.skippedCalls} calls skipped`)
    t.true(r.declined.backlog > 0, 'declined requests (a peer left out of has() and of the holder counts) are part of the check')
    t.is(r.times.length, options.agents)
  }
})

test('a node declines requests beyond maxQueuedUploads chunks accepted and not sent: a smaller backlog declines more, every agent completes anyway', t => {
  const unbounded = simulate({ ...base, maxQueuedUploads: 1e9 })
  t.is(unbounded.declined.backlog, 0)
  const usual = simulate(base)
  const one = simulate({ ...base, maxQueuedUploads: 1 })
  t.true(usual.declined.backlog > 0, `${usual.declined.backlog} declined at the default backlog`)
  t.true(one.declined.backlog > usual.declined.backlog, `${one.declined.backlog} declined with room for one chunk`)
  t.is(one.times.filter(x => x > 0).length, base.agents)
})

test('the origin declines a chunk it sent within repeatSeedHoldMs once all have left: fewer copies leave it than without that hold', t => {
  const held = simulate(base)
  const free = simulate({ ...base, repeatSeedHoldMs: 0 })
  t.true(held.declined.originHold > free.declined.originHold, `${held.declined.originHold} held vs ${free.declined.originHold} (initial hold only)`)
  t.true(held.originUploadBytes < free.originUploadBytes, `origin ${held.originUploadBytes / base.packageBytes} F with the hold, ${free.originUploadBytes / base.packageBytes} F without`)
  t.true(held.originUploadBytes >= base.packageBytes)
})
