import { AbortError } from '../core/index.ts'

/** A counting semaphore with FIFO waiters and abortable acquisition. */
export class Semaphore {
  #free: number
  readonly #waiters: Array<() => void> = []

  constructor (permits: number) {
    this.#free = permits
  }

  /** Wait for a permit; call the returned function exactly once to give it back. */
  async acquire (signal?: AbortSignal): Promise<() => void> {
    if (this.#free > 0) {
      this.#free--
      return this.#releaser()
    }
    await new Promise<void>((resolve, reject) => {
      const grant = (): void => { signal?.removeEventListener('abort', onAbort); resolve() }
      const onAbort = (): void => {
        const at = this.#waiters.indexOf(grant)
        if (at >= 0) this.#waiters.splice(at, 1)
        reject(new AbortError('aborted while waiting for an upload slot'))
      }
      if (signal?.aborted === true) { onAbort(); return }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#waiters.push(grant)
    })
    return this.#releaser()
  }

  #releaser (): () => void {
    let released = false
    return () => {
      if (released) return
      released = true
      const next = this.#waiters.shift()
      if (next !== undefined) next()
      else this.#free++
    }
  }
}
