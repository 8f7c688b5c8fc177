/**
 * The manager: the one peer whose word agents obey. It wires a swarm node,
 * the chunk store and exchange (it seeds every package it built), signed
 * gossip and the registry, and implements what the REST API needs.
 */
import { randomUUID } from 'node:crypto'
import { mkdir, mkdtemp } from 'node:fs/promises'
import { join } from 'node:path'
import type { PrivateKey } from '@libp2p/interface'
import { createChunkExchange, createChunkStore, type ChunkExchange, type ChunkStore } from '../chunks/index.ts'
import { MANAGER_DEFAULTS } from '../constants.ts'
import {
  decodePublicKey, InvalidOptionError, InvalidTaskError, NotStartedError, signBody, TargetExistsError, TargetNotFoundError,
  TaskNotFoundError, withDefaults, type ManagerBody, type Signed, type Stage, type SwarmFile, type TargetRecord,
  type TargetSelector, type TaskBody, type TaskSpec, type RevokeBody, type StatusBody
} from '../core/index.ts'
import { createGossip, createPeerExchange, createSync, encodeManagerMessage, gossipScoreParams, type PeerExchange, type StatusEvent, type SwarmGossip, type SyncService } from '../gossip/index.ts'
import { createSwarmNode, swarmNodeOptions, type SwarmNode, type SwarmNodeOptions } from '../node/index.ts'
import { buildPackage } from './builder.ts'
import { removeUnpacked, unpackStream } from '../archive/index.ts'
import { sampleMembers } from './members.ts'
import { createRegistry, type Registry, type TaskRecord } from './registry.ts'
import { applyAck, applyAdvert, applyLogs, newTarget, type Applied } from './target-state.ts'
import { createTokenChecker, type TokenChecker, type TokenScope } from './tokens.ts'
import { enrollmentTokens, type EnrollmentTokens } from './enrollment.ts'
import { targetStatus, taskSummary, taskView, type SummaryShape, type TaskViewShape } from './views.ts'

/** Where the manager logs (pino-compatible; the CLI passes fastify's logger). */
export interface ManagerLogger {
  info (obj: object | string, msg?: string): void
  warn (obj: object | string, msg?: string): void
  error (obj: object | string, msg?: string): void
  debug (obj: object | string, msg?: string): void
}

/** Options of {@link createManager}; tunables default to MANAGER_DEFAULTS. */
export interface ManagerOptions extends Partial<typeof MANAGER_DEFAULTS> {
  readonly swarm: SwarmFile
  /** The Ed25519 key that signs tasks (its public half is in swarm.json). */
  readonly managerKey: PrivateKey
  /** Holds `peer.key`, `chunks/`, `registry/`, `scratch/` and `tokens.json`. */
  readonly dataDir: string
  /** Node settings (listen, bootstrap, mdns, …); the private-network key comes from `swarm`. */
  readonly node?: Omit<SwarmNodeOptions, 'dataDir' | 'connectionProtector'> & { readonly privateNetwork?: boolean }
  readonly uploadBytesPerSecond?: number
  /** Bearer token with scope `deploy`, besides those in tokens.json. */
  readonly operatorToken?: string
  readonly clock?: () => number
  readonly logger?: ManagerLogger
}

/** Something that changed. */
export type ManagerEventShape = { topic: 'task', payload: TaskViewShape } | { topic: 'target', payload: TargetRecord }

/** Figures for `/metrics`. */
export interface ManagerMetrics {
  tasks: number
  targets: number
  targetsByStatus: Record<string, number>
  bytesServed: number
  /** Agent reports refused since start, by reason (`peer-mismatch`, `not-enrolled`, `revoked`, …). */
  refusedReports: Record<string, number>
  /** Bytes the node sent since start, by protocol (see `SwarmNode.traffic`). */
  sentBytes: Record<string, number>
}

/** A page of a listing. */
export interface PageShape<T> { items: T[], total: number, page: number, perPage: number }

/** An upload unpacked by {@link Manager.receivePackage}. */
export interface ReceivedPackageShape { readonly dir: string, dispose (): Promise<void> }

/** A running manager. Methods other than `start` throw NotStartedError until it has started. */
export interface Manager {
  start (): Promise<void>
  stop (): Promise<void>
  /** The swarm node (after start). */
  readonly node: SwarmNode
  readonly exchange: ChunkExchange
  readonly store: ChunkStore
  createTask (input: { spec: TaskSpec, packagePath?: string, received?: ReceivedPackageShape, signal?: AbortSignal }): Promise<TaskViewShape>
  /**
   * Unpack an uploaded `.tar` or `.tar.gz` into a scratch directory as it
   * arrives, each entry checked before it is written and counted against
   * `maxPackageEntries` and `maxPackageBytes`; pass it to `createTask` as
   * `received`, then dispose of it.
   * @throws {UnsafePackageError} not a valid archive, an unsafe entry, or over a limit.
   */
  receivePackage (source: AsyncIterable<Uint8Array>, options?: { signal?: AbortSignal }): Promise<ReceivedPackageShape>
  listTasks (page: { page: number, perPage: number }): Promise<PageShape<TaskViewShape>>
  getTask (id: string): Promise<TaskViewShape & { summary: SummaryShape }>
  stopTask (id: string): Promise<TaskViewShape>
  listTargets (filter: { page: number, perPage: number, tags?: readonly string[] }): Promise<PageShape<TargetRecord>>
  createTarget (input: { id: string, tags: readonly string[] }): Promise<TargetRecord>
  getTarget (id: string): Promise<TargetRecord>
  updateTarget (input: { id: string, tags: readonly string[] }): Promise<TargetRecord>
  deleteTarget (id: string): Promise<void>
  requestLogs (id: string, stage: Stage): Promise<void>
  subscribe (listener: (event: ManagerEventShape) => void): () => void
  metrics (): Promise<ManagerMetrics>
  authenticate (token: string): Promise<TokenScope | undefined>
}

/** Build a manager; call `start()`. */
export function createManager (options: ManagerOptions): Manager {
  return new PollenManager(options)
}

const silent: ManagerLogger = { info () {}, warn () {}, error () {}, debug () {} }

interface Parts { node: SwarmNode, store: ChunkStore, exchange: ChunkExchange, gossip: SwarmGossip, sync: SyncService, peers: PeerExchange, registry: Registry }

class PollenManager implements Manager {
  readonly #opts: ManagerOptions & typeof MANAGER_DEFAULTS
  readonly #clock: () => number
  readonly #log: ManagerLogger
  readonly #tokens: TokenChecker
  readonly #enrollments: EnrollmentTokens
  readonly #refusedReports: Record<string, number> = {}
  readonly #listeners = new Set<(event: ManagerEventShape) => void>()
  /** Bytes uploaded per task as persisted when this run started. */
  readonly #uploadBase = new Map<string, number>()
  #parts: Parts | undefined
  #timers: NodeJS.Timeout[] = []
  #lifecycle: Promise<void> = Promise.resolve()

  constructor (options: ManagerOptions) {
    this.#opts = withDefaults(MANAGER_DEFAULTS, options)
    this.#clock = options.clock ?? Date.now
    this.#log = options.logger ?? silent
    this.#tokens = createTokenChecker(options.dataDir, options.operatorToken)
    this.#enrollments = enrollmentTokens(options.dataDir)
    decodePublicKey(options.swarm.managerPublicKey)
    const avg = this.#opts.avgChunkBytes
    if (!Number.isInteger(avg) || avg < 16 * 1024 || avg > 2 * 1024 * 1024) {
      throw new InvalidOptionError(`avgChunkBytes must be a whole number of bytes from 16 KiB to 2 MiB, not ${avg}`)
    }
  }

  get node (): SwarmNode { return this.#running().node }
  get exchange (): ChunkExchange { return this.#running().exchange }
  get store (): ChunkStore { return this.#running().store }

  async start (): Promise<void> {
    this.#lifecycle = this.#lifecycle.then(async () => { if (this.#parts == null) this.#parts = await this.#startParts() })
    await this.#lifecycle
  }

  async stop (): Promise<void> {
    this.#lifecycle = this.#lifecycle.catch(() => {}).then(async () => {
      const parts = this.#parts
      if (parts == null) return
      this.#timers.forEach(clearInterval)
      this.#timers = []
      await this.#saveUploads(parts).catch(err => { this.#log.warn({ err }, 'saving upload counters failed') })
      this.#parts = undefined
      await parts.peers.stop()
      await parts.sync.stop()
      await parts.gossip.stop()
      await parts.exchange.stop()
      await parts.node.stop()
      await parts.store.stop()
      await parts.registry.close()
    })
    await this.#lifecycle
  }

  async #startParts (): Promise<Parts> {
    const { dataDir, swarm } = this.#opts
    await mkdir(join(dataDir, 'scratch'), { recursive: true, mode: 0o700 })
    const registry = createRegistry(join(dataDir, 'registry'))
    await registry.open()
    const store = createChunkStore({ dir: join(dataDir, 'chunks') })
    await store.start()
    const { privateNetwork, ...nodeOptions } = this.#opts.node ?? {}
    const node = await createSwarmNode({
      ...nodeOptions,
      ...(privateNetwork === false ? {} : swarmNodeOptions(swarm)),
      pubsubScoreParams: gossipScoreParams(swarm.name).scoreParams,
      dataDir
    })
    for (const revocation of registry.revocations()) await node.deny(revocation.body.peerId)
    const exchange = createChunkExchange(node.libp2p, { store, uploadBytesPerSecond: this.#opts.uploadBytesPerSecond, wire: node })
    await exchange.start()
    const gossip = createGossip(node.libp2p.services.pubsub, {
      swarm: swarm.name, managerPublicKey: decodePublicKey(swarm.managerPublicKey), clock: this.#clock, isRevoked: peer => registry.isRevoked(peer.toString()),
      subscribeReports: true
    })
    gossip.addEventListener('status', evt => {
      this.#onStatus(evt.detail).catch(err => { this.#log.error({ err }, 'cannot apply an agent report') })
    })
    gossip.addEventListener('refused', evt => {
      const { topic, reason, peer, error } = evt.detail
      this.#log.warn({ topic, reason, peer: peer.toString(), error: error.message }, 'gossip message refused')
    })
    await gossip.start()
    const sync = createSync(node.libp2p, { provide: () => [...this.#current(registry), ...registry.revocations()] })
    await sync.start()
    const peers = createPeerExchange(node.libp2p, {
      provide: (asker, max) => sampleMembers(registry.targets(), asker.toString(), max, peer => registry.isRevoked(peer))
    })
    await peers.start()
    const parts = { node, store, exchange, gossip, sync, peers, registry }
    await this.#resumeSeeding(parts)
    this.#timers.push(setInterval(() => {
      this.#saveUploads(parts).catch(err => { this.#log.warn({ err }, 'saving upload counters failed') })
    }, this.#opts.uploadSaveIntervalMs).unref())
    return parts
  }

  /** Seed every package of an unexpired task again after a restart. */
  async #resumeSeeding (parts: Parts): Promise<void> {
    for (const record of parts.registry.allTasks()) {
      this.#uploadBase.set(record.signed.body.id, record.managerUploadBytes)
      const pkg = record.signed.body.package
      if (pkg == null || record.signed.body.expiresAt < this.#clock()) continue
      await parts.exchange.seed(pkg.cid, { initial: true }).catch(err => {
        this.#log.error({ err, task: record.signed.body.id }, 'cannot seed the package of a task: its chunks are missing from the store')
      })
    }
  }

  #running (): Parts {
    if (this.#parts == null) throw new NotStartedError('the manager is not running')
    return this.#parts
  }

  // ── tasks ────────────────────────────────────────────────────────────

  async receivePackage (source: AsyncIterable<Uint8Array>, options: { signal?: AbortSignal } = {}): Promise<ReceivedPackageShape> {
    this.#running()
    const dir = await mkdtemp(join(this.#opts.dataDir, 'scratch', 'upload-'))
    const dispose = async (): Promise<void> => { await removeUnpacked(dir) }
    try {
      await unpackStream(source, dir, { maxEntries: this.#opts.maxPackageEntries, maxBytes: this.#opts.maxPackageBytes, signal: options.signal })
    } catch (err) {
      await dispose()
      throw err
    }
    return { dir, dispose }
  }

  async createTask (input: { spec: TaskSpec, packagePath?: string, received?: ReceivedPackageShape, signal?: AbortSignal }): Promise<TaskViewShape> {
    const parts = this.#running()
    const { spec } = input
    const pkg = await buildPackage({
      spec,
      packagePath: input.packagePath,
      unpackedDir: input.received?.dir,
      scratchDir: join(this.#opts.dataDir, 'scratch'),
      store: parts.store,
      assembleTimeoutMs: this.#opts.assembleTimeoutMs,
      assembleOutputBytes: this.#opts.assembleOutputBytes,
      maxPackageEntries: this.#opts.maxPackageEntries,
      maxPackageBytes: this.#opts.maxPackageBytes,
      avgChunkBytes: this.#opts.avgChunkBytes,
      signal: input.signal
    })
    const now = this.#clock()
    const body: TaskBody = {
      kind: 'task',
      v: 1,
      id: randomUUID(),
      swarm: this.#opts.swarm.name,
      seq: await parts.registry.nextSeq(),
      createdAt: now,
      expiresAt: now + this.#opts.taskTtlMs,
      ...(spec.description != null ? { description: spec.description } : {}),
      package: pkg,
      stages: { transfer: spec.stages.transfer ?? [], install: spec.stages.install ?? [], run: spec.stages.run ?? [] },
      target: normaliseSelector(spec.target),
      debug: spec.debug ?? false,
      restart: spec.run?.restart ?? 'never',
      ...(spec.run?.workdir != null && spec.run.workdir !== '.' ? { workdir: spec.run.workdir } : {})
    }
    const signed = await signBody(this.#opts.managerKey, body)
    this.#checkAnnounceable(signed)
    const record: TaskRecord = { signed, ...(spec.stages.assemble != null ? { assemble: spec.stages.assemble } : {}), managerUploadBytes: 0 }
    await parts.registry.putTask(record)
    this.#uploadBase.set(body.id, 0)
    if (pkg != null) await parts.exchange.seed(pkg.cid, { initial: true })
    await this.#announce(parts, signed)
    this.#log.info({ task: body.id, seq: body.seq, package: pkg }, 'task created and announced')
    const view = taskView(record)
    this.#emit({ topic: 'task', payload: view })
    return view
  }

  /** A task too large for one gossip message is refused before anything is stored. */
  #checkAnnounceable (signed: Signed): void {
    try {
      encodeManagerMessage(signed)
    } catch (err) {
      throw new InvalidTaskError(`task is too large to announce: ${(err as Error).message}`, { cause: err })
    }
  }

  async listTasks (page: { page: number, perPage: number }): Promise<PageShape<TaskViewShape>> {
    const { registry } = this.#running()
    const items = registry.listTasks((page.page - 1) * page.perPage, page.perPage).map(r => taskView(r))
    return { items, total: registry.taskCount(), page: page.page, perPage: page.perPage }
  }

  async getTask (id: string): Promise<TaskViewShape & { summary: SummaryShape }> {
    const parts = this.#running()
    const record = this.#task(parts, id)
    return { ...taskView(record), summary: taskSummary(record, parts.registry.targets(), this.#uploadedFor(parts, record)) }
  }

  async stopTask (id: string): Promise<TaskViewShape> {
    const parts = this.#running()
    const record = this.#task(parts, id)
    const now = this.#clock()
    const stop = await signBody(this.#opts.managerKey, {
      kind: 'stop', v: 1, swarm: this.#opts.swarm.name, seq: await parts.registry.nextSeq(), createdAt: now, expiresAt: now + this.#opts.orderTtlMs, taskId: id, target: record.signed.body.target
    })
    const updated: TaskRecord = { ...record, stop }
    await parts.registry.putTask(updated)
    await this.#announce(parts, stop)
    const view = taskView(updated)
    this.#emit({ topic: 'task', payload: view })
    return view
  }

  #task (parts: Parts, id: string): TaskRecord {
    const record = parts.registry.getTask(id)
    if (record == null) throw new TaskNotFoundError(`no task ${JSON.stringify(id)}`)
    return record
  }

  // ── targets ──────────────────────────────────────────────────────────

  async listTargets (filter: { page: number, perPage: number, tags?: readonly string[] }): Promise<PageShape<TargetRecord>> {
    const { registry } = this.#running()
    const tags = filter.tags ?? []
    const all = [...registry.targets()]
      .filter(t => tags.every(tag => t.Tags.includes(tag)))
      .sort((a, b) => a.ID < b.ID ? -1 : a.ID > b.ID ? 1 : 0)
    const start = (filter.page - 1) * filter.perPage
    return { items: all.slice(start, start + filter.perPage), total: all.length, page: filter.page, perPage: filter.perPage }
  }

  async createTarget (input: { id: string, tags: readonly string[] }): Promise<TargetRecord> {
    const { registry } = this.#running()
    if (registry.getTarget(input.id) != null) throw new TargetExistsError(`target ${JSON.stringify(input.id)} exists already`)
    const record = newTarget(input.id, input.tags, this.#clock())
    await registry.putTarget(record, { sync: true })
    this.#emit({ topic: 'target', payload: record })
    return record
  }

  async getTarget (id: string): Promise<TargetRecord> {
    return this.#target(this.#running(), id)
  }

  async updateTarget (input: { id: string, tags: readonly string[] }): Promise<TargetRecord> {
    const parts = this.#running()
    const record = { ...this.#target(parts, input.id), Tags: [...input.tags] }
    await parts.registry.putTarget(record, { sync: true })
    this.#emit({ topic: 'target', payload: record })
    return record
  }

  /**
   * Remove a target. One an agent ever reported as (pinned to a peer) is
   * revoked: the manager signs and announces a revocation of that peer, and
   * every member shuts it out from then on.
   */
  async deleteTarget (id: string): Promise<void> {
    const parts = this.#running()
    const record = this.#target(parts, id)
    if (record.PeerID != null && !parts.registry.isRevoked(record.PeerID)) await this.#revoke(parts, id, record.PeerID)
    await parts.registry.deleteTarget(id)
  }

  async #revoke (parts: Parts, targetId: string, peerId: string): Promise<void> {
    const now = this.#clock()
    const body: RevokeBody = {
      kind: 'revoke', v: 1, swarm: this.#opts.swarm.name, seq: await parts.registry.nextSeq(), createdAt: now, expiresAt: now + this.#opts.revocationTtlMs, targetId, peerId
    }
    const revocation = await signBody(this.#opts.managerKey, body)
    await parts.registry.putRevocation(revocation)
    // Announce before shutting the peer out, so the announcement can still reach the mesh through it if it must.
    await this.#announce(parts, revocation)
    await parts.node.deny(peerId)
    this.#log.info({ target: targetId, peer: peerId, seq: body.seq }, 'target revoked')
  }

  async requestLogs (id: string, stage: Stage): Promise<void> {
    const parts = this.#running()
    this.#target(parts, id)
    const now = this.#clock()
    const request = await signBody(this.#opts.managerKey, {
      kind: 'log-request', v: 1, swarm: this.#opts.swarm.name, seq: await parts.registry.nextSeq(), createdAt: now, expiresAt: now + this.#opts.orderTtlMs, targetId: id, stage
    })
    await this.#announce(parts, request)
  }

  #target (parts: Parts, id: string): TargetRecord {
    const record = parts.registry.getTarget(id)
    if (record == null) throw new TargetNotFoundError(`no target ${JSON.stringify(id)}`)
    return record
  }

  // ── reports from agents ──────────────────────────────────────────────

  async #onStatus ({ body, from }: StatusEvent): Promise<void> {
    const parts = this.#parts
    if (parts == null) return
    const sender = from.toString()
    if (parts.registry.isRevoked(sender)) {
      this.#refuseReport(body, sender, 'revoked')
      return
    }
    const admission = await this.#admit(parts, body, sender)
    if (admission !== 'admitted') {
      this.#refuseReport(body, sender, admission)
      return
    }
    this.#apply(parts, body, sender)
    if (body.kind !== 'advert') return
    for (const ack of body.acks ?? []) {
      if (ack.targetId === body.id) this.#apply(parts, ack, sender)
      else this.#refuseReport(ack, sender, 'target-mismatch')
    }
  }

  /** Record one admitted report (an advert's acknowledgements each count as one). */
  #apply (parts: Parts, body: StatusBody, sender: string): void {
    const now = this.#clock()
    let applied: Applied
    if (body.kind === 'advert') applied = applyAdvert(parts.registry.getTarget(body.id), body, sender, now)
    else if (body.kind === 'ack') applied = applyAck(parts.registry.getTarget(body.targetId), body, sender, now, this.#seqOf(parts))
    else applied = applyLogs(parts.registry.getTarget(body.targetId), body, sender, now, this.#opts.maxLogLinesPerStage, this.#seqOf(parts))
    if ('refused' in applied) {
      this.#refuseReport(body, sender, applied.refused)
      return
    }
    parts.registry.putTarget(applied.record).catch(err => { this.#log.error({ err }, 'cannot save a target') })
    this.#emit({ topic: 'target', payload: applied.record })
  }

  /**
   * With `enrollment: 'token'`, a report about a target not yet pinned to a
   * peer is admitted only from an advert proving an unused, unexpired
   * enrollment token; the token is used up by that peer and target.
   */
  async #admit (parts: Parts, body: StatusBody, sender: string): Promise<'admitted' | 'not-enrolled' | 'enrollment-used'> {
    if (this.#opts.enrollment === 'open') return 'admitted'
    const targetId = body.kind === 'advert' ? body.id : body.targetId
    if (parts.registry.getTarget(targetId)?.PeerID != null) return 'admitted'
    if (body.kind !== 'advert' || body.enrollment == null) return 'not-enrolled'
    const token = await this.#enrollments.match(body.enrollment, sender, targetId, this.#clock())
    if (token == null) return 'not-enrolled'
    const use = parts.registry.enrollmentUse(token.id)
    if (use != null) return use.peerId === sender && use.targetId === targetId ? 'admitted' : 'enrollment-used'
    await parts.registry.useEnrollment(token.id, { targetId, peerId: sender, at: this.#clock() })
    this.#log.info({ target: targetId, peer: sender, token: token.id }, 'target enrolled')
    return 'admitted'
  }

  #refuseReport (body: StatusBody, sender: string, reason: string): void {
    this.#refusedReports[reason] = (this.#refusedReports[reason] ?? 0) + 1
    const target = body.kind === 'advert' ? body.id : body.targetId
    this.#log.warn({ kind: body.kind, target, from: sender, reason }, 'agent report refused')
  }

  #seqOf (parts: Parts): (taskId: string) => number | undefined {
    return taskId => parts.registry.getTask(taskId)?.signed.body.seq
  }

  // ── events, metrics, auth ────────────────────────────────────────────

  subscribe (listener: (event: ManagerEventShape) => void): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  #emit (event: ManagerEventShape): void {
    for (const listener of this.#listeners) {
      try {
        listener(event)
      } catch (err) {
        this.#log.error({ err }, 'event listener failed')
      }
    }
  }

  async metrics (): Promise<ManagerMetrics> {
    const parts = this.#running()
    const targetsByStatus: Record<string, number> = {}
    for (const target of parts.registry.targets()) {
      const status = targetStatus(target)
      targetsByStatus[status] = (targetsByStatus[status] ?? 0) + 1
    }
    return {
      tasks: parts.registry.taskCount(),
      targets: parts.registry.targetCount(),
      targetsByStatus,
      bytesServed: parts.exchange.stats().uploadedBytes,
      refusedReports: { ...this.#refusedReports },
      sentBytes: { ...parts.node.traffic() }
    }
  }

  async authenticate (token: string): Promise<TokenScope | undefined> {
    return await this.#tokens.scopeOf(token)
  }

  // ── announcing and bookkeeping ───────────────────────────────────────

  /** Publish a signed message; a failure is logged (peers that missed it catch up over `/pollen/sync`). */
  async #announce (parts: Parts, signed: Signed<ManagerBody>): Promise<void> {
    await parts.gossip.publishManagerMessage(signed).catch(err => {
      this.#log.warn({ err, kind: signed.body.kind, seq: signed.body.seq }, 'announcement failed; peers will catch up through sync')
    })
  }

  /**
   * Unexpired tasks and stop orders, oldest first: what a late joiner asks
   * for over `/pollen/sync` (revocations follow them; sync trims the oldest first).
   */
  #current (registry: Registry): Signed[] {
    const now = this.#clock()
    const messages: Signed[] = []
    for (const record of registry.allTasks()) {
      if (record.signed.body.expiresAt > now) messages.push(record.signed)
      if (record.stop != null && record.stop.body.expiresAt > now) messages.push(record.stop)
    }
    return messages.sort((a, b) => a.body.seq - b.body.seq)
  }

  #uploadedFor (parts: Parts, record: TaskRecord): number {
    const pkg = record.signed.body.package
    const base = this.#uploadBase.get(record.signed.body.id) ?? record.managerUploadBytes
    return pkg == null ? 0 : base + parts.exchange.uploadedBytesFor(pkg.cid)
  }

  async #saveUploads (parts: Parts): Promise<void> {
    for (const record of parts.registry.allTasks()) {
      const bytes = this.#uploadedFor(parts, record)
      if (bytes !== record.managerUploadBytes) await parts.registry.putTask({ ...record, managerUploadBytes: bytes })
    }
  }
}

/** Keep only the non-empty lists of a selector. */
function normaliseSelector (target: TargetSelector): TargetSelector {
  return {
    ...((target.ids?.length ?? 0) > 0 ? { ids: [...target.ids!] } : {}),
    ...((target.tags?.length ?? 0) > 0 ? { tags: [...target.tags!] } : {})
  }
}
