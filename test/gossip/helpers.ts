/** Event-driven waiting for the gossip network tests. */
import type { ExecutionContext } from 'ava'
import { createSwarmNode, type SwarmNode, type SwarmNodeOptions } from '../../src/node/index.ts'

const LOOPBACK: SwarmNodeOptions = { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false }

/** Start a loopback node (no mDNS) that is stopped when the test ends. */
export async function startNode (t: ExecutionContext): Promise<SwarmNode> {
  const node = await createSwarmNode(LOOPBACK)
  t.teardown(async () => { await node.stop() })
  return node
}

/** Something to listen to: `add(listener)` returns a function that removes it. */
export type Source = (notify: () => void) => () => void

/** A {@link Source} of one event type on several event targets. */
export function on (targets: readonly EventTarget[], type: string): Source {
  return notify => {
    for (const target of targets) target.addEventListener(type, notify)
    return () => { for (const target of targets) target.removeEventListener(type, notify) }
  }
}

/**
 * Resolves when `check()` holds, re-checking whenever a source fires;
 * rejects after `timeoutMs`.
 */
export async function until (sources: readonly Source[], check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  if (check()) return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { stop(); reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)) }, timeoutMs)
    const removers = sources.map(source => source(() => {
      if (!check()) return
      stop()
      resolve()
    }))
    function stop (): void {
      clearTimeout(timer)
      for (const remove of removers) remove()
    }
  })
}

/**
 * Run `attempt` now and then every `intervalMs` until `done` resolves (a
 * gossipsub mesh takes a heartbeat or two to form, so one publish may miss).
 * Resolves with the number of attempts; a failed attempt fails the test.
 */
export async function retryUntil (attempt: () => Promise<unknown>, done: Promise<void>, intervalMs = 1000): Promise<number> {
  let attempts = 0
  let failure: unknown
  const run = (): void => {
    attempts++
    attempt().catch(err => { failure ??= err })
  }
  run()
  const timer = setInterval(run, intervalMs)
  try {
    await done
  } finally {
    clearInterval(timer)
  }
  if (failure !== undefined) throw failure
  return attempts
}
