import test from 'ava'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { createLab, labUnavailable, limitUnsent, setQueue, setRtoMin, shaperCounts, type LabHost } from '../../bench/lab.ts'

const run = promisify(execFile)
const why = await labUnavailable()
const labTest = why == null ? test : test.skip
const MiB = 1024 * 1024

const inHost = async (host: LabHost, ...cmd: string[]): Promise<string> => (await run('ip', ['netns', 'exec', host.ns, ...cmd])).stdout

labTest(`the bench's host settings: shaper queue, unsent limit, least RTO, shaper counters, niceness${why == null ? '' : ` (skipped: ${why})`}`, async t => {
  const lab = await createLab(2, [MiB, MiB], { prefix: 'pq', subnet: '10.82' })
  t.teardown(async () => { await lab.destroy() })
  const [a, b] = lab.hosts as [LabHost, LabHost]

  t.regex(await inHost(a, 'tc', 'qdisc', 'show', 'dev', 'eth0'), /tbf .*lat 200ms/)
  await setQueue(a, MiB, 1000)
  t.regex(await inHost(a, 'tc', 'qdisc', 'show', 'dev', 'eth0'), /tbf .*lat 1s/)
  t.regex(await inHost(b, 'tc', 'qdisc', 'show', 'dev', 'eth0'), /tbf .*lat 200ms/, 'only the host named changes')

  const before = await inHost(a, 'sysctl', '-n', 'net.ipv4.tcp_notsent_lowat')
  await limitUnsent(b, 16384)
  t.is((await inHost(b, 'sysctl', '-n', 'net.ipv4.tcp_notsent_lowat')).trim(), '16384')
  t.is(await inHost(a, 'sysctl', '-n', 'net.ipv4.tcp_notsent_lowat'), before, 'a sysctl of the host\'s own namespace')
  await setRtoMin(b, 1500)
  t.is((await inHost(b, 'sysctl', '-n', 'net.ipv4.tcp_rto_min_us')).trim(), '1500000')
  t.regex(await inHost(a, 'tc', 'qdisc', 'show', 'dev', 'eth0'), /tbf .*burst 20\d{3}b|tbf .*burst 20Kb/, 'a 1 MiB/s link bursts 20 ms')

  const sent = (await shaperCounts(a)).sent
  await inHost(a, 'bash', '-c', `for i in 1 2 3; do echo probe > /dev/udp/${b.ip}/9; done`)
  const after = await shaperCounts(a)
  t.true(after.sent >= sent + 3, `the tbf counted the datagrams (${sent} → ${after.sent})`)
  t.is(after.dropped, 0)

  // `ip netns exec` and `nice` exec in turn: the spawned pid ends up as the command itself.
  const child = lab.spawnIn(b, 'sleep', ['30'], { nice: 10 })
  t.teardown(() => { child.kill('SIGKILL') })
  let comm = ''
  for (let i = 0; i < 100 && comm !== 'sleep'; i++) {
    await new Promise(resolve => setTimeout(resolve, 50))
    comm = (await run('ps', ['-o', 'comm=', '-p', String(child.pid)]).catch(() => ({ stdout: '' }))).stdout.trim()
  }
  t.is(comm, 'sleep')
  t.is((await run('ps', ['-o', 'ni=', '-p', String(child.pid)])).stdout.trim(), '10')
})
