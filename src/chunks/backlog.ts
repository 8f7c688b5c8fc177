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

  /** Whether every place is taken. */
  get full (): boolean { return this.#queued >= this.limit }

  /** Take a place (the caller checked it is not {@link full}). */
  take (): void {
    this.#queued++
  }

  /** Give `count` places back (the chunks were sent, cancelled or dropped). */
  give (count = 1): void {
    this.#queued = Math.max(0, this.#queued - count)
  }
}
