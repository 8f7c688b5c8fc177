import test from 'ava'
import type { TargetRecord } from '../../src/core/index.ts'
import { sampleMembers } from '../../src/manager/members.ts'

const target = (id: string, peer?: string, addresses: string[] = ['/ip4/10.0.0.1/tcp/4001']): TargetRecord =>
  ({ ID: id, Tags: [], Addresses: addresses, Created: '', History: {}, ...(peer != null ? { PeerID: peer } : {}) })

test('sampleMembers names up to max reachable members, never the asker nor excluded peers, at random', t => {
  const targets = [target('a', 'pa'), target('b', 'pb'), target('c', 'pc'), target('d'), target('e', 'pe', []), target('f', 'pf'), target('g', 'pg')]
  const excluded = (peer: string): boolean => peer === 'pf'
  const all = sampleMembers(targets, 'pa', 10, excluded)
  t.deepEqual(all.map(m => m.id).sort(), ['pb', 'pc', 'pg'])
  t.is(sampleMembers(targets, 'pa', 2, excluded).length, 2)
  const seen = new Set<string>()
  for (let i = 0; i < 50; i++) seen.add(sampleMembers(targets, 'pa', 1, excluded)[0]!.id)
  t.deepEqual([...seen].sort(), ['pb', 'pc', 'pg'], 'every member gets named')
  t.deepEqual(sampleMembers(targets, 'pa', 0, excluded), [])
})
