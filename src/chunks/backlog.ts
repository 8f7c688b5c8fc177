/**
 * Chunks a node has agreed to send and not yet sent, over all its sessions.
 * Beyond `limit` chunks, or beyond `maxBytes` of them, requests are declined
 * at once: a fetcher that is turned away asks another holder (or another
 * chunk), while one that waits in a long queue cannot know that the holder
 * it picked is shared by the whole swarm (every fetcher asks the first peer
 * to announce a rare chunk).
 */
export class UploadBacklog {
  readonly limit: number
  /** Most chunk bytes queued at once; one chunk is always admitted when none is queued. */
  readonly maxBytes: number
  #queued = 0
  #bytes = 0

  constructor (limit: number, maxBytes = Infinity) {
    this.limit = limit
    this.maxBytes = maxBytes
  }

  get queued (): number { return this.#queued }
  get queuedBytes (): number { return this.#bytes }

  /** Whether a chunk of `bytes` finds no place. */
  refuses (bytes: number): boolean {
    return backlogRefuses(this.#queued, this.#bytes, bytes, this.limit, this.maxBytes)
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
 * The backlog's rule, for `queued` chunks of `queuedBytes` waiting: a chunk
 * of `bytes` is refused beyond `limit` chunks, or beyond `maxBytes` unless
 * nothing is queued (the simulator applies it to its own counters).
 */
export function backlogRefuses (queued: number, queuedBytes: number, bytes: number, limit: number, maxBytes: number): boolean {
  return queued >= limit || (queued > 0 && queuedBytes + bytes > maxBytes)
}
