import test from 'ava'
import { runHeliaBaseline } from '../../bench/helia.ts'
import { seededBytes } from '../../bench/common.ts'

const MiB = 1024 * 1024

for (const privateNetwork of [true, false]) {
  test(`Helia fetchers each get a verified copy over bitswap${privateNetwork ? ' on the private network' : ' without the private network'}; the origin serves at least one copy`, async t => {
    const data = seededBytes(2 * MiB, 7)
    const r = await runHeliaBaseline({ agents: 3, data, up: Infinity, originUp: Infinity, chunkBytes: 256 * 1024, timeoutMs: 120_000, privateNetwork })
    t.is(r.times.length, 3)
    t.true(r.allVerified)
    t.is(r.blocks, 9, '8 raw leaves and the root')
    t.true(r.originUploadBytes >= data.byteLength)
  })
}

test('the upload cap paces the origin: one fetcher cannot beat size / origin rate', async t => {
  const data = seededBytes(1 * MiB, 8)
  const r = await runHeliaBaseline({ agents: 1, data, up: 512 * 1024, originUp: 512 * 1024, timeoutMs: 120_000 })
  t.true(r.allVerified)
  // 2 s at 512 KiB/s, less the first 256 KiB block, which the bucket lets through at once: 1.5 s.
  t.true(r.times[0]! >= 1.4, `took ${r.times[0]} s`)
  t.true(r.originUploadBytes >= data.byteLength && r.originUploadBytes < 1.5 * data.byteLength)
})
