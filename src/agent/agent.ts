/**
 * The agent: what runs on every device. It joins the swarm (private network
 * key, mDNS, bootstrap peers), advertises itself, obeys only messages signed
 * by the manager key of swarm.json, catches up with missed ones from any
 * peer over `/pollen/sync`, runs matching tasks through its
 * {@link TaskProcessor}, and seeds the packages it holds to its neighbours.
 */
import { arch, platform } from 'node:os'
import { mkdir, statfs } from 'node:fs/promises'
import { join } from 'node:path'
import type { PeerId } from '@libp2p/interface'
import { createChunkExchange, createChunkStore, type ChunkExchange, type ChunkStore } from '../chunks/index.ts'
import { AGENT_DEFAULTS, AGENT_RUN_DEFAULTS, GOSSIP_DEFAULTS, NODE_DEFAULTS, POLLEN_VERSION } from '../constants.ts'
import {
  decodePublicKey, enrollmentProof, matchesSelector, NotStartedError, withDefaults, type LogRequestBody, type RevokeBody, type Signed, type StopBody,
  type SwarmFile, type TaskBody
} from '../core/index.ts'
import { checkManagerMessage, createGossip, createPeerExchange, createSync, gossipScoreParams, type StatusEvent, type SwarmGossip, type SyncService } from '../gossip/index.ts'
import { multiaddr } from '@multiformats/multiaddr'
import { createSwarmNode, swarmNodeOptions, type SwarmNode, type SwarmNodeOptions } from '../node/index.ts'
import { createMembership, joinsTopic, type Membership } from './membership.ts'
import { TaskProcessor, type AgentLogger, type ProcessorSettings } from './processor.ts'
import { createReporter, type Reporter } from './reporter.ts'
import { AgentState, loadState } from './state.ts'
import { onProcessExit } from './exit-hook.ts'

/** Options of {@link createAgent}; tunables default to AGENT_DEFAULTS and AGENT_RUN_DEFAULTS. */
export interface AgentOptions extends Partial<ProcessorSettings> {
  readonly swarm: SwarmFile
  /** Holds `peer.key`, `chunks/`, `releases/`, `current`, `agent-state.json`. */
  readonly dataDir: string
  /** Target id; default: the one in the state file, else a generated `agent-xxxxxxxx`. */
  readonly id?: string
  readonly tags?: readonly string[]
  readonly node?: Omit<SwarmNodeOptions, 'dataDir' | 'connectionProtector' | 'pubsubScoreParams'>
  readonly uploadBytesPerSecond?: number
  /**
   * Relay other members' reports (subscribe to the status topic): `true`
   * always, `false` never. Left out, the agent relays only where needed: when
   * it has no link to the manager, or a neighbour without one asks for a
   * relay (see `membership.ts`). Its own reports reach the manager either way,
   * and the swarm's report traffic grows with N instead of N². @default undefined (as needed)
   */
  readonly relayStatus?: boolean
  /** One-time enrollment token (`pollen token enroll`), for a manager run with `--enrollment token`. */
  readonly enrollmentToken?: string
  readonly clock?: () => number
  readonly logger?: AgentLogger
}

/** A running agent. */
export interface Agent {
  start (): Promise<void>
  stop (): Promise<void>
  /** The target id (known after start). */
  readonly id: string
  /** The configured tags plus `os:<platform>` and `arch:<arch>`. */
  readonly tags: readonly string[]
  readonly node: SwarmNode
  readonly store: ChunkStore
  readonly exchange: ChunkExchange
  /** Id of the task in progress or running. */
  readonly currentTask: string | undefined
}

/** Build an agent; call `start()`. */
export function createAgent (options: AgentOptions): Agent {
  return new PollenAgent(options)
}

const silent: AgentLogger = { info () {}, warn () {}, error () {} }

interface Parts {
  node: SwarmNode
  store: ChunkStore
  exchange: ChunkExchange
  gossip: SwarmGossip
  sync: SyncService
  membership: Membership
  state: AgentState
  reporter: Reporter
  processor: TaskProcessor
}

class PollenAgent implements Agent {
  readonly #opts: AgentOptions & ProcessorSettings
  readonly #clock: () => number
  readonly #log: AgentLogger
  readonly #tags: readonly string[]
  #parts: Parts | undefined
  #timers: NodeJS.Timeout[] = []
  #lifecycle: Promise<void> = Promise.resolve()
  #offExit: (() => void) | undefined

  constructor (options: AgentOptions) {
    this.#opts = withDefaults({ ...AGENT_DEFAULTS, ...AGENT_RUN_DEFAULTS }, options)
    this.#clock = options.clock ?? Date.now
    this.#log = options.logger ?? silent
    // Implicit platform tags, so a task can target `arch:arm64` or `os:linux` without configuring them.
    const platformTags = [`os:${platform()}`, `arch:${arch()}`]
    this.#tags = [...new Set([...(options.tags ?? []), ...platformTags])]
    decodePublicKey(options.swarm.managerPublicKey)
  }

  get id (): string { return this.#running().state.data.id }
  get tags (): readonly string[] { return this.#tags }
  get node (): SwarmNode { return this.#running().node }
  get store (): ChunkStore { return this.#running().store }
  get exchange (): ChunkExchange { return this.#running().exchange }
  get currentTask (): string | undefined { return this.#parts?.processor.currentTask }

  #running (): Parts {
    if (this.#parts == null) throw new NotStartedError('the agent is not running')
    return this.#parts
  }

  async start (): Promise<void> {
    this.#lifecycle = this.#lifecycle.then(async () => {
      if (this.#parts != null) return
      this.#parts = await this.#startParts()
      this.#offExit = onProcessExit(() => { this.#parts?.processor.killAll() })
      await this.#parts.processor.resume()
      this.#startTimers(this.#parts)
    })
    await this.#lifecycle
  }

  async stop (): Promise<void> {
    this.#lifecycle = this.#lifecycle.catch(() => {}).then(async () => {
      const parts = this.#parts
      if (parts == null) return
      this.#parts = undefined
      this.#timers.forEach(clearTimeout)
      this.#timers = []
      this.#offExit?.()
      this.#offExit = undefined
      await parts.processor.close()
      await parts.reporter.close()
      await parts.state.update(data => ({ ...data, gossipSeq: parts.gossip.lastSeq() }))
      parts.membership.stop()
      await parts.sync.stop()
      await parts.gossip.stop()
      await parts.exchange.stop()
      await parts.node.stop()
      await parts.store.stop()
    })
    await this.#lifecycle
  }

  async #startParts (): Promise<Parts> {
    const { dataDir, swarm } = this.#opts
    await mkdir(dataDir, { recursive: true, mode: 0o700 })
    const state = new AgentState(dataDir, await loadState(dataDir, this.#opts.id))
    await state.update(data => data)
    const store = createChunkStore({ dir: join(dataDir, 'chunks') })
    await store.start()
    const node = await createSwarmNode({ ...this.#opts.node, ...swarmNodeOptions(swarm), pubsubScoreParams: gossipScoreParams(swarm.name).scoreParams, dataDir })
    for (const revocation of state.data.revocations ?? []) await node.deny(revocation.body.peerId)
    if (this.#opts.enrollmentToken != null) {
      const proof = enrollmentProof(this.#opts.enrollmentToken, node.peerId.toString(), state.data.id)
      await state.update(data => ({ ...data, enrollment: proof }))
    }
    const exchange = createChunkExchange(node.libp2p, { store, uploadBytesPerSecond: this.#opts.uploadBytesPerSecond, wire: node })
    await exchange.start()
    const gossip = createGossip(node.libp2p.services.pubsub, {
      swarm: swarm.name,
      managerPublicKey: decodePublicKey(swarm.managerPublicKey),
      clock: this.#clock,
      lastSeq: state.data.gossipSeq,
      subscribeStatus: this.#opts.relayStatus === true,
      isRevoked: peer => node.isDenied(peer)
    })
    const reporter = createReporter({
      gossip,
      targetId: () => state.data.id,
      maxLogLines: this.#opts.maxLogLinesPerStage,
      linesPerMessage: this.#opts.logLinesPerMessage,
      liveFlushMs: this.#opts.liveLogFlushMs,
      clock: this.#clock,
      onError: (err, what) => { this.#log.warn({ err: err.message }, what) }
    })
    const processor = new TaskProcessor({ dataDir, state, store, exchange, reporter, settings: this.#opts, clock: this.#clock, log: this.#log })
    const sync = createSync(node.libp2p, {
      provide: () => [...state.data.relay.filter(m => m.body.expiresAt > this.#clock()), ...state.data.revocations ?? []]
    })
    const membership = createMembership({
      node,
      gossip,
      peers: createPeerExchange(node.libp2p),
      mode: this.#opts.relayStatus == null ? 'auto' : this.#opts.relayStatus ? 'always' : 'never',
      connectionTarget: this.#opts.node?.connectionTarget ?? NODE_DEFAULTS.connectionTarget,
      settleMs: this.#opts.relaySettleMs,
      relayGraceMs: this.#opts.relayGraceMs,
      askIntervalMs: this.#opts.peersAskIntervalMs,
      onError: (err, what) => { this.#log.warn({ err: err.message }, what) },
      onRoleChange: role => { this.#log.info(role, 'status relay role') }
    })
    const parts: Parts = { node, store, exchange, gossip, sync, membership, state, reporter, processor }
    gossip.addEventListener('manager-message', evt => { void this.#onManagerMessage(parts, evt.detail.signed) })
    gossip.addEventListener('status', evt => { this.#onStatus(parts, evt.detail) })
    gossip.addEventListener('refused', evt => {
      const { topic, reason, peer, error } = evt.detail
      this.#log.warn({ topic, reason, peer: peer.toString(), error: error.message }, 'gossip message refused')
    })
    await gossip.start()
    await sync.start()
    membership.start()
    node.libp2p.addEventListener('peer:identify', evt => {
      if (evt.detail.protocols.includes(GOSSIP_DEFAULTS.syncProtocol)) void this.#syncWith(parts, evt.detail.peerId)
    })
    await this.#seedHeldPackages(parts)
    return parts
  }

  /** Serve the packages of known tasks that the store holds (after a restart). */
  async #seedHeldPackages (parts: Parts): Promise<void> {
    for (const entry of Object.values(parts.state.data.tasks)) {
      const pkg = entry.signed.body.package
      if (pkg != null && await parts.store.has(pkg.cid)) await parts.exchange.seed(pkg.cid).catch(() => {})
    }
  }

  #startTimers (parts: Parts): void {
    const jitter = (ms: number): number => ms * (0.8 + 0.4 * Math.random())
    // Adverts come fast at first (0.5 s, 1 s, 2 s, …) while the gossip mesh forms and members
    // learn of each other, then every advertIntervalMs.
    let gap = Math.min(500, this.#opts.advertIntervalMs)
    const advertLoop = (): void => {
      void this.#advertise(parts)
      this.#timers[0] = setTimeout(advertLoop, jitter(gap)).unref()
      gap = Math.min(gap * 2, this.#opts.advertIntervalMs)
    }
    const syncLoop = (): void => {
      // Any member answers (the messages carry the manager's signature): the manager's uplink,
      // which serves every agent, is asked only when it is the one peer.
      const peers = parts.node.libp2p.getPeers()
      const members = peers.filter(peer => !parts.membership.isManager(peer))
      const pool = members.length > 0 ? members : peers
      const peer = pool[Math.floor(Math.random() * pool.length)]
      if (peer != null) void this.#syncWith(parts, peer)
      this.#timers[1] = setTimeout(syncLoop, jitter(this.#opts.syncIntervalMs)).unref()
    }
    advertLoop()
    this.#timers[1] = setTimeout(syncLoop, jitter(this.#opts.syncIntervalMs)).unref()
    // A new member's subscriptions: advertise soon, so it learns of us (and dials us) without waiting a whole interval.
    let soon: NodeJS.Timeout | undefined
    parts.node.libp2p.services.pubsub.addEventListener('subscription-change', evt => {
      if (soon != null || this.#parts !== parts || !joinsTopic(evt.detail, parts.gossip.topics.tasks)) return
      soon = setTimeout(() => { soon = undefined; if (this.#parts === parts) void this.#advertise(parts) }, 300)
      this.#timers[2] = soon
    })
  }

  async #advertise (parts: Parts): Promise<void> {
    const free = await statfs(this.#opts.dataDir).then(s => Number(s.bavail) * Number(s.bsize), () => 0)
    await parts.reporter.advertise({
      tags: this.#tags,
      addresses: parts.node.addresses().slice(0, 16).map(a => a.toString()),
      platform: { os: platform(), arch: arch() },
      freeDiskBytes: free,
      version: POLLEN_VERSION,
      ...(parts.state.data.enrollment != null ? { enrollment: parts.state.data.enrollment } : {})
    })
  }

  /** Catch up from one peer: every message it holds is checked exactly as gossip checks it. */
  async #syncWith (parts: Parts, peer: PeerId): Promise<void> {
    let messages: Signed[]
    try {
      messages = await parts.sync.ask(peer)
    } catch {
      return
    }
    const publicKey = decodePublicKey(this.#opts.swarm.managerPublicKey)
    for (const signed of messages) {
      const verdict = await checkManagerMessage(signed, { publicKey, swarm: this.#opts.swarm.name, now: this.#clock() })
      if (verdict.valid) await this.#onManagerMessage(parts, signed)
      else this.#log.warn({ peer: peer.toString(), reason: verdict.reason }, 'a peer offered a message that does not verify')
    }
  }

  /**
   * Adverts of other members carry their addresses: dialling them (up to the
   * node's connection target) builds the swarm mesh beyond what mDNS sees,
   * e.g. for devices that only know the manager's bootstrap address.
   */
  #onStatus (parts: Parts, { body, from }: StatusEvent): void {
    if (body.kind !== 'advert' || from.equals(parts.node.peerId)) return
    const multiaddrs = body.addresses.flatMap(text => { try { return [multiaddr(text)] } catch { return [] } })
    parts.node.discovered({ id: from, multiaddrs })
  }

  async #onManagerMessage (parts: Parts, signed: Signed): Promise<void> {
    if (this.#parts !== parts) return
    const body = signed.body
    if (body.kind === 'task') await this.#onTask(parts, signed as Signed<TaskBody>)
    else if (body.kind === 'stop') await this.#onStop(parts, signed as Signed<StopBody>)
    else if (body.kind === 'revoke') await this.#onRevoke(parts, signed as Signed<RevokeBody>)
    else await this.#onLogRequest(parts, body)
  }

  /** A revoked member is shut out for good; a revoked device itself stops taking tasks. */
  async #onRevoke (parts: Parts, signed: Signed<RevokeBody>): Promise<void> {
    const { peerId, targetId } = signed.body
    const known = parts.state.data.revocations ?? []
    if (known.some(r => r.body.peerId === peerId)) return
    await parts.state.update(data => ({ ...data, revocations: [...data.revocations ?? [], signed] }))
    if (peerId === parts.node.peerId.toString()) {
      this.#log.error({ target: targetId }, 'this device was revoked by the manager: it takes no more tasks')
      return
    }
    await parts.node.deny(peerId)
    this.#log.info({ target: targetId, peer: peerId }, 'member revoked: connections to and from it are refused')
  }

  #isRevoked (parts: Parts): boolean {
    const self = parts.node.peerId.toString()
    return (parts.state.data.revocations ?? []).some(r => r.body.peerId === self)
  }

  async #onTask (parts: Parts, signed: Signed<TaskBody>): Promise<void> {
    const body = signed.body
    await this.#relay(parts, signed)
    const { state } = parts
    if (!matchesSelector(body.target, { id: state.data.id, tags: this.#tags }) || this.#isRevoked(parts)) return
    if (state.data.tasks[body.id] != null) return
    if (body.seq <= state.data.lastTaskSeq) {
      this.#log.warn({ task: body.id, seq: body.seq, last: state.data.lastTaskSeq }, 'ignoring a task older than one already accepted')
      return
    }
    const entry = { signed, phase: 'accepted' as const }
    await state.update(data => ({ ...data, lastTaskSeq: body.seq, tasks: { ...pruneTasks(data.tasks, data.current), [body.id]: entry } }))
    this.#log.info({ task: body.id, seq: body.seq }, 'task accepted')
    void parts.processor.submit(entry)
  }

  async #onStop (parts: Parts, signed: Signed<StopBody>): Promise<void> {
    await this.#relay(parts, signed)
    const body = signed.body
    if (!matchesSelector(body.target, { id: parts.state.data.id, tags: this.#tags })) return
    const entry = parts.state.data.tasks[body.taskId]
    if (entry == null || entry.phase === 'stopped') return
    await parts.processor.stop(body)
  }

  async #onLogRequest (parts: Parts, body: LogRequestBody): Promise<void> {
    const task = parts.reporter.latestTask() ?? parts.processor.currentTask ?? parts.state.data.current
    if (body.targetId !== parts.state.data.id || task == null) return
    await parts.reporter.sendLogs(task, body.stage)
  }

  /** Keep the newest signed tasks and stop orders (for any target) to answer late joiners. */
  async #relay (parts: Parts, signed: Signed<TaskBody> | Signed<StopBody>): Promise<void> {
    const relay = parts.state.data.relay
    if (relay.some(m => m.body.kind === signed.body.kind && m.body.seq === signed.body.seq)) return
    const kept = [...relay, signed].sort((a, b) => a.body.seq - b.body.seq).slice(-this.#opts.relayMessages)
    await parts.state.update(data => ({ ...data, relay: kept }))
  }
}

/** The state keeps the running task and the 31 newest others. */
function pruneTasks<T extends { signed: Signed<TaskBody> }> (tasks: Readonly<Record<string, T>>, current: string | undefined): Record<string, T> {
  const others = Object.entries(tasks).filter(([id]) => id !== current)
  const newest = others.sort(([, a], [, b]) => b.signed.body.seq - a.signed.body.seq).slice(0, 31)
  const running = current != null && tasks[current] != null ? [[current, tasks[current]] as const] : []
  return Object.fromEntries([...newest, ...running])
}
