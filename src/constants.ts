/**
 * Every tunable default in one place. Components take an options object;
 * whatever the caller leaves out comes from here.
 */

/** Defaults of the swarm node (`src/node`). */
export const NODE_DEFAULTS = {
  /** Listen addresses when none are given. @default ['/ip4/0.0.0.0/tcp/0'] */
  listen: ['/ip4/0.0.0.0/tcp/0'] as readonly string[],
  /** Peers the node dials on its own (mDNS discoveries, bootstrap) until it has this many connections. @default 16 */
  connectionTarget: 16,
  /** Hard cap on open connections. @default 300 */
  maxConnections: 300,
  /**
   * Inbound connection attempts allowed per remote IP per second. libp2p's own
   * default (5) refuses most of a swarm that shares one IP (loopback, a NAT);
   * devices behind one gateway are normal for Pollen. @default 10_000
   */
  inboundConnectionThreshold: 10_000,
  /** mDNS query interval. @default 2_000 */
  mdnsIntervalMs: 2_000,
  /** File (inside the data directory) that holds the node's private key. @default 'peer.key' */
  keyFile: 'peer.key',
  /** Timeout for one dial. @default 10_000 */
  dialTimeoutMs: 10_000,
  /**
   * mDNS service name. Pollen-specific rather than libp2p's `_p2p._udp.local`,
   * so nodes do not spend connection slots on unrelated libp2p peers of the LAN.
   * @default '_pollen._udp.local'
   */
  mdnsServiceTag: '_pollen._udp.local',
  /**
   * Inbound connections allowed to be mid-handshake at once. libp2p's default
   * (10) refuses part of a swarm that boots at the same time and dials one
   * seed. @default 64
   */
  maxIncomingPendingConnections: 64,
  /** First delay before re-dialling an unreachable or disconnected bootstrap peer; doubles per failure. @default 1_000 */
  bootstrapRetryMinMs: 1_000,
  /** Longest delay between two dials of a bootstrap peer. @default 60_000 */
  bootstrapRetryMaxMs: 60_000
}

/** Defaults of the content-defined chunker (`src/chunks`). See README "Chunk size" for the measurement behind them. */
export const CHUNKER_DEFAULTS = {
  /** Smallest chunk the rabin chunker cuts, except the last. @default 64 KiB */
  minChunkBytes: 64 * 1024,
  /** Target average chunk size. @default 256 KiB */
  avgChunkBytes: 256 * 1024,
  /** Largest chunk. @default 1 MiB */
  maxChunkBytes: 1024 * 1024
}

/** Defaults of the chunk store. */
export const STORE_DEFAULTS = {
  /** A pack file of the chunk store rolls over at this size. @default 256 MiB */
  maxPackBytes: 256 * 1024 * 1024
}

/** Defaults of the chunk exchange protocol and its server side. */
export const EXCHANGE_DEFAULTS = {
  /** Protocol id of the chunk exchange. @default '/pollen/chunks/1.0.0' */
  protocol: '/pollen/chunks/1.0.0',
  /** Largest frame accepted on the wire (a chunk plus its header). @default 8 MiB + 1 KiB */
  maxFrameBytes: 8 * 1024 * 1024 + 1024,
  /** Upload rate cap of this node in bytes per second (Infinity: none). @default Infinity */
  uploadBytesPerSecond: Infinity,
  /** Chunks this node sends at the same time, over all peers. @default 16 */
  maxConcurrentUploads: 16,
  /** Inbound exchange sessions allowed per connection. @default 64 */
  maxInboundSessionsPerConnection: 64,
  /**
   * Initial-seeding mode: how long after sending a chunk the origin declines
   * to send it again while it still has chunks never sent. @default 15_000
   */
  initialSeedHoldMs: 15_000,
  /** A session whose opener sends no WANT frame within this long is closed. @default 10_000 */
  firstFrameTimeoutMs: 10_000
}

/** Defaults of the fetch scheduler (driver + policy). */
export const FETCH_DEFAULTS = {
  /**
   * Most requests outstanding at one peer; the actual depth follows the
   * peer's measured throughput (`targetQueueMs`), so only fast links use
   * this many. @default 16
   */
  maxInflightPerPeer: 16,
  /**
   * Work kept queued at one peer, in ms of its measured throughput (at least
   * 2 requests): slow peers get short queues. @default 300
   */
  targetQueueMs: 300,
  /** Requests outstanding over all peers. @default 64 */
  maxInflightTotal: 64,
  /** A request not answered in this long is given up and retried elsewhere. @default 30_000 */
  requestTimeoutMs: 30_000,
  /** Extra time allowed per byte of the chunk at the slowest acceptable rate (64 KiB/s). @default 1 / 65_536 s */
  requestTimeoutMsPerByte: 1000 / 65_536,
  /** When no more than this many chunks are missing and all are in flight, request duplicates (end game). @default 8 */
  endgameChunks: 8,
  /** Copies of one chunk requested at once in end game. @default 2 */
  endgameCopies: 2,
  /** A chunk a peer declined is not asked of that peer again for this long (unless it announces it). @default 2_000 */
  rejectBackoffMs: 2_000,
  /** Peer penalty after which a peer is not asked again (each bad chunk or timeout adds to it). @default 3 */
  banScore: 3,
  /** Bad chunks from one peer after which it is banned at once. @default 1 */
  banAfterBadChunks: 1,
  /** How long the fetch waits for any peer with a missing chunk before failing. @default 120_000 */
  stallTimeoutMs: 120_000,
  /** Weight of the newest sample in the throughput/RTT moving averages. @default 0.3 */
  ewmaAlpha: 0.3,
  /** Emit a progress event at most this often. @default 250 */
  progressIntervalMs: 250
}
