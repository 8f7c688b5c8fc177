/**
 * Bytes a node sends, by protocol: what the control plane costs on a slow
 * uplink (pings, gossip, reports) beside the chunk data. It plugs into
 * libp2p as its `metrics` component, which libp2p hands every connection
 * (before encryption: the bytes TCP carries) and every protocol stream
 * (after negotiation: the protocol's own bytes). What a connection sent
 * beyond its streams is yamux and noise framing, yamux's own frames
 * (window updates, keep-alive pings) and protocol negotiation.
 *
 * Only sending is counted by protocol: wrapping `send` costs one call per
 * write, while counting what arrives would need a 'message' listener on every
 * stream, which changes when a stream's data is read. What connections read
 * is reported to listeners only (`onWireReceived`), by wrapping the method
 * the transport feeds them through.
 */
import type { Connection, Metrics, MultiaddrConnection, Stream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

/** The key of the bytes every connection sent on the wire (all protocols and framing). */
export const WIRE = '(wire)'

/** Bytes sent, by protocol; {@link WIRE} for the total over all connections. */
export type TrafficSnapshot = Readonly<Record<string, number>>

/** Counts sent bytes per protocol; see the module. */
export class TrafficCounter {
  readonly #sent = new Map<string, number>()
  readonly #wireListeners = new Set<(bytes: number) => void>()
  readonly #receiveListeners = new Set<(bytes: number) => void>()
  /** When each connection last read something (`performance.now()`). */
  readonly #lastRead = new WeakMap<object, number>()

  /** Call `listener` with the size of every write to a connection (see {@link WIRE}); returns the unsubscribe function. */
  onWire (listener: (bytes: number) => void): () => void {
    this.#wireListeners.add(listener)
    return () => { this.#wireListeners.delete(listener) }
  }

  /**
   * Call `listener` with the size of every read from a connection (what TCP
   * delivered, before decryption: each read made the kernel send an
   * acknowledgement, or will); returns the unsubscribe function. Reads are
   * seen on connections whose transport delivers them through `onData`
   * (TCP); on others, none are reported.
   */
  onWireReceived (listener: (bytes: number) => void): () => void {
    this.#receiveListeners.add(listener)
    return () => { this.#receiveListeners.delete(listener) }
  }

  /**
   * When `conn` last read anything (`performance.now()`), if known: libp2p's
   * connection keeps the transport's connection this counter was handed as
   * `maConn`.
   */
  lastReadAt (conn: Connection): number | undefined {
    const maConn = (conn as unknown as { maConn?: object }).maConn
    return maConn === undefined ? undefined : this.#lastRead.get(maConn)
  }

  /** Bytes sent so far, by protocol. */
  snapshot (): TrafficSnapshot {
    return Object.fromEntries(this.#sent)
  }

  /** libp2p's `metrics` option: counts sends, and ignores libp2p's own metrics. */
  metrics (): Metrics {
    return {
      trackMultiaddrConnection: (maConn: MultiaddrConnection) => {
        this.#wrap(maConn, WIRE, this.#wireListeners)
        this.#wrapReceive(maConn)
      },
      // libp2p calls this once the protocol is negotiated: `protocol` is set and stays.
      trackProtocolStream: (stream: Stream) => { this.#wrap(stream, stream.protocol ?? '(unknown)') },
      registerMetric: ignored,
      registerMetricGroup: ignored,
      registerCounter: ignored,
      registerCounterGroup: ignored,
      registerHistogram: ignored,
      registerHistogramGroup: ignored,
      registerSummary: ignored,
      registerSummaryGroup: ignored,
      traceFunction: (_name: string, fn: any) => fn,
      createTrace: () => undefined
    } as unknown as Metrics
  }

  #wrap (target: Pick<Stream, 'send'>, name: string, listeners?: ReadonlySet<(bytes: number) => void>): void {
    const send = target.send.bind(target)
    target.send = (data: Uint8Array | Uint8ArrayList) => {
      this.#sent.set(name, (this.#sent.get(name) ?? 0) + data.byteLength)
      if (listeners !== undefined) for (const listener of listeners) listener(data.byteLength)
      return send(data)
    }
  }

  #wrapReceive (maConn: MultiaddrConnection): void {
    const target = maConn as unknown as ReadFed
    const onData = target.onData
    if (typeof onData !== 'function') return
    const listeners = this.#receiveListeners
    const lastRead = this.#lastRead
    target.onData = (data: Uint8Array | Uint8ArrayList) => {
      lastRead.set(maConn, performance.now())
      for (const listener of listeners) listener(data.byteLength)
      onData.call(maConn, data)
    }
  }
}

/** The part of a connection a transport feeds with what it reads (`AbstractMessageStream.onData`). */
interface ReadFed {
  onData?: (data: Uint8Array | Uint8ArrayList) => void
}

/**
 * What a register call returns: any method call is accepted and ignored, and
 * returns a no-op (e.g. the stop function of `timer()`).
 */
const noop: any = new Proxy(function () {}, { get: () => noop, apply: () => noop })

function ignored (): any {
  return noop
}
