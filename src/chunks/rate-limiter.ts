import { AbortError } from '../core/index.ts'

/** Options of {@link createTokenBucket}. */
export interface TokenBucketOptions {
  /** Sustained rate in bytes per second; Infinity disables limiting. */
  bytesPerSecond: number
  /** Largest burst in bytes (see `TokenBucket.burstBytes`). @default a tenth of a second's worth, at least 4 KiB */
  burstBytes?: number
  /** Clock in milliseconds (injectable for tests). @default performance.now */
  now?: () => number
}

/** A token bucket that callers `take()` bytes from before sending them. */
export interface TokenBucket {
  readonly bytesPerSecond: number
  /** Largest burst in bytes (Infinity when unlimited): senders that split their data into pieces no larger keep the link's queue short. */
  readonly burstBytes: number
  /** Wait until `bytes` may be sent. Resolves at once when unlimited. */
  take (bytes: number, signal?: AbortSignal): Promise<void>
  /**
   * Count `bytes` that went out without waiting (the node's other traffic):
   * the bucket goes into debt, and what is taken next waits for it.
   */
  charge (bytes: number): void
  /** Bytes taken and charged so far. */
  readonly taken: number
}

/**
 * Token bucket with debt: a request larger than the burst is allowed at once
 * when the bucket is full and the bucket goes negative, so waits are exact on
 * average and no request is ever starved by its size. Waiters are served in
 * order (FIFO) so concurrent uploads share the rate fairly.
 */
export function createTokenBucket (options: TokenBucketOptions): TokenBucket {
  const rate = options.bytesPerSecond
  const now = options.now ?? (() => performance.now())
  const burst = options.burstBytes ?? Math.max(4 * 1024, rate / 10)
  let tokens = burst
  let last = now()
  let taken = 0
  let queue: Promise<void> = Promise.resolve()

  const refill = (): void => {
    const t = now()
    tokens = Math.min(burst, tokens + (t - last) * rate / 1000)
    last = t
  }

  const takeNow = async (bytes: number, signal?: AbortSignal): Promise<void> => {
    refill()
    if (tokens < 0) await delay((-tokens / rate) * 1000, signal)
    refill()
    tokens -= bytes
    taken += bytes
  }

  return {
    bytesPerSecond: rate,
    burstBytes: Number.isFinite(rate) ? burst : Infinity,
    get taken () { return taken },
    charge (bytes) {
      taken += bytes
      if (!Number.isFinite(rate)) return
      refill()
      tokens -= bytes
    },
    async take (bytes, signal) {
      if (!Number.isFinite(rate)) { taken += bytes; return }
      const turn = queue.then(async () => { await takeNow(bytes, signal) })
      queue = turn.catch(() => {})
      await turn
    }
  }
}

/** Sleep that rejects with AbortError when the signal aborts. */
export async function delay (ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted === true) throw new AbortError('aborted')
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => { clearTimeout(timer); reject(new AbortError('aborted')) }
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
