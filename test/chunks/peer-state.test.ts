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

test('a peer that declines while it still holds requests of ours is asked nothing more until it delivers one, or for the longest pause', t => {
  let now = 0
  const peer = new PeerState('p', () => now, 2_000)
  peer.requested.add(3)
  peer.declined(250, 8_000)
  now = 7_999
  t.true(peer.banned, 'not the first pause of 250 ms: it is sending us chunk 3')
  peer.requested.delete(3)
  peer.recordDelivery(1024, 0, now, 0.3)
  t.false(peer.banned, 'chunk 3 arrived: it has room again')
  peer.requested.add(4)
  peer.declined(250, 8_000)
  now += 8_000
  t.false(peer.banned, 'without a delivery, after the longest pause')
})

test('a choked peer is not asked for chunks but may still be asked for the manifest', t => {
  const peer = new PeerState('p', () => 0, 2_000)
  peer.choked = true
  t.true(peer.banned)
  t.false(peer.resting)
  peer.choked = false
  t.false(peer.banned)
})
