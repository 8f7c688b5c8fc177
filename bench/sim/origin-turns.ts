/**
 * The origin's turns in the simulator: the agents' own `Unchoker` over the
 * origin's links, each turn's chunks reserved in the origin's `Share` as
 * the exchange's server sessions reserve them.
 * A fetcher sees a change of turn at once (the real one hears it in a
 * HAVE_MAP one latency later, and acts on it at its next tick at most
 * 200 ms later, as here).
 */
import { Unchoker, type Chokeable } from '../../src/chunks/unchoke.ts'
import type { Share } from '../../src/chunks/share.ts'

/** What the turns need to know of the origin and its sessions. */
export interface OriginTurnsOptions {
  /** The origin's first slot in the topology, and how many links it has. */
  readonly first: number
  readonly degree: number
  readonly chunks: number
  /** `originUnchokeSlots`, `originTurnChunks`, `originTurnIdleMs`. */
  readonly slots: number
  readonly turnChunks: number
  readonly idleMs: number
  /** How often idle turns are looked for (the exchange's 1 s). */
  readonly checkMs: number
  readonly now: () => number
  /** What the origin sent (its holds) and the chunks reserved for turns. */
  readonly origin: Share
  /** Whether the origin's session on `slot` has requests queued or being sent. */
  readonly busy: (slot: number) => boolean
}

/** See the module. */
export class OriginTurns {
  readonly #o: OriginTurnsOptions
  readonly #unchoker: Unchoker
  readonly #sessions: Chokeable[]
  readonly #choked: Uint8Array
  /** Per link, the chunks it is shown (1) while its turn has some reserved; `k` bytes per link. */
  readonly #shown: Uint8Array
  readonly #offered: Array<number[] | undefined>
  #nextCheck: number

  constructor (o: OriginTurnsOptions) {
    this.#o = o
    this.#unchoker = new Unchoker({ slots: o.slots, turnChunks: o.turnChunks, idleMs: o.idleMs, checkMs: Infinity, now: o.now })
    this.#choked = new Uint8Array(o.degree)
    this.#shown = new Uint8Array(o.degree * o.chunks)
    this.#offered = new Array(o.degree).fill(undefined)
    this.#nextCheck = o.checkMs
    this.#sessions = Array.from({ length: o.degree }, (_, i) => ({
      setChoked: (choked: boolean) => { this.#setChoked(i, choked) },
      get busy () { return o.busy(o.first + i) }
    }))
    for (let i = 0; i < o.degree; i++) {
      this.#choked[i] = this.#unchoker.join(this.#sessions[i]!) ? 1 : 0
      if (this.#choked[i] === 0) this.#beginTurn(i)
    }
  }

  /** Whether the link at the origin's `slot` is choked. */
  choked (slot: number): boolean { return this.#choked[slot - this.#o.first] === 1 }

  /** The chunks the link at the origin's `slot` is shown, one byte each; undefined: all the origin holds. */
  shown (slot: number): Uint8Array | undefined {
    const i = slot - this.#o.first
    if (this.#offered[i] === undefined || this.#choked[i] === 1) return undefined
    return this.#shown.subarray(i * this.#o.chunks, (i + 1) * this.#o.chunks)
  }

  /** A request on `slot` was accepted. */
  asked (slot: number): void { this.#unchoker.asked(this.#sessions[slot - this.#o.first]!) }

  /** A whole chunk went out on `slot`. */
  sent (slot: number): void { this.#unchoker.sent(this.#sessions[slot - this.#o.first]!) }

  /** Run the idle check when it is due (the exchange's timer, every `checkMs`). */
  check (): void {
    const now = this.#o.now()
    if (now < this.#nextCheck) return
    this.#nextCheck = now + this.#o.checkMs
    this.#unchoker.tick()
  }

  /** As `ServerSession.setChoked`. */
  #setChoked (i: number, choked: boolean): void {
    if (!choked && this.#choked[i] === 0 && this.#offered[i] === undefined && !this.#o.origin.firstPass) return
    this.#choked[i] = choked ? 1 : 0
    this.#endTurn(i)
    if (!choked) this.#beginTurn(i)
  }

  #beginTurn (i: number): void {
    const offered = this.#offered[i] = this.#o.origin.reserve(this.#o.turnChunks)
    if (offered === undefined) return
    for (const index of offered) this.#shown[i * this.#o.chunks + index] = 1
  }

  #endTurn (i: number): void {
    const offered = this.#offered[i]
    if (offered === undefined) return
    this.#o.origin.release(offered)
    for (const index of offered) this.#shown[i * this.#o.chunks + index] = 0
    this.#offered[i] = undefined
  }
}
