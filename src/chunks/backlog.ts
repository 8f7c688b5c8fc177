/**
 * Chunks a node has agreed to send and not yet sent, over all its sessions.
 * Beyond `limit`, requests are declined at once: a fetcher that is turned
 * away asks another holder (or another chunk), while one that waits in a
 * long queue cannot know that the holder it picked is shared by the whole
 * swarm (every fetcher asks the first peer to announce a rare chunk).
 */
export class UploadBacklog {
  readonly limit: number
  #queued = 0

  constructor (limit: number) {
    this.limit = limit
  }

  get queued (): number { return this.#queued }

  /** Take a place in the backlog; false when it is full. */
  tryTake (): boolean {
    if (this.#queued >= this.limit) return false
    this.#queued++
    return true
  }

  /** Give a place back (the chunk was sent, cancelled or dropped). */
  give (): void {
    if (this.#queued > 0) this.#queued--
  }
}
