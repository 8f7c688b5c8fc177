/**
 * Connection liveness: pings every connection each interval, keeps its RTT
 * (which the chunk policy reads as `connection.rtt`), and aborts it only
 * after several pings in a row went unanswered.
 *
 * A ping from the peer counts as one of ours: the monitor serves the ping
 * protocol itself, and a connection whose peer pinged it within the interval
 * is not due. Both ends run the same rule, so a connection carries about one
 * ping per interval instead of one from each end; on a slow uplink each is a
 * handful of packets, and the origin of a deployment holds a link to every
 * agent. Anything else read from the peer within the interval shows the link
 * alive as well: such a connection is pinged only every
 * {@link RTT_REFRESH_INTERVALS} intervals (during a deployment every agent
 * reports to the manager, which then pings almost none of them).
 *
 * A connection keeps one ping stream open: each ping is 32 bytes each way on
 * it. A new stream for every ping (as libp2p's ping service does) cost the
 * answering end five more small packets (the stream's acceptance, two
 * protocol negotiation lines, its end), about 500 bytes on the wire: at
 * N = 50 the agents' pings took 4-5 % of the manager's 16 KiB/s link
 * during a deployment. The protocol allows many pings on one stream.
 *
 * It replaces libp2p's connection monitor, which aborts a connection at the
 * first late ping. After a failed ping the next goes at the next check (an
 * eighth of the interval), so a dead link is dropped a few timeouts after
 * its first missed ping. On a slow uplink a ping waits behind chunk data in the
 * socket and the link's queue: at N = 50 on 32 KiB/s links the manager
 * aborted live connections within 40 s of a deployment's start, and every
 * agent that lost its manager link turned to relays.
 */
import type { Connection, Logger, Stream, StreamHandler, StreamHandlerOptions } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

/** The ping protocol (libp2p's), which every node serves. */
const PING_PROTOCOL = '/ipfs/ping/1.0.0'

/** Bytes of a ping (the protocol's fixed size). */
const PING_BYTES = 32

/** How often per interval the monitor looks for connections due a ping. */
const CHECKS_PER_INTERVAL = 8

/**
 * A connection that carries data from its peer is still pinged once in this
 * many intervals, so its RTT (which the chunk policy ranks peers by) stays
 * current.
 */
export const RTT_REFRESH_INTERVALS = 4

/** Ping streams one peer may have open to us at once. */
const MAX_INBOUND_PINGS = 2

/** What the monitor needs of a libp2p node. */
export interface LivenessHost {
  getConnections (): Connection[]
  readonly logger: { forComponent (name: string): Logger }
  /** Serve the ping protocol (libp2p's `handle`, with `force` to replace another handler). */
  handle? (protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>
  unhandle? (protocol: string): Promise<void>
}

/** Settings of {@link ConnectionLiveness}. */
export interface LivenessInit {
  /** Each connection is pinged this often. */
  intervalMs: number
  /** A ping unanswered this long failed. At most the interval, so one ping per connection is ever in flight. */
  timeoutMs: number
  /** A connection is aborted after this many failed pings in a row. */
  maxFailures: number
  /**
   * When `conn` last read anything from its peer (on the clock `check` is
   * given), if known: a connection that did within the interval is alive,
   * and is pinged only every {@link RTT_REFRESH_INTERVALS} intervals.
   */
  lastReadAt?: (conn: Connection) => number | undefined
}

/** Pings connections and aborts those whose peer stopped answering (see the module). */
export class ConnectionLiveness {
  readonly #host: LivenessHost
  readonly #init: LivenessInit
  readonly #log: Logger
  /** Failed pings in a row, per connection. */
  readonly #failures = new WeakMap<Connection, number>()
  readonly #pinging = new WeakSet<Connection>()
  /** When each connection was last pinged (on the clock `check` is given: performance.now() from the timer). */
  readonly #lastPing = new WeakMap<Connection, number>()
  /** The ping stream kept open on each connection. */
  readonly #channels = new WeakMap<Connection, PingChannel>()
  #timer: NodeJS.Timeout | undefined
  #abort = new AbortController()

  constructor (host: LivenessHost, init: LivenessInit) {
    this.#host = host
    this.#init = { ...init, timeoutMs: Math.min(init.timeoutMs, init.intervalMs) }
    this.#log = host.logger.forComponent('pollen:node:liveness')
  }

  /**
   * Start pinging. Idempotent. A connection is pinged an interval after it
   * opened and every interval after that, so a node's pings spread over the
   * interval rather than leaving all at once.
   */
  async start (): Promise<void> {
    if (this.#timer !== undefined) return
    this.#abort = new AbortController()
    await this.#host.handle?.(PING_PROTOCOL, this.#answer, { force: true, runOnLimitedConnection: true, maxInboundStreams: MAX_INBOUND_PINGS })
    this.#timer = setInterval(() => { void this.check(performance.now()) }, Math.max(1, Math.floor(this.#init.intervalMs / CHECKS_PER_INTERVAL)))
    this.#timer.unref()
  }

  /** Stop pinging and answering, and abandon pings in flight. Idempotent. */
  async stop (): Promise<void> {
    if (this.#timer === undefined) return
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#abort.abort()
    await this.#host.unhandle?.(PING_PROTOCOL)
  }

  /**
   * The peer of `conn` pinged us at `now` (on the clock `check` is given): it
   * is alive, and our own ping is due an interval later.
   */
  heard (conn: Connection, now: number): void {
    this.#failures.delete(conn)
    if (!this.#pinging.has(conn)) this.#lastPing.set(conn, now)
  }

  /**
   * Echo the peer's pings (the protocol: 32 bytes back for 32 bytes in) until
   * it closes the stream, or leaves it unused for longer than an initiator
   * with our settings would ({@link idleStreamMs}).
   */
  readonly #answer = async (stream: Stream, conn: Connection): Promise<void> => {
    const idleMs = idleStreamMs(this.#init.intervalMs)
    let idle: NodeJS.Timeout | undefined
    const rearm = (): void => {
      clearTimeout(idle)
      idle = setTimeout(() => { stream.abort(new Error('ping stream idle')) }, idleMs)
      idle.unref()
    }
    const onStop = (): void => { stream.abort(new Error('ping monitor stopped')) }
    this.#abort.signal.addEventListener('abort', onStop, { once: true })
    try {
      rearm()
      for await (const buf of stream) {
        rearm()
        this.heard(conn, performance.now())
        if (!stream.send(buf)) {
          await new Promise(resolve => {
            stream.addEventListener('drain', resolve, { once: true })
            stream.addEventListener('close', resolve, { once: true })
          })
        }
      }
      await stream.close({ signal: AbortSignal.timeout(this.#init.timeoutMs) })
    } catch {
      stream.abort(new Error('ping stream failed'))
    } finally {
      clearTimeout(idle)
      this.#abort.signal.removeEventListener('abort', onStop)
    }
  }

  /**
   * Ping every open connection whose ping is due at `now` (all of them
   * without `now`) and not already running; resolves once all have answered
   * or failed.
   */
  async check (now?: number): Promise<void> {
    const due = this.#host.getConnections().filter(c => c.status === 'open' && !this.#pinging.has(c) && (now === undefined || this.#isDue(c, now)))
    const at = now ?? performance.now()
    await Promise.all(due.map(async conn => { await this.#pingOne(conn, at) }))
  }

  /** Failed pings in a row of `conn` (0 after an answer). */
  failuresOf (conn: Connection): number {
    return this.#failures.get(conn) ?? 0
  }

  #isDue (conn: Connection, now: number): boolean {
    const last = this.#lastPing.get(conn)
    if (last === undefined) {
      this.#lastPing.set(conn, now) // first seen: due an interval from now
      return false
    }
    const interval = this.#init.intervalMs
    if (now - last < interval) return false
    const read = this.#init.lastReadAt?.(conn)
    return read === undefined || now - read >= interval || now - last >= RTT_REFRESH_INTERVALS * interval
  }

  /** Ping `conn` (its ping counted as sent at `at`, on the clock `check` is given). */
  async #pingOne (conn: Connection, at: number): Promise<void> {
    this.#pinging.add(conn)
    this.#lastPing.set(conn, at)
    try {
      conn.rtt = await this.#ping(conn, AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#init.timeoutMs)]))
      this.#failures.delete(conn)
    } catch (err) {
      if (this.#abort.signal.aborted || conn.status !== 'open') return
      const failures = this.failuresOf(conn) + 1
      this.#failures.set(conn, failures)
      // Ask again at the next check rather than an interval later, so a dead link goes within a few timeouts.
      this.#lastPing.set(conn, -Infinity)
      this.#log('ping %d of %p failed - %e', failures, conn.remotePeer, err)
      if (failures >= this.#init.maxFailures) {
        this.#log.error('aborting the connection to %p after %d failed pings', conn.remotePeer, failures)
        conn.abort(err as Error)
      }
    } finally {
      this.#pinging.delete(conn)
    }
  }

  /**
   * One ping of `conn` on its kept stream, or on a new one (kept for the
   * next pings) when it has none, or the kept one has ended: the peer drops
   * a stream left idle. Resolves with the round trip in ms.
   */
  async #ping (conn: Connection, signal: AbortSignal): Promise<number> {
    const kept = this.#channels.get(conn)
    if (kept?.usable === true) {
      try {
        return await kept.ping(signal)
      } catch (err) {
        this.#channels.delete(conn)
        if (signal.aborted) throw err // unanswered in time: a failed ping
      }
    }
    const channel = await PingChannel.open(conn, signal)
    this.#channels.set(conn, channel)
    try {
      return await channel.ping(signal)
    } catch (err) {
      this.#channels.delete(conn)
      throw err
    }
  }
}

/**
 * How long an answering end keeps a ping stream nobody pings: an initiator
 * with the same interval pings a connection that reads other data only every
 * {@link RTT_REFRESH_INTERVALS} intervals.
 */
export function idleStreamMs (intervalMs: number): number {
  return (RTT_REFRESH_INTERVALS + 1) * intervalMs
}

/** A ping stream kept open on one connection, for one ping at a time. */
class PingChannel {
  readonly #stream: Stream
  readonly #echoes: AsyncIterator<Uint8Array | Uint8ArrayList>

  private constructor (stream: Stream) {
    this.#stream = stream
    this.#echoes = stream[Symbol.asyncIterator]()
  }

  static async open (conn: Connection, signal: AbortSignal): Promise<PingChannel> {
    return new PingChannel(await conn.newStream(PING_PROTOCOL, { signal, runOnLimitedConnection: true }))
  }

  /** Neither end has closed or reset it. */
  get usable (): boolean {
    const s = this.#stream
    return s.status === 'open' && s.writeStatus === 'writable' && s.readStatus === 'readable' && s.remoteWriteStatus === 'writable'
  }

  /**
   * Send 32 random bytes and wait for their echo: resolves with the round
   * trip in ms. On any failure the stream is aborted (a late echo must not
   * answer the next ping).
   */
  async ping (signal: AbortSignal): Promise<number> {
    const stream = this.#stream
    const onAbort = (): void => { stream.abort(signal.reason as Error) }
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      signal.throwIfAborted()
      const start = performance.now()
      stream.send(crypto.getRandomValues(new Uint8Array(PING_BYTES)))
      let received = 0
      while (received < PING_BYTES) {
        const next = await this.#echoes.next()
        if (next.done === true) throw new Error('ping stream closed before the echo')
        received += next.value.byteLength
      }
      if (received > PING_BYTES) throw new Error(`ping echo of ${received} bytes for ${PING_BYTES}`)
      return performance.now() - start
    } catch (err) {
      stream.abort(err as Error)
      throw err
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }
}
