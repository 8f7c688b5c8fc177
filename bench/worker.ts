/**
 * Worker process of `bench fetch --workers W`: runs one {@link LocalGroup}
 * of fetchers and answers the parent's calls over IPC (see remote.ts, ipc.ts).
 */
import { cpuSecondsNow, peakRssNow } from './common.ts'
import { LocalGroup, type GroupConfig, type GroupReport } from './group.ts'
import { sendEvent, serveCalls } from './ipc.ts'

let group: LocalGroup | undefined
let fetchCpuStart = 0
let progressTimer: ReturnType<typeof setInterval> | undefined

function need (): LocalGroup {
  if (group === undefined) throw new Error('worker group not started')
  return group
}

async function finish (cid: string): Promise<GroupReport> {
  clearInterval(progressTimer)
  const fetchCpuSeconds = cpuSecondsNow() - fetchCpuStart
  const report = await need().finish(cid)
  return { ...report, usage: { cpuSeconds: cpuSecondsNow(), fetchCpuSeconds, peakRssBytes: peakRssNow() } }
}

async function shutdown (): Promise<void> {
  clearInterval(progressTimer)
  await group?.stop()
  group = undefined
}

serveCalls({
  async start (config: GroupConfig) {
    group = await LocalGroup.start(config, done => { sendEvent('done', done) })
    return group.addresses
  },
  async connect (all: string[]) { return await need().connect(all) },
  async fetch (cid: string, t0: number) {
    fetchCpuStart = cpuSecondsNow()
    progressTimer = setInterval(() => { sendEvent('progress', need().progress()) }, 250)
    return await need().fetch(cid, t0)
  },
  finish,
  async stop () { await shutdown() }
}, shutdown)
