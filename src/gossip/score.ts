/**
 * Gossipsub peer-score parameters for a swarm's topics. Gossipsub only
 * scores topics it has parameters for: without these, a message our
 * validators reject costs its sender nothing.
 */
import type { GossipsubOpts } from '@libp2p/gossipsub'
import type { TopicScoreParams } from '@libp2p/gossipsub/score'
import { swarmTopics } from './topics.ts'

/** Gossipsub's score decay interval (its default), in ms. */
const DECAY_INTERVAL_MS = 1000

/** Per-interval decay factor that takes a counter down to 1 % in `ms`. */
function decayOver (ms: number): number {
  return 0.01 ** (DECAY_INTERVAL_MS / ms)
}

/**
 * Score parameters of one Pollen topic. Both topics are quiet (a task now and
 * then, an advert a minute per device), so the mesh-delivery penalties (P3,
 * P3b) are off: a quiet mesh peer is not a bad one. Positive scores are small
 * (time in mesh up to +3, first deliveries up to +5). Invalid messages (P4,
 * squared) weigh heavily and are remembered for about an hour: one costs
 * -10 (below the gossip threshold), two -40, three -90 (graylisted: the
 * peer's RPCs are ignored).
 */
export const POLLEN_TOPIC_SCORE: TopicScoreParams = {
  topicWeight: 1,
  timeInMeshWeight: 0.01,
  timeInMeshQuantum: 1000,
  timeInMeshCap: 300,
  firstMessageDeliveriesWeight: 1,
  firstMessageDeliveriesDecay: decayOver(10 * 60_000),
  firstMessageDeliveriesCap: 5,
  meshMessageDeliveriesWeight: 0,
  meshMessageDeliveriesDecay: 0.5,
  meshMessageDeliveriesCap: 100,
  meshMessageDeliveriesThreshold: 1,
  meshMessageDeliveriesWindow: 10,
  meshMessageDeliveriesActivation: 5000,
  meshFailurePenaltyWeight: 0,
  meshFailurePenaltyDecay: 0.5,
  invalidMessageDeliveriesWeight: -10,
  invalidMessageDeliveriesDecay: decayOver(60 * 60_000)
}

/**
 * Gossipsub options that score the swarm's two topics with
 * {@link POLLEN_TOPIC_SCORE}. Merge into the node's gossipsub options:
 * `scoreParams: { ...base.scoreParams, ...gossipScoreParams(swarm).scoreParams }`.
 * @throws {InvalidOptionError} `swarm` is not a valid swarm name.
 */
export function gossipScoreParams (swarm: string): Pick<GossipsubOpts, 'scoreParams'> & { scoreParams: { topics: Record<string, TopicScoreParams> } } {
  const { tasks, status, reports } = swarmTopics(swarm)
  return { scoreParams: { topics: { [tasks]: { ...POLLEN_TOPIC_SCORE }, [status]: { ...POLLEN_TOPIC_SCORE }, [reports]: { ...POLLEN_TOPIC_SCORE } } } }
}
