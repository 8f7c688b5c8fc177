/**
 * Worker process of `bench fetch --workers W`: runs one {@link LocalGroup}
 * of fetchers and answers the parent's calls over IPC (see remote.ts).
 */
import { cpuSecondsNow, peakRssNow } from './common.ts'
import { LocalGroup, type GroupConfig, type GroupReport } from './group.ts'
import type { WorkerCall, WorkerMessage } from './remote.ts'

let group: LocalGroup | undefined
let fetchCpuStart = 0
let progressTimer: ReturnType<typeof setInterval> | undefined

function send (message: WorkerMessage): void {
  process.send?.(message)
}

async function handle (call: WorkerCall): Promise<unknown> {
  switch (call.method) {
    case 'start':
      group = await LocalGroup.start(call.args[0] as GroupConfig, done => { send({ event: 'done', done }) })
      return group.addresses
    case 'connect':
      return await need().connect(call.args[0] as string[])
    case 'fetch':
      fetchCpuStart = cpuSecondsNow()
      progressTimer = setInterval(() => { send({ event: 'progress', progress: need().progress() }) }, 250)
      return await need().fetch(call.args[0] as string, call.args[1] as number)
    case 'finish':
      return await finish(call.args[0] as string)
    case 'stop':
      await shutdown()
      return undefined
  }
}

async function finish (cid: string): Promise<GroupReport> {
  clearInterval(progressTimer)
  const fetchCpuSeconds = cpuSecondsNow() - fetchCpuStart
  const report = await need().finish(cid)
  return { ...report, usage: { cpuSeconds: cpuSecondsNow(), fetchCpuSeconds, peakRssBytes: peakRssNow() } }
}

function need (): LocalGroup {
  if (group === undefined) throw new Error('worker group not started')
  return group
}

async function shutdown (): Promise<void> {
  clearInterval(progressTimer)
  await group?.stop()
  group = undefined
}

process.on('message', (call: WorkerCall) => {
  handle(call).then(
    result => { send({ id: call.id, result }) },
    (err: Error) => { send({ id: call.id, error: `${err.name}: ${err.message}` }) }
  )
})
process.on('disconnect', () => { void shutdown().finally(() => process.exit(0)) })
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { void shutdown().finally(() => process.exit(130)) })
}
