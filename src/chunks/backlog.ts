/**
 * Chunks a node has agreed to send and not yet sent, over all its sessions.
 * Beyond `limit` chunks, or once more than `maxBytes` wait ahead, requests
 * are declined at once: a fetcher that is turned away asks another holder
 * (or another chunk), while one that waits in a long queue cannot know that
 * the holder it picked is shared by the whole swarm (every fetcher asks the
 * first peer to announce a rare chunk).
 */
export class UploadBacklog {
  readonly limit: number
  /** Most chunk bytes queued ahead of a chunk it takes. */
  readonly maxBytes: number
  #queued = 0
  #bytes = 0

  constructor (limit: number, maxBytes = Infinity) {
    this.limit = limit
    this.maxBytes = maxBytes
  }

  get queued (): number { return this.#queued }
  get queuedBytes (): number { return this.#bytes }

  /** Whether a chunk finds no place. */
  refuses (): boolean {
    return backlogRefuses(this.#queued, this.#bytes, this.limit, this.maxBytes)
  }

  /** Take a place for a chunk of `bytes` (the caller checked it is not refused). */
  take (bytes: number): void {
    this.#queued++
    this.#bytes += bytes
  }

  /** Give back the place of a chunk of `bytes` (it was sent, cancelled or dropped). */
  give (bytes: number): void {
    this.#queued = Math.max(0, this.#queued - 1)
    this.#bytes = Math.max(0, this.#bytes - bytes)
  }
}

/**
 * The backlog's rule, for `queued` chunks of `queuedBytes` waiting: another
 * chunk is refused beyond `limit` chunks, or when more than `maxBytes` wait
 * ahead of it (the simulator applies it to its own counters). What waits
 * ahead, not the chunk's own size: a bound on the total kept a chunk larger
 * than the room left out for as long as the origin was busy, so its turns
 * gave the largest chunks back again and again and they left last, which
 * is when a chunk's size costs the most (see `Share.reserve`).
 */
export function backlogRefuses (queued: number, queuedBytes: number, limit: number, maxBytes: number): boolean {
  return queued >= limit || queuedBytes > maxBytes
}
