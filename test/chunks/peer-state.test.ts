import test from 'ava'
import { PeerState } from '../../src/chunks/peer-state.ts'

test('a peer that declines is not asked for a while, longer with each decline in a row, until it delivers', t => {
  let now = 0
  const peer = new PeerState('p', () => now, 2_000)
  t.false(peer.banned)
  peer.declined(250, 1_000)
  t.true(peer.banned)
  now = 250
  t.false(peer.banned, 'the first pause is 250 ms')
  peer.declined(250, 1_000)
  now = 700
  t.true(peer.banned, 'the second is 500 ms')
  peer.declined(250, 1_000)
  peer.declined(250, 1_000)
  now = 700 + 999
  t.true(peer.banned)
  now = 700 + 1_000
  t.false(peer.banned, 'capped at the maximum')
  peer.recordDelivery(1024, 0, now, 0.3)
  peer.declined(250, 1_000)
  now += 250
  t.false(peer.banned, 'a delivery starts the run over')
})

test('a choked peer is not asked for chunks but may still be asked for the manifest', t => {
  const peer = new PeerState('p', () => 0, 2_000)
  peer.choked = true
  t.true(peer.banned)
  t.false(peer.resting)
  peer.choked = false
  t.false(peer.banned)
})
