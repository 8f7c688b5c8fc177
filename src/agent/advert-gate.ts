/**
 * Whether an advert is due: not when another report (an acknowledgement,
 * progress, logs) went out within the last `gapMs`, which refreshed the
 * manager's view of the agent as well, unless `maxSkipped` adverts in a row
 * were skipped already (see `AGENT_RUN_DEFAULTS.maxSkippedAdverts`).
 * Returns a function to call at each advert tick.
 */
export function advertGate (maxSkipped: number): (now: number, lastReportAt: number, gapMs: number) => boolean {
  let skipped = 0
  return (now, lastReportAt, gapMs) => {
    if (now - lastReportAt < gapMs && skipped < maxSkipped) {
      skipped++
      return false
    }
    skipped = 0
    return true
  }
}
