/**
 * A swarm's gossip: its tasks and status topics on a gossipsub instance,
 * guarded by strict validators, with typed events for what passes them.
 */
import { TypedEventEmitter, type PeerId, type PublicKey, type TypedEventTarget } from '@libp2p/interface'
import { TopicValidatorResult, type GossipSub, type Message, type PublishResult, type TopicValidatorFn } from '@libp2p/gossipsub'
import { GOSSIP_DEFAULTS } from '../constants.ts'
import { NotStartedError } from '../core/errors.ts'
import { withDefaults } from '../core/options.ts'
import type { StatusBody } from '../core/status.ts'
import type { ManagerBody, Signed } from '../core/task.ts'
import { checkManagerMessage, type LastSeq } from './check.ts'
import { encodeManagerMessage, encodeStatus } from './codec.ts'
import { swarmTopics, type SwarmTopics } from './topics.ts'
import { SwarmValidators, type Refusal, type TopicKind, type TopicStats } from './validators.ts'

/** Options of {@link createGossip}; defaults in `GOSSIP_DEFAULTS`. */
export interface GossipOptions extends Partial<typeof GOSSIP_DEFAULTS> {
  /** Swarm name (from swarm.json): the topics are `pollen/<swarm>/tasks` and `pollen/<swarm>/status`. */
  readonly swarm: string
  /** The manager's public key: the only key whose messages are accepted on the tasks topic. */
  readonly managerPublicKey: PublicKey
  /** ms since the epoch. @default Date.now */
  readonly clock?: () => number
  /** Highest `seq` already accepted per kind (an agent's persisted {@link SwarmGossip.lastSeq}). */
  readonly lastSeq?: LastSeq
  /** Peers whose status messages are refused (revoked members): checked on the author, whoever relays. */
  readonly isRevoked?: (peer: PeerId) => boolean
}

/** A manager message that passed validation; `from` is the gossip author (StrictSign), not the relay. */
export interface ManagerMessageEvent {
  readonly signed: Signed
  readonly from: PeerId
}

/** A status message that passed validation; `from` is its author, authenticated by gossipsub's StrictSign. */
export interface StatusEvent {
  readonly body: StatusBody
  readonly from: PeerId
}

/** Events of a {@link SwarmGossip}. */
export interface SwarmGossipEvents {
  'manager-message': CustomEvent<ManagerMessageEvent>
  status: CustomEvent<StatusEvent>
  /** A message the validators refused (for logs and metrics). */
  refused: CustomEvent<Refusal>
}

/** What a node subscribes to beyond the tasks topic; see {@link SwarmGossip.setRole}. */
export interface GossipRole {
  readonly relayStatus: boolean
  readonly wantRelay: boolean
}

/** Counters of a {@link SwarmGossip}. */
export type GossipStats = Readonly<Record<TopicKind, TopicStats>>

/** A swarm's tasks and status topics. */
export interface SwarmGossip extends TypedEventTarget<SwarmGossipEvents> {
  readonly topics: SwarmTopics
  /** Install the validators and subscribe; a no-op when started. */
  start(): Promise<void>
  /** Unsubscribe and remove the validators; a no-op when stopped. */
  stop(): Promise<void>
  /**
   * Publish a signed manager message. It is checked first as receivers will
   * (schema, size, swarm, signature, clock), so a bad one throws here rather
   * than lowering this node's score everywhere. Does not throw when no peer
   * is subscribed yet (the node sets `allowPublishToZeroTopicPeers`).
   * @throws {InvalidMessageError | MessageTooLargeError | InvalidSignatureError | MessageExpiredError | NotStartedError}
   */
  publishManagerMessage(signed: Signed<ManagerBody>): Promise<PublishResult>
  /**
   * Publish a status message: on the reports topic when a connected peer
   * reads it (the manager, which then alone receives it), else on the status
   * topic for relays to carry, leaving Transfer progress out.
   * @throws {InvalidMessageError | MessageTooLargeError | NotStartedError}
   */
  publishStatus(body: StatusBody): Promise<PublishResult>
  /** Highest `seq` accepted per kind: persist it and pass it back as `lastSeq` after a restart. */
  lastSeq(): LastSeq
  /**
   * Change what this node subscribes to beyond the tasks topic: `relayStatus`,
   * the status topic (it then relays every member's reports); `wantRelay`,
   * the relay-wanted topic (it asks its neighbours to relay for it). Takes
   * effect at once when started, else at `start()`.
   */
  setRole(role: GossipRole): void
  /** Is a connected peer asking for a status relay (subscribed to the relay-wanted topic)? */
  relayWanted(): boolean
  stats(): GossipStats
}

/**
 * Build the gossip of one swarm on a gossipsub instance (the node's
 * `services.pubsub`). Call `start()` to subscribe.
 * @throws {InvalidOptionError} the swarm name is invalid.
 */
export function createGossip (pubsub: GossipSub, options: GossipOptions): SwarmGossip {
  return new Gossip(pubsub, options)
}

/** The relay-wanted topic carries subscriptions only: any message on it is refused. */
const refuseAll = (): TopicValidatorResult => TopicValidatorResult.Reject

class Gossip extends TypedEventEmitter<SwarmGossipEvents> implements SwarmGossip {
  readonly topics: SwarmTopics
  readonly #pubsub: GossipSub
  readonly #opts: typeof GOSSIP_DEFAULTS & GossipOptions
  readonly #clock: () => number
  readonly #validators: SwarmValidators
  #role: GossipRole
  #running = false

  constructor (pubsub: GossipSub, options: GossipOptions) {
    super()
    this.topics = swarmTopics(options.swarm)
    this.#pubsub = pubsub
    this.#opts = withDefaults(GOSSIP_DEFAULTS, options)
    this.#clock = options.clock ?? Date.now
    this.#role = { relayStatus: this.#opts.subscribeStatus, wantRelay: false }
    this.#validators = new SwarmValidators({
      ...this.#opts,
      clock: this.#clock,
      onRefused: refusal => { this.safeDispatchEvent('refused', { detail: refusal }) }
    })
  }

  async start (): Promise<void> {
    if (this.#running) return
    this.#running = true
    for (const [topic, validator] of this.#topicValidators()) this.#pubsub.topicValidators.set(topic, validator)
    this.#pubsub.addEventListener('message', this.#onMessage)
    for (const topic of this.#subscribed()) this.#pubsub.subscribe(topic)
  }

  async stop (): Promise<void> {
    if (!this.#running) return
    this.#running = false
    for (const topic of this.#subscribed()) this.#pubsub.unsubscribe(topic)
    this.#pubsub.removeEventListener('message', this.#onMessage)
    for (const [topic, validator] of this.#topicValidators()) {
      // A validator installed by someone else is left alone.
      if (this.#pubsub.topicValidators.get(topic) === validator) this.#pubsub.topicValidators.delete(topic)
    }
  }

  setRole (role: GossipRole): void {
    const before = new Set(this.#running ? this.#subscribed() : [])
    this.#role = { ...role }
    if (!this.#running) return
    const after = new Set(this.#subscribed())
    for (const topic of before) if (!after.has(topic)) this.#pubsub.unsubscribe(topic)
    for (const topic of after) if (!before.has(topic)) this.#pubsub.subscribe(topic)
  }

  relayWanted (): boolean {
    return this.#pubsub.getSubscribers(this.topics.relayWanted).length > 0
  }


  async publishManagerMessage (signed: Signed<ManagerBody>): Promise<PublishResult> {
    this.#checkRunning()
    const data = encodeManagerMessage(signed, { maxBytes: this.#opts.maxManagerMessageBytes })
    const { managerPublicKey: publicKey, swarm, maxClockSkewMs } = this.#opts
    const verdict = await checkManagerMessage(signed, { publicKey, swarm, maxClockSkewMs, now: this.#clock() })
    if (!verdict.valid) throw verdict.error
    return await this.#pubsub.publish(this.topics.tasks, data)
  }

  async publishStatus (body: StatusBody): Promise<PublishResult> {
    this.#checkRunning()
    const relayed = this.#pubsub.getSubscribers(this.topics.reports).length === 0
    // Progress is advisory: an agent whose reports cross relays does not make
    // every relay receive and check one every few seconds.
    if (relayed && body.kind === 'ack' && body.progress != null && body.status === 'STARTED') return { recipients: [] }
    const topic = relayed ? this.topics.status : this.topics.reports
    return await this.#pubsub.publish(topic, encodeStatus(body, { maxBytes: this.#opts.maxStatusMessageBytes }))
  }

  lastSeq (): LastSeq {
    return this.#validators.lastSeq()
  }

  stats (): GossipStats {
    return this.#validators.stats()
  }

  readonly #onMessage = (evt: CustomEvent<Message>): void => {
    const msg = evt.detail
    const accepted = this.#validators.take(msg)
    if (accepted === undefined || msg.type !== 'signed') return
    if (accepted.topic === 'tasks') this.safeDispatchEvent('manager-message', { detail: { signed: accepted.signed, from: msg.from } })
    else this.safeDispatchEvent('status', { detail: { body: accepted.body, from: msg.from } })
  }

  #subscribed (): string[] {
    return [
      ...(this.#opts.subscribeTasks ? [this.topics.tasks] : []),
      ...(this.#opts.subscribeReports ? [this.topics.reports] : []),
      ...(this.#role.relayStatus ? [this.topics.status] : []),
      ...(this.#role.wantRelay ? [this.topics.relayWanted] : [])
    ]
  }

  /** The validator of every topic this node may see, subscribed or not. */
  #topicValidators (): Array<[string, TopicValidatorFn]> {
    return [
      [this.topics.tasks, this.#validators.tasks],
      [this.topics.status, this.#validators.status],
      [this.topics.reports, this.#validators.status],
      [this.topics.relayWanted, refuseAll]
    ]
  }

  #checkRunning (): void {
    if (!this.#running) throw new NotStartedError('gossip is not started')
  }
}
