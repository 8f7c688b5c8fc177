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
  /** mDNS query interval while the node has fewer peers than its connection target (on a small LAN). @default 2_000 */
  mdnsIntervalMs: 2_000,
  /**
   * On a LAN of more than 10 hosts, the interval while wanting peers is this
   * much per host heard: every host answers every query and every host hears
   * every answer, so the LAN then sends about 5 queries a second in all. @default 200
   */
  mdnsIntervalPerHostMs: 200,
  /** mDNS query interval once the node has enough peers (on a LAN of at most 6 hosts). @default 30_000 */
  mdnsQuietIntervalMs: 30_000,
  /**
   * Beyond 6 hosts, the quiet interval is this much per host heard: about
   * one query every 5 s for the LAN. Every query draws an answer from every
   * host and every host parses every answer: at 1 s per host (one query a
   * second), a 50-host LAN parsed about 1,300 answers a second. A node below
   * its connection target queries at the busy interval regardless. @default 5_000
   */
  mdnsQuietIntervalPerHostMs: 5_000,
  /**
   * Least time between two of a node's mDNS answers: queries within it get
   * one answer at its end (multicast, so every querier hears it). On a LAN
   * of 50 agents each parsing every host's answer to every query, answers
   * took 48 % of an agent's CPU. @default 1_000
   */
  mdnsAnswerGapMs: 1_000,
  /** On a larger LAN, the answer gap is this much per host heard (about 25 answers a second for the LAN). @default 40 */
  mdnsAnswerGapPerHostMs: 40,
  /** An mDNS answer naming a known peer at unchanged addresses reaches libp2p's peer store again only after this long. @default 300_000 */
  mdnsRefreshMs: 300_000,
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
  bootstrapRetryMaxMs: 60_000,
  /**
   * How often each connection is pinged (a new stream each time; it also
   * measures the RTT the chunk policy uses; see `src/node/liveness.ts`).
   * libp2p's default is 10 s. A ping from the peer counts as ours, so a
   * connection carries about one ping per interval. Each ping crosses pnet, Noise, yamux and multistream-select at both
   * ends: at 30 s they were 57 % of an idle 100-agent swarm's CPU (0.345
   * cores in all, 0.150 without them, bench/RESULTS.md). @default 60_000
   */
  pingIntervalMs: 60_000,
  /**
   * A ping unanswered this long has failed (at most `pingIntervalMs`). On a
   * slow uplink a ping waits behind chunk data, and a process starved of CPU
   * answers late, so one late ping says little. @default 30_000
   */
  pingTimeoutMs: 30_000,
  /**
   * A connection is aborted after this many failed pings in a row (after a
   * miss the next ping goes within an eighth of the interval, so about two
   * minutes after the first miss by default). libp2p's own monitor aborts at the first: at
   * N = 50 on 32 KiB/s links that dropped live manager links within 40 s of
   * a deployment's start, and each abort costs a new Noise handshake,
   * identify and gossip subscription. @default 3
   */
  maxPingFailures: 3,
  /**
   * yamux's own keep-alive ping, per connection. Its first ping, as a
   * connection opens, measures the RTT by which yamux grows a stream's
   * receive window; the liveness pings keep links alive after that. At
   * yamux's default (30 s, from both ends) an origin with 50 links sends
   * over 3 ping frames a second, each a packet of its own. @default 600_000
   */
  yamuxKeepAliveMs: 600_000
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
  /**
   * Chunks this node sends at the same time, over all peers. Few, so each
   * chunk leaves at the full upload rate and its receiver can re-share it
   * sooner (BitTorrent keeps few peers unchoked for the same reason):
   * measured against 16, the origin uploads 1.05 F instead of 1.14 F at N=8
   * and 1.48 F instead of 3.06 F at N=16 with 1 MiB/s links (bench/RESULTS.md). @default 2
   */
  maxConcurrentUploads: 2,
  /**
   * Chunks this node accepts to send and has not sent yet, over all peers;
   * further requests are declined at once, so their fetchers ask other
   * holders instead of queueing behind the whole swarm. @default 8
   */
  maxQueuedUploads: 8,
  /**
   * Under an upload limit, a request is also declined when the chunks
   * accepted and not yet sent would take longer than this at the limit (what
   * waits ahead of it, not its own size: see `backlogRefuses`). A 32 KiB/s
   * origin with 8 chunks of 64 KiB queued made fetchers wait over their
   * 30 s request timeout, and the half-sent chunks they cancelled cost it a
   * second copy of the package. @default 8_000
   */
  maxQueuedUploadMs: 8_000,
  /**
   * Under an upload limit, a manifest request is left unanswered when the
   * manifests accepted and not yet sent would take longer than this at the
   * limit (one always may go); its fetcher asks another holder after
   * `manifestTimeoutMs` (5 s). @default 2_500
   */
  maxQueuedManifestMs: 2_500,
  /** Inbound exchange sessions allowed per connection. @default 64 */
  maxInboundSessionsPerConnection: 64,
  /**
   * Initial-seeding mode: how long after sending a chunk the origin declines
   * to send it again while it still has chunks never sent: for ever, so the
   * first copy of every chunk leaves before any second one (a copy that did
   * not leave after all, cancelled or cut off, counts as never sent). With
   * 15 s, 50 agents on 16 KiB/s links got chunks from the origin again
   * before their neighbours had them: 220 s into the run it had sent
   * 0.71 F but the agents held 0.55 F, while its link, full at its pace,
   * set the pace of the whole swarm (RESULTS).
   * @default Infinity
   */
  initialSeedHoldMs: Number.POSITIVE_INFINITY,
  /**
   * Initial-seeding mode, once every chunk has been sent: how long after
   * sending a chunk the origin declines to send it again, so that fetchers
   * take it from the peers that hold it. @default 5_000
   */
  repeatSeedHoldMs: 5_000,
  /**
   * Fetchers the origin of a package serves at once; the others are told
   * they are choked (their HAVE_MAP says so) and take turns (see
   * `Unchoker`). Few, so few TCP connections carry the origin's data at
   * once and their windows fit a slow link's queue (Infinity: everyone at
   * once). @default 4
   */
  originUnchokeSlots: 4,
  /** Chunks the origin sends a fetcher in one turn before the longest-waiting fetcher takes its place. @default 4 */
  originTurnChunks: 4,
  /**
   * A served fetcher that asks the origin for nothing this long gives its
   * place up (it finds what it misses at its neighbours). Longer than an
   * unchoke's round trip over a slow link's queue. @default 5_000
   */
  originTurnIdleMs: 5_000,
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
  /**
   * Chunk bytes requested and not yet received over every fetch of the
   * process. One fetch stays under it (64 requests of chunks up to 1 MiB);
   * many fetches in one process (several packages, or the in-process
   * bench's hundreds of agents per worker) share it, so data they cannot
   * take in yet does not pile up in buffers ahead of pings and gossip
   * (3.3 GiB in two workers of 500 agents, which then lost most of their
   * links to the manager). @default 64 MiB
   */
  maxInflightBytesPerProcess: 64 * 1024 * 1024,
  /**
   * A request not answered in this long is given up and retried elsewhere;
   * its clock starts when it was sent or when its peer last delivered a
   * chunk, whichever is later (a peer sends what it was asked one chunk
   * after another). @default 30_000
   */
  requestTimeoutMs: 30_000,
  /** Extra time allowed per byte of the chunk at the slowest acceptable rate (64 KiB/s). @default 1 / 65_536 s */
  requestTimeoutMsPerByte: 1000 / 65_536,
  /** When no more than this many chunks are missing and all are in flight, request duplicates (end game). @default 8 */
  endgameChunks: 8,
  /** Copies of one chunk requested at once in end game. @default 2 */
  endgameCopies: 2,
  /** A chunk a peer declined is not asked of that peer again for this long (unless it announces it). @default 2_000 */
  rejectBackoffMs: 2_000,
  /**
   * A manifest request unanswered this long is asked of another peer that
   * knows the manifest (a node sends one manifest at a time and leaves
   * other requests unanswered meanwhile). @default 5_000
   */
  manifestTimeoutMs: 5_000,
  /** A peer that declined a request is asked nothing for this long, doubling with each decline in a row. @default 250 */
  declineBackoffMs: 250,
  /** Longest pause after declines in a row (a delivery from the peer starts over), and the pause after a decline by a peer still sending us chunks it accepted, unless it delivers one first. @default 8_000 */
  maxDeclineBackoffMs: 8_000,
  /**
   * Timeouts after which a peer is suspended (a delivery takes one off); a
   * bad chunk or protocol fault bans it for the rest of the fetch at once. @default 3
   */
  banScore: 3,
  /** First suspension of a peer that keeps timing out; doubles each time. @default 2_000 */
  suspendMs: 2_000,
  /** Longest suspension. @default 60_000 */
  maxSuspendMs: 60_000,
  /** How long the fetch waits for any peer with a missing chunk before failing. @default 120_000 */
  stallTimeoutMs: 120_000,
  /** Weight of the newest sample in the throughput/RTT moving averages. @default 0.3 */
  ewmaAlpha: 0.3,
  /**
   * A near peer that announced no chunk for this long (at least four average
   * chunks at the fastest far peer's rate) is no longer counted on to bring
   * in its share of the chunks only far peers (behind a router) hold; a fetch
   * idle four times this long asks far peers for anything. @default 3_000
   */
  farGraceMs: 3_000,
  /** Emit a progress event at most this often. @default 250 */
  progressIntervalMs: 250
}

/** Defaults of the gossip layer (`src/gossip`): the swarm's tasks and status topics. */
export const GOSSIP_DEFAULTS = {
  /**
   * Largest manager message (signed task, stop order, log request) accepted
   * or published. Holds a task with every TASK_LIMITS list full of ASCII
   * (about 1.3 MB) and stays under gossipsub's 4 MiB RPC limit. @default 2 MiB
   */
  maxManagerMessageBytes: 2 * 1024 * 1024,
  /** Largest status message (advert, ack, logs) accepted or published; agents split logs to fit. @default 256 KiB */
  maxStatusMessageBytes: 256 * 1024,
  /**
   * Clock difference tolerated between the manager and a peer: a manager
   * message is refused once `expiresAt` is this far in the past, or when its
   * `createdAt` is more than this in the future. @default 300_000 (5 min)
   */
  maxClockSkewMs: 300_000,
  /** Subscribe to the tasks topic (agents obey it; every member relays it). @default true */
  subscribeTasks: true,
  /**
   * Subscribe to the status topic from the start: the manager reads it. An
   * agent's own subscription is decided by its relay role (`AgentOptions.relayStatus`). @default true
   */
  subscribeStatus: true,
  /**
   * Subscribe to the reports topic, where agents linked to the manager send
   * their reports: the manager does, no agent should (see `SwarmTopics.reports`). @default false
   */
  subscribeReports: false,
  /** Protocol the manager serves members' addresses on (peer exchange); it also marks the manager to identify. @default '/pollen/peers/1.0.0' */
  peersProtocol: '/pollen/peers/1.0.0',
  /** Most members one peer-exchange answer names. @default 32 */
  peersMaxEntries: 32,
  /** Protocol a late joiner uses to ask a peer for the signed tasks and stop orders it holds. @default '/pollen/sync/1.0.0' */
  syncProtocol: '/pollen/sync/1.0.0',
  /** Most messages one sync answer carries (the newest). @default 64 */
  syncMaxMessages: 64,
  /** A sync exchange taking longer than this is aborted. @default 10_000 */
  syncTimeoutMs: 10_000
}

/** Defaults of the manager (`src/manager`). */
export const MANAGER_DEFAULTS = {
  /** A task is announced with an expiry this far after its creation; agents ignore it afterwards. @default 7 days */
  taskTtlMs: 7 * 24 * 60 * 60 * 1000,
  /** Stop orders and log requests expire this long after they are signed. @default 1 hour */
  orderTtlMs: 60 * 60 * 1000,
  /** Revocations expire this long after they are signed: in practice, never. @default 10 years */
  revocationTtlMs: 10 * 365 * 24 * 60 * 60 * 1000,
  /**
   * Who may enter the registry: `open`, any member of the private network;
   * `token`, a member that also proves a one-time enrollment token (`pollen token enroll`).
   * @default 'open'
   */
  enrollment: 'open' as 'open' | 'token',
  /** Timeout of one assemble command. @default 10 minutes */
  assembleTimeoutMs: 10 * 60 * 1000,
  /** Output of the assemble stage kept for the error report. @default 64 KiB */
  assembleOutputBytes: 64 * 1024,
  /** Log lines kept per stage of a target's current task. @default 500 */
  maxLogLinesPerStage: 500,
  /** How often the bytes the manager uploaded per task are saved. @default 5_000 */
  uploadSaveIntervalMs: 5_000,
  /** Most entries in an uploaded package. @default 100_000 */
  maxPackageEntries: 100_000,
  /** Most bytes an uploaded package may unpack to (sum of its entries' sizes). @default 16 GiB */
  maxPackageBytes: 16 * 1024 * 1024 * 1024,
  /**
   * Average chunk size of the packages this manager builds (chunks are cut
   * between a quarter and four times it), from 16 KiB to 2 MiB. Smaller
   * chunks cross slow links in more, shorter hops: simulated at N = 50 with
   * 256 KiB/s links, 64 KiB chunks finish in 70 s against 94 s with 256 KiB
   * (bench/RESULTS.md), at four times the requests. Versions chunked with
   * different sizes share no chunks, so keep it fixed across a package's
   * versions. @default 256 KiB (CHUNKER_DEFAULTS.avgChunkBytes)
   */
  avgChunkBytes: 256 * 1024
}

/** Defaults of the REST API (`src/api`). */
export const API_DEFAULTS = {
  /** Largest JSON or YAML request body (and the `task` part of a multipart upload). @default 1 MiB */
  bodyLimit: 1024 * 1024,
  /** Largest `package` part of a multipart task upload. @default 4 GiB */
  packageLimit: 4 * 1024 * 1024 * 1024,
  /** Page size of a listing when the client gives none. @default 50 */
  perPage: 50,
  /** Largest page size a client may ask for. @default 500 */
  maxPerPage: 500,
  /** Tags one target may carry. @default 256 */
  maxTargetTags: 256,
  /** Longest path parameter (target and task ids). @default 256 */
  maxParamLength: 256,
  /** An `/events` client with more than this many bytes queued unsent is disconnected as too slow. @default 8 MiB */
  eventsMaxBufferedBytes: 8 * 1024 * 1024,
  /** Largest message an `/events` client may send (it has nothing to say). @default 4 KiB */
  eventsMaxPayloadBytes: 4 * 1024,
  /** WebSocket subprotocol the server selects on `/events`. @default 'pollen.v1' */
  eventsProtocol: 'pollen.v1',
  /** Subprotocol prefix a browser client uses to carry its token (`bearer.<token>`). @default 'bearer.' */
  bearerProtocolPrefix: 'bearer.',
  /** Where swagger-ui is served; the OpenAPI document is at `<prefix>/json`. @default '/docs' */
  docsPrefix: '/docs',
  /** Register prom-client's default process metrics on the API's registry. @default true */
  processMetrics: true
}

/** Defaults of the agent (`src/agent`): releases, install commands, supervised run commands. */
export const AGENT_DEFAULTS = {
  /** Directory (inside the data directory) holding one directory per release (`releases/<taskId>`). @default 'releases' */
  releasesDir: 'releases',
  /** Symlink (inside the data directory) to the running release, switched atomically. @default 'current' */
  currentLink: 'current',
  /** Timeout of one install command; on expiry its whole process group is killed. @default 10 minutes */
  commandTimeoutMs: 10 * 60 * 1000,
  /** Log lines kept per stage of the current task (ring buffer; the oldest are dropped). @default 500 */
  maxLogLinesPerStage: 500,
  /** An output line longer than this many bytes is cut (and reported as soon as it is that long). @default 4096 */
  maxLineBytes: 4096,
  /**
   * After a command's shell exits, how long its output pipes may stay open
   * (held by a process it left behind) before they are closed and the partial
   * last line is flushed. @default 1_000
   */
  outputDrainMs: 1_000,
  /**
   * After a process group is sent SIGKILL, how long to wait for every process
   * of it to be gone (reaped, so `kill(-pgid, 0)` fails with ESRCH). @default 5_000
   */
  reapTimeoutMs: 5_000,
  /** A run process exiting with failure this soon after the start fails the run stage. @default 3_000 */
  runSettleMs: 3_000,
  /** Stopping: time between SIGTERM and SIGKILL to a run process group. @default 10_000 */
  stopGraceMs: 10_000,
  /** First restart delay of a run process; doubles per consecutive restart. @default 1_000 */
  restartBackoffMinMs: 1_000,
  /** Longest restart delay of a run process. @default 60_000 */
  restartBackoffMaxMs: 60_000,
  /** A run process that stayed up this long before exiting is restarted after the shortest delay again. @default 10_000 */
  restartStableMs: 10_000,
  /** How often a process group is checked while waiting for it to be gone. @default 20 */
  groupPollMs: 20
}

/** Defaults of the agent's task pipeline and reports (`src/agent/agent.ts`). */
export const AGENT_RUN_DEFAULTS = {
  /**
   * Average interval between two adverts (each also repeats the current
   * task's acknowledgements); jittered ±20 %. Every advert costs the manager
   * a signature check, a registry write and a TCP ACK on its uplink: at
   * 10 s, 50 agents' adverts were 2 % of a 16 KiB/s manager link during a
   * deployment, and 1,000 agents would send 100 a second. Reports and stage
   * acknowledgements go out as they happen; the advert only repeats them,
   * for a manager that missed one (a restarted manager is advertised to at
   * once, when it joins the tasks topic). @default 30_000
   */
  advertIntervalMs: 30_000,
  /** Between two syncs with a random connected peer (anti-entropy for missed announcements). @default 30_000 */
  syncIntervalMs: 30_000,
  /** The status relay role is first decided this long after start, once the first connections are identified. @default 2_000 */
  relaySettleMs: 2_000,
  /**
   * An agent asks its neighbours to relay its reports only after this long
   * without a link to the manager. The bootstrap dialler restores a dropped
   * link within seconds, and on a loaded swarm every relay request made
   * every neighbour take on (and check) every member's reports. Reports
   * published meanwhile are repeated by the next advert. At N = 50 on
   * 16 KiB/s links, once the manager's link was overloaded 17 agents asked
   * for relays within seconds of each other and the swarm's CPU went to
   * checking relayed reports (45 % of an agent's in gossipsub): a minute
   * rides out such a spell. @default 60_000
   */
  relayGraceMs: 60_000,
  /** Longest gap between two requests for members to the manager (peer exchange) while below the connection target; the first come 0.5 s, 1 s, 2 s… apart. @default 15_000 */
  peersAskIntervalMs: 15_000,
  /**
   * Transfer progress is acknowledged at most this often. Every report is a
   * signed gossip message the manager checks and stores: a 1,000-agent swarm
   * sends 500 a second at this interval. @default 2_000
   */
  progressIntervalMs: 2_000,
  /**
   * ... and only once the transfer advanced this share of the package since
   * the last report: at most about 10 reports per transfer, however long. On
   * a slow link every report also costs the manager's uplink an ACK (50
   * agents every 2 s: 25 packets a second; at 5 % steps, 50 agents on a
   * 300 s transfer still sent 3.3 a second). @default 0.1
   */
  progressStepShare: 0.1,
  /** Live log lines (debug tasks) are batched for this long. @default 500 */
  liveLogFlushMs: 500,
  /** Log lines per logs message. @default 40 */
  logLinesPerMessage: 40,
  /** Last lines of a failed stage sent with its FAILURE (all lines stay available on request). @default 40 */
  failureLogLines: 40,
  /** Free disk a task needs beyond three times its package (chunks, tar, unpacked). @default 64 MiB */
  diskMarginBytes: 64 * 1024 * 1024,
  /** Attempts at a transfer that finds no peer with the package before it fails. @default 3 */
  transferAttempts: 3,
  /** Pause between two transfer attempts. @default 15_000 */
  transferRetryMs: 15_000,
  /** Releases kept on disk besides the running one (for inspection; the rest are deleted). @default 1 */
  keepReleases: 1,
  /** Signed messages kept to answer late joiners over `/pollen/sync`. @default 64 */
  relayMessages: 64,
  /** Environment variables passed from the agent to install and run commands (plus `POLLEN_*`). */
  envAllowList: ['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'SHELL'] as readonly string[]
}

/** Version of Pollen, as agents advertise it. @default '0.1.0' */
export const POLLEN_VERSION = '0.1.0'

/** Defaults of the operator commands (`pollen deploy`, `tasks`, `targets`, `logs`), which talk to a manager's REST API. */
export const CLI_DEFAULTS = {
  /** Manager API when neither `--api` nor `POLLEN_API` is given. @default 'http://127.0.0.1:8080' */
  apiUrl: 'http://127.0.0.1:8080',
  /** A request (other than a task upload) not answered in this long fails. @default 30_000 */
  requestTimeoutMs: 30_000,
  /** `deploy --wait`: how often the task's summary is read (the source of truth; events only speed it up). @default 2_000 */
  pollIntervalMs: 2_000,
  /** `deploy --wait`: least time between two reads of the summary when events ask for an early one. @default 500 */
  minPollGapMs: 500,
  /** `deploy --wait` without `--timeout`: give up after this many seconds. @default 1_800 (30 min) */
  waitTimeoutSeconds: 1_800,
  /** `deploy --wait`: pause before reopening a closed `/events` WebSocket. @default 5_000 */
  eventsReconnectMs: 5_000,
  /** After asking an agent for logs, how long to wait for them to reach the manager. @default 10_000 */
  logWaitMs: 10_000,
  /** How often the target is re-read while waiting for requested logs. @default 1_000 */
  logPollMs: 1_000,
  /** Page size used to read every target (the API's maximum). @default 500 */
  listPerPage: 500,
  /** `pollen tasks`: tasks per page when `--per-page` is not given. @default 20 */
  tasksPerPage: 20,
  /** Requests sent at once when reading many tasks or targets one by one. @default 8 */
  concurrency: 8,
  /** Up to this many targets are re-read one by one; more are re-read by listing every target. @default 32 */
  singleReadsMax: 32
}
