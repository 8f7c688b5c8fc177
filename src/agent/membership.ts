/**
 * How an agent takes part in the swarm beyond its own tasks: whether it
 * relays other members' reports, and how it finds members beyond its LAN.
 *
 * Reports (adverts, acknowledgements, logs) go to the manager over the status
 * topic. When every agent relays that topic, every agent receives and checks
 * the signature of every other agent's reports: N² messages for the swarm,
 * which was most of an idle agent's CPU at N = 20. So by default (`auto`) an
 * agent linked to the manager (directly connected) does not subscribe to the
 * status topic, and its own reports go on the reports topic, which only the
 * manager reads (see `SwarmGossip.publishStatus`). An agent that has been
 * without that link for `relayGraceMs` subscribes to the relay-wanted topic;
 * a linked neighbour that sees the subscription relays the status topic, and
 * so do unlinked agents (reports then cross several hops). The manager is the peer that serves the peer
 * exchange (identify lists it); the exchange also gives an agent that knows
 * only the manager some members to dial.
 */
import type { PeerId } from '@libp2p/interface'
import { GOSSIP_DEFAULTS } from '../constants.ts'
import type { GossipRole, PeerExchange, SwarmGossip } from '../gossip/index.ts'
import type { SwarmLibp2p, SwarmNode } from '../node/index.ts'

/** First gap between two peer-exchange requests; also the least. */
const FIRST_ASK_GAP_MS = 500

/** `auto`: relay only where needed (see the module); `always`: every agent relays; `never`: none does. */
export type RelayMode = 'auto' | 'always' | 'never'

/** Options of {@link createMembership}. */
export interface MembershipOptions {
  readonly node: SwarmNode
  readonly gossip: SwarmGossip
  readonly peers: PeerExchange
  readonly mode: RelayMode
  /** Below this many connected peers, the agent asks the manager for members. */
  readonly connectionTarget: number
  /** The role is first decided this long after start, once the first connections are identified. */
  readonly settleMs: number
  /**
   * An agent asks for a relay only once it has been without a link to the
   * manager this long: the bootstrap dialler usually restores a dropped link
   * within seconds, and every relay request makes neighbours take on the
   * status topic.
   */
  readonly relayGraceMs: number
  /**
   * Longest time between two peer-exchange requests while below the target.
   * They start 0.5 s apart and the gap doubles up to this, so agents that
   * start together find each other once the manager has heard their adverts.
   */
  readonly askIntervalMs: number
  readonly onError: (err: Error, what: string) => void
  /** Told each time the agent takes on or drops the relay role, or starts or stops asking for a relay. */
  readonly onRoleChange?: (role: GossipRole & { linked: boolean }) => void
}

/** An agent's membership duties. */
export interface Membership {
  /** Start following connections and subscriptions; a no-op when started. */
  start (): void
  /** Stop; a no-op when stopped. */
  stop (): void
  /** Is the agent connected to the manager? */
  linked (): boolean
  /** Is `peer` the manager (it serves the peer exchange)? */
  isManager (peer: PeerId): boolean
  /** Ask the manager for members now if the agent has fewer peers than its target (at most once a second). */
  findPeers (): void
}

/**
 * Does this subscription change have a peer join `topic`? A new member joins
 * the tasks topic once; relay roles come and go on the other topics and, on a
 * loaded swarm, would otherwise make every neighbour advertise at each turn.
 */
export function joinsTopic (change: { subscriptions: ReadonlyArray<{ topic: string, subscribe: boolean }> }, topic: string): boolean {
  return change.subscriptions.some(s => s.subscribe && s.topic === topic)
}

/** Build the membership duties of an agent. */
export function createMembership (options: MembershipOptions): Membership {
  return new AgentMembership(options)
}

class AgentMembership implements Membership {
  readonly #opts: MembershipOptions
  readonly #libp2p: SwarmLibp2p
  /** Peers that serve the peer exchange: the manager (one, unless it moved to a new key). */
  readonly #managers = new Map<string, PeerId>()
  #role: GossipRole | undefined
  #settled = false
  #started = false
  #lastAsk = 0
  #askGap = FIRST_ASK_GAP_MS
  #askTimer: NodeJS.Timeout | undefined
  #timers: NodeJS.Timeout[] = []
  #pending: NodeJS.Timeout | undefined
  /** When the agent was last seen without a link to the manager, since which it has had none (undefined: linked). */
  #unlinkedSince: number | undefined
  #graceTimer: NodeJS.Timeout | undefined

  constructor (options: MembershipOptions) {
    this.#opts = options
    this.#libp2p = options.node.libp2p
  }

  start (): void {
    if (this.#started) return
    this.#started = true
    this.#setRole({ relayStatus: this.#opts.mode === 'always', wantRelay: false })
    this.#libp2p.addEventListener('peer:identify', this.#onIdentify)
    this.#scheduleAsk()
    if (this.#opts.mode !== 'auto') return
    this.#libp2p.addEventListener('peer:disconnect', this.#soon)
    this.#libp2p.services.pubsub.addEventListener('subscription-change', this.#soon)
    this.#timers.push(setTimeout(() => { this.#settled = true; this.#evaluate() }, this.#opts.settleMs).unref())
    // A safety net for a change no event reported (a subscription lost with a connection, say).
    this.#timers.push(setInterval(this.#soon, 5 * this.#opts.settleMs).unref())
  }

  stop (): void {
    if (!this.#started) return
    this.#started = false
    this.#timers.forEach(clearTimeout)
    this.#timers = []
    clearTimeout(this.#askTimer)
    clearTimeout(this.#pending)
    this.#pending = undefined
    clearTimeout(this.#graceTimer)
    this.#graceTimer = undefined
    this.#unlinkedSince = undefined
    this.#libp2p.removeEventListener('peer:identify', this.#onIdentify)
    this.#libp2p.removeEventListener('peer:disconnect', this.#soon)
    this.#libp2p.services.pubsub.removeEventListener('subscription-change', this.#soon)
    this.#settled = false
    this.#askGap = FIRST_ASK_GAP_MS
  }

  linked (): boolean {
    return this.#connectedManager() != null
  }

  isManager (peer: PeerId): boolean {
    return this.#managers.has(peer.toString())
  }

  findPeers (): void {
    if (this.#libp2p.getPeers().length >= this.#opts.connectionTarget) return
    const now = Date.now()
    if (now - this.#lastAsk < FIRST_ASK_GAP_MS * 2) return
    const manager = this.#connectedManager()
    if (manager == null) return
    this.#lastAsk = now
    this.#opts.peers.ask(manager).then(members => {
      for (const member of members) this.#opts.node.discovered(member)
    }, err => { this.#opts.onError(err as Error, 'asking the manager for members') })
  }

  #connectedManager (): PeerId | undefined {
    for (const peer of this.#managers.values()) if (this.#libp2p.getConnections(peer).length > 0) return peer
    return undefined
  }

  readonly #onIdentify = (evt: CustomEvent<{ peerId: PeerId, protocols: string[] }>): void => {
    if (!evt.detail.protocols.includes(GOSSIP_DEFAULTS.peersProtocol)) return
    this.#managers.set(evt.detail.peerId.toString(), evt.detail.peerId)
    this.findPeers()
    if (this.#opts.mode === 'auto') this.#soon()
  }

  /** Ask again and again while below the target, ever less often (see `askIntervalMs`). */
  #scheduleAsk (): void {
    const timer = setTimeout(() => {
      this.findPeers()
      this.#askGap = Math.min(this.#askGap * 2, this.#opts.askIntervalMs)
      if (this.#started) this.#scheduleAsk()
    }, this.#askGap)
    timer.unref()
    this.#askTimer = timer
  }

  /** Decide again shortly: events come in bursts (a connection brings several). */
  readonly #soon = (): void => {
    if (this.#pending != null || !this.#started) return
    this.#pending = setTimeout(() => { this.#pending = undefined; this.#evaluate() }, 250)
    this.#pending.unref()
  }

  #evaluate (): void {
    if (!this.#started || !this.#settled) return
    const linked = this.linked()
    const wantRelay = !linked && this.#unlinkedFor() >= this.#opts.relayGraceMs
    this.#setRole({ relayStatus: wantRelay || (linked && this.#opts.gossip.relayWanted()), wantRelay })
  }

  /** How long the agent has been without a link to the manager (0 when linked); schedules a re-decision at the grace's end. */
  #unlinkedFor (): number {
    if (this.linked()) {
      this.#unlinkedSince = undefined
      return 0
    }
    const now = Date.now()
    this.#unlinkedSince ??= now
    const waited = now - this.#unlinkedSince
    if (waited < this.#opts.relayGraceMs && this.#graceTimer == null) {
      this.#graceTimer = setTimeout(() => { this.#graceTimer = undefined; this.#evaluate() }, this.#opts.relayGraceMs - waited + 10)
      this.#graceTimer.unref()
    }
    return waited
  }

  #setRole (role: GossipRole): void {
    if (role.relayStatus === this.#role?.relayStatus && role.wantRelay === this.#role.wantRelay) return
    this.#role = role
    this.#opts.gossip.setRole(role)
    this.#opts.onRoleChange?.({ ...role, linked: this.linked() })
  }
}
