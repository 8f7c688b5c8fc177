/**
 * Work to do, synchronously, when the process exits: one `exit` listener for
 * every agent in the process (a bench runs hundreds in one, and a listener
 * each set off Node's leak warning past ten).
 */
const hooks = new Set<() => void>()

function runAll (): void {
  for (const hook of hooks) hook()
}

/** Run `hook` when the process exits, until the returned function is called. */
export function onProcessExit (hook: () => void): () => void {
  if (hooks.size === 0) process.on('exit', runAll)
  hooks.add(hook)
  return () => {
    if (!hooks.delete(hook)) return
    if (hooks.size === 0) process.off('exit', runAll)
  }
}
