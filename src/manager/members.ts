/** Which members the manager names to an agent that asks for peers (peer exchange). */
import type { TargetRecord } from '../core/index.ts'
import type { MemberAddresses } from '../gossip/index.ts'

/**
 * Up to `max` members other than `asker`, chosen at random (a partial
 * Fisher-Yates shuffle), so askers spread their links over the whole swarm.
 * Only targets with a peer id and addresses (from their adverts) qualify;
 * `excluded` drops revoked peers.
 */
export function sampleMembers (targets: Iterable<TargetRecord>, asker: string, max: number, excluded: (peerId: string) => boolean, random: () => number = Math.random): MemberAddresses[] {
  const pool: MemberAddresses[] = []
  for (const t of targets) {
    if (t.PeerID == null || t.PeerID === asker || t.Addresses.length === 0 || excluded(t.PeerID)) continue
    pool.push({ id: t.PeerID, addresses: t.Addresses })
  }
  const count = Math.min(max, pool.length)
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (pool.length - i))
    const chosen = pool[j]!
    pool[j] = pool[i]!
    pool[i] = chosen
  }
  return pool.slice(0, count)
}
