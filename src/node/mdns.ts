/**
 * mDNS discovery that stays cheap on a crowded LAN. Every mDNS query is
 * answered by every host, and every answer is multicast to every host, so a
 * LAN of N hosts querying every t seconds makes each host parse N²/t answers
 * a second. `@libp2p/mdns` also hands each answer to libp2p, which rewrites
 * the peer's peer-store record every time. At 20 hosts querying every 2 s
 * that was most of an idle agent's CPU, and at 50 it was the whole machine.
 *
 * But every host hears every answer, so one query anywhere refreshes what
 * every host knows: the LAN needs a few queries a second in all, not a few
 * per host. So this wrapper queries every `busyIntervalMs` while the node
 * lacks peers, and every `quietIntervalMs` otherwise, each stretched on a
 * crowded LAN (by `busyPerHostMs` and `quietPerHostMs` per host heard) so the
 * LAN as a whole sends about 5 queries a second while its nodes look for
 * peers and 1 a second once they have them. It passes an answer
 * on to libp2p only when it names a new peer or new addresses (or the last one
 * is old), and gives every answer to `onPeer`, the node's dialler, which is
 * cheap for peers already connected.
 */
import { peerDiscoverySymbol, serviceCapabilities, TypedEventEmitter, type PeerDiscovery, type PeerDiscoveryEvents, type PeerInfo, type Startable } from '@libp2p/interface'
import { mdns, type MulticastDNSComponents } from '@libp2p/mdns'

/** Settings of {@link quietMdns}. */
export interface QuietMdnsInit {
  readonly serviceTag: string
  /** Query interval while the node wants more peers. */
  readonly busyIntervalMs: number
  /** Least query interval once it has enough. */
  readonly quietIntervalMs: number
  /** Busy query interval per host heard on the LAN, when that is longer than `busyIntervalMs`. */
  readonly busyPerHostMs: number
  /** Quiet query interval per host heard on the LAN, when that is longer than `quietIntervalMs`. */
  readonly quietPerHostMs: number
  /** An answer of a known peer with unchanged addresses is passed to libp2p again after this long. */
  readonly refreshMs: number
  /** Does the node want more peers (below its connection target)? */
  readonly wantsPeers: () => boolean
  /** Every answer, for the dialler. */
  readonly onPeer: (peer: PeerInfo) => void
  /** Least time between two of this node's answers to queries (see {@link coalesce}). */
  readonly answerGapMs: number
  /** Answer gap per host heard on the LAN, when that is longer than `answerGapMs`. */
  readonly answerGapPerHostMs: number
}

/**
 * The parts of `@libp2p/mdns`'s instance used here: its `mdns` socket
 * (public in its typings) to send a query, and its bound query handler,
 * which it subscribes to the socket when it starts.
 */
interface MdnsInternals {
  mdns?: { query: (query: { questions: Array<{ name: string, type: 'PTR' }> }) => void }
  _onMdnsQuery?: (query: unknown) => void
}

/** Is this mDNS query for `serviceTag` (as `@libp2p/mdns` decides whether to answer)? */
function asksFor (query: unknown, serviceTag: string): boolean {
  const questions = (query as { questions?: Array<{ name?: unknown }> } | null)?.questions
  return Array.isArray(questions) && questions[0]?.name === serviceTag
}

/**
 * `fn` at most once per `gapMs()`: the first call runs at once; calls within
 * the gap after it become one call at the gap's end. The latest arguments
 * are used.
 */
export function coalesce<A extends unknown[]> (fn: (...args: A) => void, gapMs: () => number, now: () => number = Date.now): ((...args: A) => void) & { cancel: () => void } {
  let last = -Infinity
  let pending: A | undefined
  let timer: NodeJS.Timeout | undefined
  const run = (args: A): void => { last = now(); fn(...args) }
  const call = (...args: A): void => {
    const wait = last + gapMs() - now()
    if (wait <= 0 && timer == null) { run(args); return }
    pending = args
    timer ??= setTimeout(() => {
      timer = undefined
      const args = pending!
      pending = undefined
      run(args)
    }, Math.max(0, wait))
    timer.unref()
  }
  return Object.assign(call, { cancel: () => { clearTimeout(timer); timer = undefined; pending = undefined } })
}

/** Longest setTimeout delay: the inner module's own query timer is parked at this. */
const NEVER_MS = 2 ** 31 - 1

/** A peer-discovery factory for libp2p's `peerDiscovery` list. */
export function quietMdns (init: QuietMdnsInit): (components: MulticastDNSComponents) => PeerDiscovery {
  return components => new QuietMdns(components, init)
}

class QuietMdns extends TypedEventEmitter<PeerDiscoveryEvents> implements PeerDiscovery, Startable {
  readonly [peerDiscoverySymbol] = this
  readonly [Symbol.toStringTag] = 'pollen:quiet-mdns'
  readonly [serviceCapabilities] = ['@libp2p/peer-discovery']
  readonly #inner: PeerDiscovery & Startable & MdnsInternals
  #answer: ReturnType<typeof coalesce<[unknown]>> | undefined
  readonly #init: QuietMdnsInit
  /** Addresses last passed to libp2p, and when, by peer. */
  readonly #reported = new Map<string, { addresses: string, at: number }>()
  #timer: NodeJS.Timeout | undefined
  #lastQuery = 0

  constructor (components: MulticastDNSComponents, init: QuietMdnsInit) {
    super()
    this.#init = init
    // The inner module queries once when it starts; its own timer is parked and ours decides.
    this.#inner = mdns({ serviceTag: init.serviceTag, interval: NEVER_MS })(components) as PeerDiscovery & Startable & MdnsInternals
    this.#inner.addEventListener('peer', this.#onAnswer)
    // Every host answers every query, and every host hears every answer: on a
    // LAN of 50 that is 50 answers to parse per query, on every host. A node
    // answers at most once per gap; the answer is multicast, so every
    // querier of that gap hears it.
    const answer = this.#inner._onMdnsQuery
    if (answer != null) {
      const answerSoon = coalesce(answer, () => Math.max(init.answerGapMs, this.#reported.size * init.answerGapPerHostMs))
      this.#answer = answerSoon
      // Only queries for our service are coalesced: another service's query must not stand in for one of ours.
      this.#inner._onMdnsQuery = query => { if (asksFor(query, init.serviceTag)) answerSoon(query) }
    }
  }

  async start (): Promise<void> {
    if (this.#timer != null) return
    await this.#inner.start()
    this.#lastQuery = Date.now()
    this.#schedule()
  }

  async stop (): Promise<void> {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#answer?.cancel()
    await this.#inner.stop()
  }

  readonly #onAnswer = (evt: CustomEvent<PeerInfo>): void => {
    const peer = evt.detail
    this.#init.onPeer(peer)
    const key = peer.id.toString()
    const addresses = peer.multiaddrs.map(a => a.toString()).sort().join(' ')
    const last = this.#reported.get(key)
    const now = Date.now()
    if (last != null && last.addresses === addresses && now - last.at < this.#init.refreshMs) return
    this.#reported.set(key, { addresses, at: now })
    this.safeDispatchEvent('peer', { detail: peer })
  }

  /** Ticks at the busy interval; queries when the node wants peers or the quiet interval has passed. */
  #schedule (): void {
    const jitter = 0.8 + 0.4 * Math.random()
    const busy = Math.max(this.#init.busyIntervalMs, this.#reported.size * this.#init.busyPerHostMs)
    this.#timer = setTimeout(() => {
      this.#tick()
      if (this.#timer != null) this.#schedule()
    }, busy * jitter)
    this.#timer.unref()
  }

  #tick (): void {
    const now = Date.now()
    const quiet = Math.max(this.#init.quietIntervalMs, this.#reported.size * this.#init.quietPerHostMs)
    if (!this.#init.wantsPeers() && now - this.#lastQuery < quiet) return
    this.#lastQuery = now
    this.#inner.mdns?.query({ questions: [{ name: this.#init.serviceTag, type: 'PTR' }] })
  }
}
