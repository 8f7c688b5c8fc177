/**
 * The serving side of every simulated node, as the exchange server runs it:
 * one session per fetcher with its requests in order, a node-wide limit of
 * `slots` chunks sent at once (sessions take turns for a slot, one chunk at
 * a time, like the server's FIFO semaphore), the upload rate shared equally
 * by the chunks being sent (the token bucket interleaves their pieces), the
 * node-wide backlog (a request beyond `maxQueued` chunks accepted and not
 * yet sent is declined) and the origin's initial-seeding admission
 * (the agents' own `Share` for the origin: its initial and repeat holds),
 * both at request time, and the origin's turns (origin-turns.ts).
 *
 * Layout: an uploader's scalars and the requests it sends sit in the
 * upload line of its block (nodes.ts); a session is the link's slot in the
 * uploader's row of the topology, four Int32 in `sessions` (queue head and
 * tail, state, next session waiting for a slot); a session's queue is
 * threaded through the request records (requests.ts). Nothing is
 * allocated per request.
 */
import { ACTIVE, BACKLOG, BACKLOG_BYTES, LAST_UPDATE, RATE, UPLOADED, UP_COUNT, WAIT_HEAD, WAIT_TAIL, type NodeTable } from './nodes.ts'
import { AT_UPLOADER, BITS, DIRECT, INDEX, NEXT_QUEUED, UPLOADER, UPLOADER_SLOT, type RequestTable } from './requests.ts'
import type { TimerHeap } from './timers.ts'
import { OriginTurns } from './origin-turns.ts'
import { Share } from '../../src/chunks/share.ts'
import { Bitfield } from '../../src/chunks/bitfield.ts'
import { backlogRefuses } from '../../src/chunks/backlog.ts'

/** What the uploads need from the swarm around them. */
export interface UploadHost {
  readonly now: number
  /** The first bytes of request `r`'s chunk are on their way. */
  started (r: number): void
  /** The last byte of request `r`'s chunk left the uploader. */
  sent (r: number): void
  /** The uploader no longer holds request `r` (sent or cancelled). */
  released (r: number): void
}

/** Fields of a session in `sessions`, and its states. */
const HEAD = 0
const TAIL = 1
const STATE = 2
const NEXT_WAITING = 3
const IDLE = 0
const WAITING = 1
const SENDING = 2

/** Bytes below which a transfer counts as finished (rounding of the shared-rate arithmetic). */
const DONE_BYTES = 0.5

/** How the upload side is set up (the exchange's options, EXCHANGE_DEFAULTS). */
export interface UploadOptions {
  /** Links in the topology (sessions). */
  readonly links: number
  /** Chunks a node sends at once (`maxConcurrentUploads`). */
  readonly slots: number
  /** Chunks a node accepts and has not sent yet, over all sessions, before it declines (`maxQueuedUploads`). */
  readonly maxQueued: number
  /** Time at the node's upload rate that the chunks it accepted and has not sent yet may take before it declines more (`maxQueuedUploadMs`). */
  readonly maxQueuedMs: number
  readonly sizes: readonly number[]
  /** The origin's holds, as `Share.initialSeedHoldMs` and `Share.repeatSeedHoldMs`. */
  readonly initialSeedHoldMs: number
  readonly repeatSeedHoldMs: number
  /** The origin's turns (see origin-turns.ts): its links in the topology and the exchange's settings; undefined: it serves every fetcher at once. */
  readonly turns?: { readonly first: number, readonly degree: number, readonly slots: number, readonly turnChunks: number, readonly idleMs: number, readonly checkMs: number }
}

/** Requests declined, by reason. */
export interface Declines {
  /** The uploader's backlog was full. */
  backlog: number
  /** The origin held the chunk (initial or repeat hold). */
  originHold: number
  /** The origin had choked the fetcher (it asked before it saw the choke). */
  choked: number
}

/** Every node's upload side; node 0 is the origin. */
export class Uploads {
  readonly #host: UploadHost
  readonly #timers: TimerHeap
  readonly #nodes: NodeTable
  readonly #requests: RequestTable
  readonly #sizes: readonly number[]
  readonly #slots: number
  readonly #maxQueued: number
  readonly #maxQueuedMs: number
  readonly #sessions: Int32Array
  /** What the origin sent and when, as the exchange's origin keeps it: its holds and its turns' chunks. */
  readonly #origin: Share
  readonly declines: Declines = { backlog: 0, originHold: 0, choked: 0 }
  /** The origin's turns, unless it serves every fetcher at once. */
  readonly turns: OriginTurns | undefined
  /** Set while a request is being taken in: what a slot starts then starts at once. */
  #arriving = false

  constructor (host: UploadHost, timers: TimerHeap, nodes: NodeTable, requests: RequestTable, o: UploadOptions) {
    this.#host = host
    this.#timers = timers
    this.#nodes = nodes
    this.#requests = requests
    this.#sizes = o.sizes
    this.#slots = o.slots
    this.#maxQueued = o.maxQueued
    this.#maxQueuedMs = o.maxQueuedMs
    this.#sessions = new Int32Array(4 * o.links)
    for (let s = 0; s < o.links; s++) this.#sessions[4 * s + NEXT_WAITING] = -1
    const k = o.sizes.length
    const origin = this.#origin = new Share('origin')
    origin.initialSeedHoldMs = o.initialSeedHoldMs
    origin.repeatSeedHoldMs = o.repeatSeedHoldMs
    const chunks = o.sizes.map((size, i) => ({ cid: `chunk-${i}`, size }))
    origin.setManifest({ version: 1, size: chunks.reduce((sum, c) => sum + c.size, 0), chunks }, Bitfield.full(k))
    const sessions = this.#sessions
    this.turns = o.turns === undefined
      ? undefined
      : new OriginTurns({
        ...o.turns,
        chunks: k,
        now: () => host.now,
        origin,
        busy: slot => sessions[4 * slot + STATE] !== IDLE || sessions[4 * slot + HEAD] !== 0
      })
  }

  /** Bytes uploaded by `node`. */
  uploaded (node: number): number { return this.#nodes.f64[node * this.#nodes.stride / 2 + UPLOADED]! }

  /**
   * Request `r` (uploader, slot and index set) reaches its uploader; false
   * when it declines it (a full backlog, the origin's holds: checked in the
   * server's order, so a request the backlog turns away does not count as
   * sent at the origin). The swarm calls this when the
   * request is sent, not one latency later: the request needs no event of
   * its own. A chunk that starts at once is marked DIRECT and delivered one
   * latency later to make up for it; one that waits in the queue was there
   * before its slot freed anyway.
   */
  request (r: number): boolean {
    const q = this.#requests.i32
    const uploader = q[16 * r + UPLOADER]!
    const block = uploader * this.#nodes.stride
    const i32 = this.#nodes.i32
    if (uploader === 0 && this.turns?.choked(q[16 * r + UPLOADER_SLOT]!) === true) { this.declines.choked++; return false }
    const size = this.#sizes[q[16 * r + INDEX]!]!
    if (this.#backlogRefuses(block)) { this.declines.backlog++; return false }
    if (uploader === 0 && !this.#origin.admit(q[16 * r + INDEX]!, this.#host.now)) { this.declines.originHold++; return false }
    if (uploader === 0) this.turns?.asked(q[16 * r + UPLOADER_SLOT]!)
    i32[block + BACKLOG] = i32[block + BACKLOG]! + 1
    i32[block + BACKLOG_BYTES] = i32[block + BACKLOG_BYTES]! + size
    const s = 4 * q[16 * r + UPLOADER_SLOT]!
    const sessions = this.#sessions
    q[16 * r + BITS] = (q[16 * r + BITS]! | AT_UPLOADER) & ~DIRECT
    q[16 * r + NEXT_QUEUED] = 0
    const tail = sessions[s + TAIL]!
    if (tail === 0) sessions[s + HEAD] = r
    else q[16 * tail + NEXT_QUEUED] = r
    sessions[s + TAIL] = r
    if (sessions[s + STATE] === IDLE) this.#wait(uploader, s)
    this.#arriving = true
    this.#fill(uploader)
    this.#arriving = false
    return true
  }

  /** The fetcher cancelled request `r`: drop it, or stop sending it (what went out so far counts as uploaded). */
  cancel (r: number): void {
    const q = this.#requests.i32
    if ((q[16 * r + BITS]! & AT_UPLOADER) === 0) return
    const u = q[16 * r + UPLOADER]!
    const { i32, f64, stride } = this.#nodes
    const block = u * stride
    const count = i32[block + UP_COUNT]!
    for (let j = 0; j < count; j++) {
      if (i32[block + ACTIVE + j] !== r) continue
      this.#advance(u)
      f64[block / 2 + UPLOADED] = f64[block / 2 + UPLOADED]! + this.#sizes[q[16 * r + INDEX]!]! - f64[block / 2 + this.#nodes.remaining + j]!
      this.#removeActive(block, j)
      this.#release(u, 4 * q[16 * r + UPLOADER_SLOT]!)
      this.#drop(r)
      if (u === 0) this.#origin.withdraw(q[16 * r + INDEX]!)
      this.#fill(u)
      this.#reschedule(u)
      return
    }
    this.#unqueue(r)
    this.#drop(r)
    if (u === 0) this.#origin.withdraw(q[16 * r + INDEX]!)
  }

  /** The timer of `uploader` fired: its first chunk (or chunks) finished. */
  onDone (uploader: number): void {
    this.#advance(uploader)
    const { i32, f64, stride } = this.#nodes
    const block = uploader * stride
    const q = this.#requests.i32
    const remaining = block / 2 + this.#nodes.remaining
    for (let j = i32[block + UP_COUNT]! - 1; j >= 0; j--) {
      if (f64[remaining + j]! > DONE_BYTES) continue
      const r = i32[block + ACTIVE + j]!
      this.#removeActive(block, j)
      f64[block / 2 + UPLOADED] = f64[block / 2 + UPLOADED]! + this.#sizes[q[16 * r + INDEX]!]!
      this.#release(uploader, 4 * q[16 * r + UPLOADER_SLOT]!)
      this.#host.sent(r)
      if (uploader === 0) this.turns?.sent(q[16 * r + UPLOADER_SLOT]!)
      this.#drop(r)
    }
    this.#fill(uploader)
    this.#reschedule(uploader)
  }

  /** The exchange's backlog rule: `maxQueued` chunks, or more than `maxQueuedMs` of them at the node's rate waiting ahead. */
  #backlogRefuses (block: number): boolean {
    const { i32, f64 } = this.#nodes
    return backlogRefuses(i32[block + BACKLOG]!, i32[block + BACKLOG_BYTES]!, this.#maxQueued, f64[block / 2 + RATE]! * this.#maxQueuedMs / 1000)
  }

  /** The uploader lets go of request `r` (sent or cancelled): its place in the backlog is free. */
  #drop (r: number): void {
    const q = this.#requests.i32
    const block = q[16 * r + UPLOADER]! * this.#nodes.stride
    const i32 = this.#nodes.i32
    i32[block + BACKLOG] = i32[block + BACKLOG]! - 1
    i32[block + BACKLOG_BYTES] = i32[block + BACKLOG_BYTES]! - this.#sizes[q[16 * r + INDEX]!]!
    q[16 * r + BITS] = q[16 * r + BITS]! & ~AT_UPLOADER
    q[16 * r + NEXT_QUEUED] = 0
    this.#host.released(r)
  }

  /** Take a queued request out of its session's queue. */
  #unqueue (r: number): void {
    const q = this.#requests.i32
    const sessions = this.#sessions
    const s = 4 * q[16 * r + UPLOADER_SLOT]!
    let before = 0
    let at = sessions[s + HEAD]!
    while (at !== 0 && at !== r) { before = at; at = q[16 * at + NEXT_QUEUED]! }
    if (at === 0) return
    const next = q[16 * r + NEXT_QUEUED]!
    if (before === 0) sessions[s + HEAD] = next
    else q[16 * before + NEXT_QUEUED] = next
    if (sessions[s + TAIL] === r) sessions[s + TAIL] = before
  }

  #removeActive (block: number, j: number): void {
    const { i32, f64 } = this.#nodes
    const last = --i32[block + UP_COUNT]!
    const remaining = block / 2 + this.#nodes.remaining
    i32[block + ACTIVE + j] = i32[block + ACTIVE + last]!
    f64[remaining + j] = f64[remaining + last]!
    i32[block + ACTIVE + last] = 0
  }

  /** Session `s` (its offset in `sessions`) joins the end of `uploader`'s line for a slot. */
  #wait (uploader: number, s: number): void {
    const sessions = this.#sessions
    const i32 = this.#nodes.i32
    const block = uploader * this.#nodes.stride
    sessions[s + STATE] = WAITING
    sessions[s + NEXT_WAITING] = -1
    const tail = i32[block + WAIT_TAIL]!
    if (tail < 0) i32[block + WAIT_HEAD] = s
    else sessions[tail + NEXT_WAITING] = s
    i32[block + WAIT_TAIL] = s
  }

  /** A session's chunk is done: it lines up again if it has more, else goes idle. */
  #release (uploader: number, s: number): void {
    if (this.#sessions[s + HEAD] !== 0) this.#wait(uploader, s)
    else this.#sessions[s + STATE] = IDLE
  }

  /** Give free slots to waiting sessions, in turn. */
  #fill (uploader: number): void {
    const slots = this.#slots
    const i32 = this.#nodes.i32
    const block = uploader * this.#nodes.stride
    if (i32[block + UP_COUNT]! >= slots || i32[block + WAIT_HEAD]! < 0) return
    this.#advance(uploader)
    const sessions = this.#sessions
    const q = this.#requests.i32
    let changed = false
    while (i32[block + UP_COUNT]! < slots) {
      const s = i32[block + WAIT_HEAD]!
      if (s < 0) break
      const next = sessions[s + NEXT_WAITING]!
      i32[block + WAIT_HEAD] = next
      if (next < 0) i32[block + WAIT_TAIL] = -1
      const r = sessions[s + HEAD]!
      if (r === 0) { sessions[s + STATE] = IDLE; continue }
      const after = q[16 * r + NEXT_QUEUED]!
      sessions[s + HEAD] = after
      if (after === 0) sessions[s + TAIL] = 0
      q[16 * r + NEXT_QUEUED] = 0
      sessions[s + STATE] = SENDING
      this.#host.started(r)
      if (this.#arriving) q[16 * r + BITS] = q[16 * r + BITS]! | DIRECT
      else q[16 * r + BITS] = q[16 * r + BITS]! & ~DIRECT
      const j = i32[block + UP_COUNT]!++
      i32[block + ACTIVE + j] = r
      this.#nodes.f64[block / 2 + this.#nodes.remaining + j] = this.#sizes[q[16 * r + INDEX]!]!
      changed = true
    }
    if (changed) this.#reschedule(uploader)
  }

  /** Bring the active transfers' remaining bytes up to now. */
  #advance (uploader: number): void {
    const { i32, f64, stride } = this.#nodes
    const block = uploader * stride
    const now = this.#host.now
    const count = i32[block + UP_COUNT]!
    if (count > 0) {
      const sent = (now - f64[block / 2 + LAST_UPDATE]!) * f64[block / 2 + RATE]! / 1000 / count
      const remaining = block / 2 + this.#nodes.remaining
      for (let j = 0; j < count; j++) f64[remaining + j] = f64[remaining + j]! - sent
    }
    f64[block / 2 + LAST_UPDATE] = now
  }

  /** The uploader's timer: when the transfer with the fewest bytes left ends at the shared rate. */
  #reschedule (uploader: number): void {
    const { i32, f64, stride } = this.#nodes
    const block = uploader * stride
    const count = i32[block + UP_COUNT]!
    if (count === 0) { this.#timers.remove(uploader); return }
    const remaining = block / 2 + this.#nodes.remaining
    let least = Infinity
    for (let j = 0; j < count; j++) least = Math.min(least, f64[remaining + j]!)
    this.#timers.set(uploader, this.#host.now + Math.max(0, least) * count * 1000 / f64[block / 2 + RATE]!)
  }
}
