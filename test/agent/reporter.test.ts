import test from 'ava'
import type { StatusBody } from '../../src/core/index.ts'
import type { SwarmGossip } from '../../src/gossip/index.ts'
import { createReporter } from '../../src/agent/reporter.ts'

/** A reporter whose gossip reaches `recipients()` peers, on a clock the test sets. */
function reporterWith (recipients: () => number): { reporter: ReturnType<typeof createReporter>, published: StatusBody[], clock: { now: number } } {
  const published: StatusBody[] = []
  const clock = { now: 1_000 }
  const gossip = {
    publishStatus: async (body: StatusBody) => {
      published.push(body)
      return { recipients: Array.from({ length: recipients() }, () => ({})) }
    }
  } as unknown as SwarmGossip
  const reporter = createReporter({ gossip, targetId: () => 'dev-1', maxLogLines: 10, linesPerMessage: 10, liveFlushMs: 50, clock: () => clock.now, onError: () => {} })
  return { reporter, published, clock }
}

/** Let the reporter's publish (started without awaiting) settle. */
async function settled (): Promise<void> {
  await new Promise(resolve => setImmediate(resolve))
}

test('lastReportAt: the last acknowledgement that reached a peer; adverts and unheard reports do not count', async t => {
  let peers = 1
  const { reporter, published, clock } = reporterWith(() => peers)
  t.is(reporter.lastReportAt(), -Infinity)

  reporter.ack('task-1', 'transfer', 'STARTED')
  await settled()
  t.is(reporter.lastReportAt(), 1_000)

  clock.now = 2_000
  await reporter.advertise({ tags: [], addresses: [], platform: { os: 'linux', arch: 'x64' }, freeDiskBytes: 1, version: '0' })
  t.is(published.at(-1)?.kind, 'advert')
  t.is(reporter.lastReportAt(), 1_000, 'an advert is not a report')

  peers = 0
  clock.now = 3_000
  reporter.ack('task-1', 'transfer', 'SUCCESS')
  await settled()
  t.is(published.length, 3)
  t.is(reporter.lastReportAt(), 1_000, 'a report no peer received does not count')
})
