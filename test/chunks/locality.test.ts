import test from 'ava'
import { hashId, isOnLink, localNetworks, mix } from '../../src/chunks/locality.ts'

test('an address is on link when it lies in one of the networks', t => {
  const networks = ['127.0.0.1/8', '10.79.1.1/24', 'fe80::1/64', '2001:db8::5/48']
  t.true(isOnLink('10.79.1.200', networks))
  t.false(isOnLink('10.79.0.1', networks))
  t.true(isOnLink('127.4.5.6', networks))
  t.true(isOnLink('fe80::abcd:1', networks))
  t.true(isOnLink('2001:db8:0:ffff::1', networks))
  t.false(isOnLink('2001:db9::1', networks))
  t.false(isOnLink('10.79.1.200', ['fe80::1/64']), 'families never match')
  t.false(isOnLink('not an ip', networks))
  t.true(isOnLink('::ffff:10.79.1.9', ['::ffff:10.79.1.0/120']))
})

test('local networks come from the interfaces, loopback included', t => {
  t.deepEqual(localNetworks({ lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' }] }), ['127.0.0.1/8'])
  t.true(isOnLink('127.0.0.1', localNetworks()))
})

test('the designation hash spreads the chunks of a package over the peers', t => {
  const peers = ['12D3KooWA', '12D3KooWB', '12D3KooWC', '12D3KooWD'].map(hashId)
  const counts = new Map<number, number>()
  for (let index = 0; index < 4000; index++) {
    const first = peers.reduce((best, p) => mix(p, index) < mix(best, index) ? p : best)
    counts.set(first, (counts.get(first) ?? 0) + 1)
  }
  t.is(counts.size, 4)
  for (const n of counts.values()) t.true(n > 800 && n < 1200, `${n} of 4000 chunks`)
})
