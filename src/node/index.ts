/**
 * The swarm node: libp2p host, identity and peer dialling. Everything other
 * modules need from `src/node` is exported here.
 */
export { createSwarmNode, waitForPeers } from './create.ts'
export { WIRE as WIRE_TRAFFIC, type TrafficSnapshot } from './traffic.ts'
export type { SwarmNode, SwarmNodeOptions, SwarmServices, SwarmLibp2p, WaitForPeersOptions } from './create.ts'
export { loadOrCreatePrivateKey } from './identity.ts'
export type { GossipSub, Message as PubsubMessage } from '@libp2p/gossipsub'
export type { Connection, PeerId, PrivateKey, Stream } from '@libp2p/interface'
export type { Multiaddr } from '@multiformats/multiaddr'
export { initSwarm, readSwarmFile, readManagerKey, swarmNodeOptions, SWARM_FILES, type InitResult } from './keys.ts'
