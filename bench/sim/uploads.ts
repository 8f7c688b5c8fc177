/**
 * The serving side of every simulated node, as the exchange server runs it:
 * one session per fetcher with its requests in order, a node-wide limit of
 * `slots` chunks sent at once (sessions take turns for a slot, one chunk at
 * a time, like the server's FIFO semaphore), the upload rate shared equally
 * by the chunks being sent (the token bucket interleaves their pieces), and
 * the origin's initial-seeding admission at request time.
 *
 * Layout: a session is the link's slot in the uploader's row of the
 * topology; its queue is a list threaded through the requests themselves,
 * the sessions waiting for a slot a list threaded through the link slots.
 * Nothing is allocated per request (requests are pooled by the swarm).
 */
import type { InflightRequest } from '../../src/chunks/policy.ts'
import type { TimerHeap } from './timers.ts'

/**
 * One fetcher's request for one chunk at one uploader: the entry the
 * fetcher's policy sees in its in-flight map, and the uploader's queue
 * entry. Pooled by the swarm: reused once neither side holds it.
 */
export class SimRequest implements InflightRequest {
  /** The uploader's id as the fetcher's policy knows it. */
  peer = ''
  since = 0
  started = false
  fetcher = 0
  uploader = 0
  /** The link's slot in the fetcher's row and in the uploader's row. */
  fetcherSlot = 0
  uploaderSlot = 0
  index = 0
  size = 0
  /** Uploader side: next request of the same session; bytes left while being sent. */
  next: SimRequest | null = null
  remaining = 0
  /** It found a free slot on arrival: sent one latency later than modelled (the request's own trip, see {@link Uploads.request}). */
  direct = false
  /** Whether the fetcher still counts it as in flight, and whether the uploader still queues or sends it. */
  atFetcher = false
  atUploader = false
}

/** What the uploads need from the swarm around them. */
export interface UploadHost {
  readonly now: number
  /** The first bytes of the request's chunk are on their way (sets `started`). */
  started (request: SimRequest): void
  /** The last byte of the request's chunk left the uploader. */
  sent (request: SimRequest): void
  /** The uploader no longer holds the request (sent or cancelled). */
  released (request: SimRequest): void
}

const IDLE = 0
const WAITING = 1
const SENDING = 2

/** Bytes below which a transfer counts as finished (rounding of the shared-rate arithmetic). */
const DONE_BYTES = 0.5

/** Every node's upload side; node 0 is the origin. */
export class Uploads {
  readonly uploaded: Float64Array
  readonly #host: UploadHost
  readonly #timers: TimerHeap
  /** Timer key of uploader u is `timerBase + u`. */
  readonly #timerBase: number
  readonly #rate: Float64Array
  readonly #slots: number
  readonly #lastUpdate: Float64Array
  /** Chunks being sent: `active[u * slots + j]` for j < `count[u]`. */
  readonly #active: Array<SimRequest | null>
  readonly #count: Uint8Array
  /** Per session (uploader-side link slot): queue ends, state, next waiting session. */
  readonly #head: Array<SimRequest | null>
  readonly #tail: Array<SimRequest | null>
  readonly #state: Uint8Array
  readonly #nextWaiting: Int32Array
  /** Per uploader: the first and last session waiting for a slot (-1: none). */
  readonly #waitHead: Int32Array
  readonly #waitTail: Int32Array
  readonly #origin: { readonly lastSent: Float64Array, neverSent: number, readonly holdMs: number }
  /** Set while a request is being taken in: what a slot starts then starts at once. */
  #arriving = false

  constructor (host: UploadHost, timers: TimerHeap, timerBase: number, rates: Float64Array, links: number, slots: number, chunks: number, initialSeedHoldMs: number) {
    const nodes = rates.length
    this.#host = host
    this.#timers = timers
    this.#timerBase = timerBase
    this.#rate = rates
    this.#slots = slots
    this.uploaded = new Float64Array(nodes)
    this.#lastUpdate = new Float64Array(nodes)
    this.#active = new Array<SimRequest | null>(nodes * slots).fill(null)
    this.#count = new Uint8Array(nodes)
    this.#head = new Array<SimRequest | null>(links).fill(null)
    this.#tail = new Array<SimRequest | null>(links).fill(null)
    this.#state = new Uint8Array(links)
    this.#nextWaiting = new Int32Array(links).fill(-1)
    this.#waitHead = new Int32Array(nodes).fill(-1)
    this.#waitTail = new Int32Array(nodes).fill(-1)
    this.#origin = { lastSent: new Float64Array(chunks).fill(-Infinity), neverSent: chunks, holdMs: initialSeedHoldMs }
  }

  /**
   * A request reaches its uploader; false when it declines it (initial
   * seeding). The swarm calls this when the request is sent, not one
   * latency later: the request needs no event of its own. A chunk that
   * starts at once is marked `direct` and delivered one latency later to
   * make up for it; one that waits in the queue was there before its slot
   * freed anyway.
   */
  request (request: SimRequest): boolean {
    if (request.uploader === 0 && !this.#admit(request.index)) return false
    const s = request.uploaderSlot
    request.atUploader = true
    request.next = null
    request.direct = false
    const tail = this.#tail[s] ?? null
    if (tail === null) this.#head[s] = request
    else tail.next = request
    this.#tail[s] = request
    if (this.#state[s] === IDLE) this.#wait(request.uploader, s)
    this.#arriving = true
    this.#fill(request.uploader)
    this.#arriving = false
    return true
  }

  /** The fetcher cancelled: drop the request, or stop sending it (what went out so far counts as uploaded). */
  cancel (request: SimRequest): void {
    if (!request.atUploader) return
    const u = request.uploader
    const base = u * this.#slots
    const count = this.#count[u]!
    for (let j = 0; j < count; j++) {
      if (this.#active[base + j] !== request) continue
      this.#advance(u)
      this.#removeActive(u, j)
      this.uploaded[u] = this.uploaded[u]! + request.size - request.remaining
      this.#release(u, request.uploaderSlot)
      this.#drop(request)
      this.#fill(u)
      this.#reschedule(u)
      return
    }
    this.#unqueue(request)
    this.#drop(request)
  }

  /** The timer of `uploader` fired: its first chunk (or chunks) finished. */
  onDone (uploader: number): void {
    this.#advance(uploader)
    const base = uploader * this.#slots
    for (let j = this.#count[uploader]! - 1; j >= 0; j--) {
      const request = this.#active[base + j]!
      if (request.remaining > DONE_BYTES) continue
      this.#removeActive(uploader, j)
      this.uploaded[uploader] = this.uploaded[uploader]! + request.size
      this.#release(uploader, request.uploaderSlot)
      this.#host.sent(request)
      this.#drop(request)
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

  #drop (request: SimRequest): void {
    request.atUploader = false
    request.next = null
    this.#host.released(request)
  }

  /** Take a queued request out of its session's queue. */
  #unqueue (request: SimRequest): void {
    const s = request.uploaderSlot
    let before: SimRequest | null = null
    let at = this.#head[s] ?? null
    while (at !== null && at !== request) { before = at; at = at.next }
    if (at === null) return
    if (before === null) this.#head[s] = request.next
    else before.next = request.next
    if (this.#tail[s] === request) this.#tail[s] = before
  }

  #removeActive (uploader: number, j: number): void {
    const base = uploader * this.#slots
    const last = --this.#count[uploader]!
    this.#active[base + j] = this.#active[base + last]!
    this.#active[base + last] = null
  }

  /** Session `s` joins the end of `uploader`'s line for a slot. */
  #wait (uploader: number, s: number): void {
    this.#state[s] = WAITING
    this.#nextWaiting[s] = -1
    const tail = this.#waitTail[uploader]!
    if (tail < 0) this.#waitHead[uploader] = s
    else this.#nextWaiting[tail] = s
    this.#waitTail[uploader] = s
  }

  /** A session's chunk is done: it lines up again if it has more, else goes idle. */
  #release (uploader: number, s: number): void {
    if (this.#head[s] !== null) this.#wait(uploader, s)
    else this.#state[s] = IDLE
  }

  /** Give free slots to waiting sessions, in turn. */
  #fill (uploader: number): void {
    const slots = this.#slots
    if (this.#count[uploader]! >= slots || this.#waitHead[uploader]! < 0) return
    this.#advance(uploader)
    let changed = false
    while (this.#count[uploader]! < slots) {
      const s = this.#waitHead[uploader]!
      if (s < 0) break
      const next = this.#nextWaiting[s]!
      this.#waitHead[uploader] = next
      if (next < 0) this.#waitTail[uploader] = -1
      const request = this.#head[s]!
      if (request === null) { this.#state[s] = IDLE; continue }
      this.#head[s] = request.next
      if (request.next === null) this.#tail[s] = null
      request.next = null
      this.#state[s] = SENDING
      request.remaining = request.size
      this.#host.started(request)
      request.direct = this.#arriving
      this.#active[uploader * slots + this.#count[uploader]!++] = request
      changed = true
    }
    if (changed) this.#reschedule(uploader)
  }

  /** Bring the active transfers' remaining bytes up to now. */
  #advance (uploader: number): void {
    const now = this.#host.now
    const count = this.#count[uploader]!
    if (count > 0) {
      const sent = (now - this.#lastUpdate[uploader]!) * this.#rate[uploader]! / 1000 / count
      const base = uploader * this.#slots
      for (let j = 0; j < count; j++) this.#active[base + j]!.remaining -= sent
    }
    this.#lastUpdate[uploader] = now
  }

  /** The uploader's timer: when the transfer with the fewest bytes left ends at the shared rate. */
  #reschedule (uploader: number): void {
    const count = this.#count[uploader]!
    const key = this.#timerBase + uploader
    if (count === 0) { this.#timers.remove(key); return }
    const base = uploader * this.#slots
    let least = Infinity
    for (let j = 0; j < count; j++) least = Math.min(least, this.#active[base + j]!.remaining)
    this.#timers.set(key, this.#host.now + Math.max(0, least) * count * 1000 / this.#rate[uploader]!)
  }
}
