/**
 * Which transfer progress an agent reports: at most one report per
 * `intervalMs`, and only after the transfer advanced `stepShare` of the
 * package since the last one (see `AGENT_DEFAULTS.progressStepShare`).
 * Returns a function that says, for each progress event, whether to report it.
 */
export function progressGate (intervalMs: number, stepShare: number): (now: number, bytesDone: number, bytesTotal: number) => boolean {
  let last = -Infinity
  let lastBytes = 0
  return (now, bytesDone, bytesTotal) => {
    if (now - last < intervalMs || bytesDone - lastBytes < bytesTotal * stepShare) return false
    last = now
    lastBytes = bytesDone
    return true
  }
}
