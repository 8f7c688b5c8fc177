import test from 'ava'
import { Share } from '../../src/chunks/share.ts'
import { Bitfield } from '../../src/chunks/bitfield.ts'
import type { Manifest } from '../../src/core/index.ts'

function share (chunks: number, sizeOf: (index: number) => number = () => 10): Share {
  const s = new Share('cid')
  const manifest = { chunks: Array.from({ length: chunks }, (_, i) => ({ cid: `c${i}`, size: sizeOf(i) })) } as unknown as Manifest
  const have = new Bitfield(chunks)
  for (let i = 0; i < chunks; i++) have.set(i)
  s.setManifest(manifest, have)
  return s
}

test('a plain share sends any chunk any time', t => {
  const s = share(2)
  t.true(s.admit(0, 0))
  t.true(s.admit(0, 1))
})

test('initial seeding: no second copy of a chunk while another was never sent, until the hold ends', t => {
  const s = share(3)
  s.initialSeedHoldMs = 15_000
  t.true(s.admit(0, 0))
  t.false(s.admit(0, 100), 'chunks 1 and 2 never left')
  t.true(s.admit(1, 200))
  t.true(s.admit(0, 15_000), 'the hold ended')
})

test('initial seeding, once every chunk left: a chunk sent within the repeat hold is declined', t => {
  const s = share(2)
  s.initialSeedHoldMs = 15_000
  s.repeatSeedHoldMs = 5_000
  t.true(s.admit(0, 0))
  t.true(s.admit(1, 10))
  t.false(s.admit(0, 1_000), 'the swarm holds chunk 0 by now')
  t.true(s.admit(0, 5_000))
  t.false(s.admit(0, 6_000), 'each send starts the hold again')
  t.true(s.admit(1, 6_000))
})

test('a withdrawn first copy counts as never sent: the initial hold does not keep it from the next fetcher', t => {
  const s = share(2)
  s.initialSeedHoldMs = Infinity
  s.repeatSeedHoldMs = 60_000
  t.true(s.admit(0, 0))
  t.false(s.admit(0, 10), 'held while chunk 1 never left')
  s.withdraw(0)
  t.true(s.admit(0, 20), 'chunk 0 never left after all')
  t.true(s.admit(1, 30))
  t.false(s.admit(0, 40), 'every chunk left: the repeat hold runs from 20')
  t.true(s.admit(0, 60_020))
  s.withdraw(0)
  t.false(s.admit(1, 60_025), 'chunk 1 is still held')
  t.true(s.admit(0, 60_040), 'the repeat did not leave: the hold from 20 has passed')
  s.withdraw(1)
  t.true(s.admit(1, 60_050), 'chunk 1 never left after all')
})

test('reserve: in the first pass of initial seeding each turn gets chunks never sent and not reserved by another; after it, none', t => {
  const s = share(5)
  t.is(s.reserve(2), undefined, 'outside initial seeding: everything is shown')
  s.initialSeedHoldMs = Infinity
  s.admit(0, 0)
  t.deepEqual(s.reserve(2), [1, 2])
  t.deepEqual(s.reserve(2), [3, 4], 'not the chunks of the other turn')
  t.deepEqual(s.reserve(2), [1, 2], 'all reserved: another turn\'s are shared')
  s.release([1, 2])
  s.release([3, 4])
  s.admit(1, 0)
  s.admit(2, 0)
  s.withdraw(2)
  s.release([1, 2])
  t.deepEqual(s.reserve(5)?.sort(), [2, 3, 4], 'a released chunk that did not leave is offered again')
  for (const i of [2, 3, 4]) s.admit(i, 0)
  t.is(s.reserve(2), undefined, 'every chunk left: everything is shown')
})

test('reserve offers the largest chunks never sent first, and a withdrawn one again before smaller ones', t => {
  const sizes = [10, 40, 20, 40, 30]
  const s = share(5, i => sizes[i]!)
  s.initialSeedHoldMs = Infinity
  t.deepEqual(s.reserve(2), [1, 3], 'the two largest, ties in index order')
  t.deepEqual(s.reserve(2), [4, 2])
  s.admit(1, 0)
  s.admit(3, 0)
  s.release([1, 3])
  s.withdraw(3)
  t.deepEqual(s.reserve(1), [3], 'a first copy that did not leave comes back ahead of the smaller chunks still unsent')
  s.release([4, 2])
  s.release([3])
  s.admit(3, 0)
  s.admit(4, 0)
  t.deepEqual(s.reserve(5), [2, 0], 'the rest, largest first')
})
