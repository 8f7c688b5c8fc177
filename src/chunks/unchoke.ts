/** How often the origin looks for served fetchers that went idle. */
export const UNCHOKE_CHECK_MS = 1_000

/** One fetcher's session with the origin, as the {@link Unchoker} sees it. */
export interface Chokeable {
  /**
   * Tell the fetcher whether it may ask for chunks (a HAVE_MAP with or
   * without the choke flag); `false` to a served fetcher starts a new turn.
   */
  setChoked: (choked: boolean) => void
  /** Whether requests of this fetcher are queued or being sent. */
  readonly busy: boolean
}

/** How the origin takes turns among its fetchers. */
export interface UnchokeOptions {
  /** Fetchers served at once. */
  readonly slots: number
  /** Chunks sent to a fetcher before the longest-waiting one takes its place. */
  readonly turnChunks: number
  /** A served fetcher that asks for nothing this long gives its place up. */
  readonly idleMs: number
  /** How often idle fetchers are looked for, in ms (Infinity: no timer; the owner calls `tick()`, as the simulator does). */
  readonly checkMs: number
  /** Clock in ms (injectable for tests). */
  readonly now?: () => number
}

interface Turn {
  chunks: number
  lastActive: number
}

/**
 * The origin serves a few fetchers at a time and the others in turn
 * (BitTorrent's unchoke, with turns of a few chunks as in super-seeding).
 * A slow uplink shared by every fetcher at once carried data on as many TCP
 * connections, each with a window in flight: at N = 50 on a 16 KiB/s link
 * the windows outgrew the link's queue, a third of the packets were dropped,
 * and the resends left less than the pace for new data (bench/RESULTS.md).
 * With few fetchers served, few connections carry data, their windows fit,
 * and a connection whose socket backs up holds up the origin's writes
 * instead of another connection taking them. The waiting fetchers ask their
 * neighbours meanwhile, for the chunks the served ones spread.
 */
export class Unchoker {
  readonly #opts: UnchokeOptions
  readonly #now: () => number
  readonly #served = new Map<Chokeable, Turn>()
  /** In the order they started waiting. */
  readonly #waiting = new Set<Chokeable>()
  #timer: ReturnType<typeof setInterval> | undefined

  constructor (opts: UnchokeOptions) {
    this.#opts = opts
    this.#now = opts.now ?? (() => performance.now())
  }

  /** Chunks a fetcher is sent in one turn. */
  get turnChunks (): number { return this.#opts.turnChunks }
  /** Fetchers served now. */
  get served (): number { return this.#served.size }
  /** Fetchers waiting for a turn. */
  get waiting (): number { return this.#waiting.size }

  /** A new session: returns whether it is choked (it waits for a turn). */
  join (session: Chokeable): boolean {
    if (this.#served.size < this.#opts.slots) {
      this.#serve(session)
      return false
    }
    this.#wait(session)
    return true
  }

  /** A session ended: its place goes to the longest-waiting one. */
  leave (session: Chokeable): void {
    this.#waiting.delete(session)
    if (this.#served.delete(session)) this.#fill()
    this.#checkTimer()
  }

  /** Whether `session` may be sent chunks now. */
  serves (session: Chokeable): boolean {
    return this.#served.has(session)
  }

  /** A request of `session` was accepted. */
  asked (session: Chokeable): void {
    const turn = this.#served.get(session)
    if (turn !== undefined) turn.lastActive = this.#now()
  }

  /** A whole chunk went to `session`; its turn ends after `turnChunks`. */
  sent (session: Chokeable): void {
    const turn = this.#served.get(session)
    if (turn === undefined) return
    turn.chunks++
    turn.lastActive = this.#now()
    if (turn.chunks >= this.#opts.turnChunks) this.#endTurn(session)
  }

  /**
   * End the turns of served fetchers idle for `idleMs`: their places go to
   * waiting ones, or, with nobody waiting, they start a new turn (the timer
   * calls it every `checkMs`).
   */
  tick (): void {
    const now = this.#now()
    for (const [session, turn] of [...this.#served]) {
      if (!session.busy && now - turn.lastActive >= this.#opts.idleMs) this.#endTurn(session)
    }
  }

  /** Forget every session and stop the timer. */
  stop (): void {
    this.#served.clear()
    this.#waiting.clear()
    this.#checkTimer()
  }

  #endTurn (session: Chokeable): void {
    if (this.#waiting.size === 0) {
      // Nobody waits: a new turn (the origin has more to offer it).
      this.#serve(session)
      session.setChoked(false)
      return
    }
    this.#served.delete(session)
    this.#wait(session)
    session.setChoked(true)
    this.#fill()
  }

  #fill (): void {
    while (this.#served.size < this.#opts.slots) {
      const next: Chokeable | undefined = this.#waiting.values().next().value
      if (next === undefined) return
      this.#waiting.delete(next)
      this.#serve(next)
      next.setChoked(false)
    }
    this.#checkTimer()
  }

  #serve (session: Chokeable): void {
    this.#served.set(session, { chunks: 0, lastActive: this.#now() })
    this.#checkTimer()
  }

  #wait (session: Chokeable): void {
    this.#waiting.add(session)
    this.#checkTimer()
  }

  /** The timer runs while anyone is served or waits. */
  #checkTimer (): void {
    if (!Number.isFinite(this.#opts.checkMs)) return
    const needed = this.#waiting.size + this.#served.size > 0
    if (needed && this.#timer === undefined) {
      this.#timer = setInterval(() => { this.tick() }, this.#opts.checkMs)
      this.#timer.unref?.()
    } else if (!needed && this.#timer !== undefined) {
      clearInterval(this.#timer)
      this.#timer = undefined
    }
  }
}
