import test from 'ava'
import { multiaddr } from '@multiformats/multiaddr'
import { importBytes } from '../../src/chunks/index.ts'
import { waitForPeers } from '../../src/node/index.ts'
import { changedCopy } from '../../bench/delta.ts'
import { runCleanup, seededBytes, sha256, startBenchPeer, tempRoot } from '../../bench/common.ts'

const MiB = 1024 * 1024

test.after.always(async () => { await runCleanup() })

test('changedCopy rewrites the share asked for in place and inserts one region', t => {
  const v1 = seededBytes(4 * MiB, 3)
  const v2 = changedCopy(v1, 0.1, 5)
  const region = Math.floor((v1.byteLength * 0.1) / 5)
  t.is(v2.byteLength, v1.byteLength + region)
  let same = 0
  for (let i = 0; i < 64 * 1024; i++) if (v1[i] === v2[i]) same++
  t.true(same < 64 * 1024, 'the first region starts in the first slot')
  t.deepEqual(v2.subarray(v2.byteLength - 1024), v1.subarray(v1.byteLength - 1024), 'content after the insertion is shifted, not lost')
  t.is(sha256(changedCopy(v1, 0.1, 5)), sha256(v2), 'deterministic')
})

test('a fetcher holding v1 fetches only the chunks of v2 it lacks', async t => {
  const root = await tempRoot('pollen-delta-test-')
  const origin = await startBenchPeer(root, 'origin', Infinity)
  const fetcher = await startBenchPeer(root, 'fetcher', Infinity)
  t.teardown(async () => { await fetcher.stop(); await origin.stop() })
  await fetcher.node.libp2p.dial(multiaddr(origin.node.addresses()[0]!.toString()))
  await waitForPeers(fetcher.node, 1, { timeoutMs: 60_000 })

  const v1 = seededBytes(8 * MiB, 5)
  const v2 = changedCopy(v1, 0.1, 4)
  const one = await importBytes(origin.store, v1)
  await origin.exchange.seed(one.cid)
  const first = await fetcher.exchange.fetch(one.cid, { timeoutMs: 120_000 })
  t.is(first.fetchedBytes, v1.byteLength)

  const two = await importBytes(origin.store, v2)
  await origin.exchange.seed(two.cid)
  const held = new Set(one.manifest.chunks.map(c => c.cid))
  const newBytes = two.manifest.chunks.filter(c => !held.has(c.cid)).reduce((n, c) => n + c.size, 0)
  const second = await fetcher.exchange.fetch(two.cid, { timeoutMs: 120_000 })
  t.is(second.fetchedBytes, newBytes, 'exactly the chunks v1 did not have')
  // 10 % changed in 4 regions of an 8 MiB package: each region dirties itself and about a chunk on either side.
  t.true(newBytes < 0.5 * v2.byteLength, `new chunks ${newBytes} of ${v2.byteLength}`)
  t.true(newBytes >= 0.1 * v1.byteLength, 'at least the changed bytes')
})
