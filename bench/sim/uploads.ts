/**
 * The serving side of every simulated node, as the exchange server runs it:
 * one session per fetcher with its requests in order, a node-wide limit of
 * `slots` chunks sent at once (sessions take turns for a slot, one chunk at
 * a time, like the server's FIFO semaphore), the upload rate shared equally
 * by the chunks being sent (the token bucket interleaves their pieces), and
 * the origin's initial-seeding admission at request time.
 */
import type { EventQueue } from './events.ts'

/** A chunk being sent. */
interface Transfer {
  readonly fetcher: number
  readonly index: number
  readonly size: number
  /** Bytes still to send, as of the uploader's `lastUpdate`. */
  remaining: number
}

const IDLE = 0
const WAITING = 1
const SENDING = 2

/** One fetcher's requests at one uploader. */
interface Session {
  readonly queue: number[]
  state: number
}

/** What the uploads need from the swarm around them. */
export interface UploadHost {
  readonly now: number
  readonly events: EventQueue
  /** Size of chunk `index`. */
  size (index: number): number
  /** Whether `fetcher` still wants chunk `index` from `uploader` (not cancelled, not held). */
  wanted (fetcher: number, uploader: number, index: number): boolean
  /** The first bytes of a chunk are on their way. */
  started (fetcher: number, uploader: number, index: number): void
  /** The last byte of a chunk left the uploader. */
  sent (fetcher: number, uploader: number, index: number, size: number): void
}

/** Bytes below which a transfer counts as finished (rounding of the shared-rate arithmetic). */
const DONE_BYTES = 0.5

/** Every node's upload side; node 0 is the origin. */
export class Uploads {
  readonly uploaded: Float64Array
  readonly #host: UploadHost
  readonly #rate: Float64Array
  readonly #slots: number
  readonly #doneKind: number
  readonly #version: Int32Array
  readonly #lastUpdate: Float64Array
  readonly #active: Transfer[][]
  readonly #waiting: number[][]
  readonly #sessions: Array<Map<number, Session> | undefined>
  readonly #origin: { readonly lastSent: Float64Array, neverSent: number, readonly holdMs: number }

  constructor (host: UploadHost, rates: Float64Array, slots: number, chunks: number, initialSeedHoldMs: number, doneKind: number) {
    const nodes = rates.length
    this.#host = host
    this.#rate = rates
    this.#slots = slots
    this.#doneKind = doneKind
    this.uploaded = new Float64Array(nodes)
    this.#version = new Int32Array(nodes)
    this.#lastUpdate = new Float64Array(nodes)
    this.#active = Array.from({ length: nodes }, () => [])
    this.#waiting = Array.from({ length: nodes }, () => [])
    this.#sessions = new Array(nodes).fill(undefined)
    this.#origin = { lastSent: new Float64Array(chunks).fill(-Infinity), neverSent: chunks, holdMs: initialSeedHoldMs }
  }

  /** A request arrived at `uploader`; false when it declines it (initial seeding). */
  request (uploader: number, fetcher: number, index: number): boolean {
    if (uploader === 0 && !this.#admit(index)) return false
    let sessions = this.#sessions[uploader]
    if (sessions === undefined) this.#sessions[uploader] = sessions = new Map()
    let session = sessions.get(fetcher)
    if (session === undefined) sessions.set(fetcher, session = { queue: [], state: IDLE })
    session.queue.push(index)
    if (session.state === IDLE) {
      session.state = WAITING
      this.#waiting[uploader]!.push(fetcher)
    }
    this.#fill(uploader)
    return true
  }

  /** The fetcher cancelled: drop the request, or stop sending it (what went out so far counts as uploaded). */
  cancel (uploader: number, fetcher: number, index: number): void {
    const session = this.#sessions[uploader]?.get(fetcher)
    if (session === undefined) return
    const queued = session.queue.indexOf(index)
    if (queued >= 0) { session.queue.splice(queued, 1); return }
    const active = this.#active[uploader]!
    const at = active.findIndex(t => t.fetcher === fetcher && t.index === index)
    if (at < 0) return
    this.#advance(uploader)
    const [transfer] = active.splice(at, 1)
    this.uploaded[uploader] = this.uploaded[uploader]! + transfer!.size - transfer!.remaining
    this.#release(uploader, fetcher, session)
    this.#fill(uploader)
    this.#reschedule(uploader)
  }

  /** The `doneKind` event for `uploader` fired; stale ones (`version` superseded) are ignored. */
  onDone (uploader: number, version: number): void {
    if (version !== this.#version[uploader]) return
    this.#advance(uploader)
    const active = this.#active[uploader]!
    for (let i = active.length - 1; i >= 0; i--) {
      const transfer = active[i]!
      if (transfer.remaining > DONE_BYTES) continue
      active.splice(i, 1)
      this.uploaded[uploader] = this.uploaded[uploader]! + transfer.size
      this.#host.sent(transfer.fetcher, uploader, transfer.index, transfer.size)
      const session = this.#sessions[uploader]?.get(transfer.fetcher)
      if (session !== undefined) this.#release(uploader, transfer.fetcher, session)
    }
    this.#fill(uploader)
    this.#reschedule(uploader)
  }

  /** Like `Share.admit`: while some chunk was never sent, the origin does not resend one within the hold time. */
  #admit (index: number): boolean {
    const origin = this.#origin
    const previous = origin.lastSent[index]!
    const now = this.#host.now
    if (origin.holdMs > 0 && origin.neverSent > 0 && now - previous < origin.holdMs) return false
    if (previous === -Infinity) origin.neverSent--
    origin.lastSent[index] = now
    return true
  }

  /** A session's chunk is done: it queues for a slot again if it has more, else goes idle. */
  #release (uploader: number, fetcher: number, session: Session): void {
    if (session.queue.length > 0) {
      session.state = WAITING
      this.#waiting[uploader]!.push(fetcher)
    } else {
      session.state = IDLE
      this.#sessions[uploader]!.delete(fetcher)
    }
  }

  /** Give free slots to waiting sessions, in turn. */
  #fill (uploader: number): void {
    const active = this.#active[uploader]!
    const waiting = this.#waiting[uploader]!
    if (active.length >= this.#slots || waiting.length === 0) return
    this.#advance(uploader)
    let changed = false
    while (active.length < this.#slots && waiting.length > 0) {
      const fetcher = waiting.shift()!
      const session = this.#sessions[uploader]!.get(fetcher)!
      const index = this.#nextWanted(uploader, fetcher, session)
      if (index < 0) { this.#release(uploader, fetcher, session); continue }
      session.state = SENDING
      const size = this.#host.size(index)
      active.push({ fetcher, index, size, remaining: size })
      this.#host.started(fetcher, uploader, index)
      changed = true
    }
    if (changed) this.#reschedule(uploader)
  }

  #nextWanted (uploader: number, fetcher: number, session: Session): number {
    while (session.queue.length > 0) {
      const index = session.queue.shift()!
      if (this.#host.wanted(fetcher, uploader, index)) return index
    }
    return -1
  }

  /** Bring the active transfers' remaining bytes up to now. */
  #advance (uploader: number): void {
    const now = this.#host.now
    const active = this.#active[uploader]!
    if (active.length > 0) {
      const sent = (now - this.#lastUpdate[uploader]!) * this.#rate[uploader]! / 1000 / active.length
      for (const transfer of active) transfer.remaining -= sent
    }
    this.#lastUpdate[uploader] = now
  }

  /** One pending completion event per uploader: the transfer with the fewest bytes left, at the shared rate. */
  #reschedule (uploader: number): void {
    const version = ++this.#version[uploader]!
    const active = this.#active[uploader]!
    if (active.length === 0) return
    let least = Infinity
    for (const transfer of active) least = Math.min(least, transfer.remaining)
    const ms = Math.max(0, least) * active.length * 1000 / this.#rate[uploader]!
    this.#host.events.push(this.#host.now + ms, this.#doneKind, uploader, version)
  }
}
