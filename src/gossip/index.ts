/**
 * Gossip: a swarm's two gossipsub topics (`pollen/<swarm>/tasks` for signed
 * manager messages, `pollen/<swarm>/status` for agent reports), their strict
 * codecs, the pure acceptance check of manager messages, the topic
 * validators and the topic score parameters.
 */
export { createGossip } from './gossip.ts'
export type { GossipOptions, GossipRole, GossipStats, ManagerMessageEvent, StatusEvent, SwarmGossip, SwarmGossipEvents } from './gossip.ts'
export { decodeManagerMessage, decodeStatus, encodeManagerMessage, encodeStatus } from './codec.ts'
export type { CodecOptions } from './codec.ts'
export { checkManagerMessage, isReplay } from './check.ts'
export type { CheckOptions, LastSeq, ManagerKind, ManagerRefusal, ManagerVerdict } from './check.ts'
export { GOSSIP_LIMITS, TASK_ID } from './schema.ts'
export { swarmTopics } from './topics.ts'
export type { SwarmTopics } from './topics.ts'
export { REFUSAL_REASONS } from './validators.ts'
export type { RefusalReason, Refusal, TopicKind, TopicStats } from './validators.ts'
export { gossipScoreParams, POLLEN_TOPIC_SCORE } from './score.ts'
export type { PublishResult } from '@libp2p/gossipsub'
export { createSync } from './sync.ts'
export type { SyncOptions, SyncService } from './sync.ts'
export { createPeerExchange } from './peers.ts'
export type { MemberAddresses, PeerExchange, PeerExchangeOptions } from './peers.ts'
