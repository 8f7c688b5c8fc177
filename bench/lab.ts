/**
 * A network lab of real hosts on this machine: one network namespace per
 * host, each joined by a veth pair to a bridge that lives in a namespace of
 * its own, its uplink shaped with `tc tbf`, plus a link from this (root)
 * namespace to the bridge so the bench can reach the manager's API. Root
 * only. Everything it creates is named after its prefix (`pl-*`, `plh0`…)
 * and removed by {@link Lab.destroy}, also after a crash of an earlier run.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { openSync } from 'node:fs'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** Names and addresses of one lab, so a test lab and a bench lab can coexist. */
export interface LabNaming {
  /** Prefix of namespace and link names (at most 4 characters). @default 'pl' */
  readonly prefix: string
  /** First two octets of the lab's /16; hosts are <subnet>.<i / 250>.<1 + i % 250>, this machine <subnet>.255.254. @default '10.77' */
  readonly subnet: string
}

const DEFAULT_NAMING: LabNaming = { prefix: 'pl', subnet: '10.77' }

/** One host of the lab. */
export interface LabHost {
  readonly name: string
  readonly ns: string
  readonly ip: string
}

/** The lab. */
export interface Lab {
  readonly hosts: LabHost[]
  /** Start `command args` inside a host's namespace. */
  spawnIn (host: LabHost, command: string, args: string[], options?: { env?: NodeJS.ProcessEnv, logFile?: string }): ChildProcess
  /** Bytes sent on a host's link so far (`tc`/`ip -s` counters). */
  txBytes (host: LabHost): Promise<number>
  destroy (): Promise<void>
}

/** Is this process allowed to build a lab (root, iproute2 present)? A reason when not. */
export async function labUnavailable (): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'the netns lab needs root (network namespaces, veth, tc)'
  try {
    await run('ip', ['-V'])
    await run('tc', ['-V'])
  } catch {
    return 'the netns lab needs iproute2 (ip, tc)'
  }
  return undefined
}

async function ip (...args: string[]): Promise<void> {
  await run('ip', args)
}

async function inNs (ns: string, ...args: string[]): Promise<void> {
  await run('ip', ['netns', 'exec', ns, ...args])
}

/** Remove whatever an earlier lab of this naming left behind. */
export async function cleanLab (naming: LabNaming = DEFAULT_NAMING): Promise<void> {
  const { stdout } = await run('ip', ['netns', 'list']).catch(() => ({ stdout: '' }))
  for (const line of stdout.split('\n')) {
    const name = line.split(' ')[0]
    if (name?.startsWith(`${naming.prefix}-`) === true) await ip('netns', 'del', name).catch(() => {})
  }
  await ip('link', 'del', `${naming.prefix}h0`).catch(() => {})
}

/**
 * Build a lab of `count` hosts on one bridge, host `i`'s uplink capped at
 * `rates[i]` bytes/s (Infinity: not shaped).
 */
export async function createLab (count: number, rates: readonly number[], naming: LabNaming = DEFAULT_NAMING): Promise<Lab> {
  await cleanLab(naming)
  const { prefix, subnet } = naming
  const bridgeNs = `${prefix}-br`
  const hostLink = `${prefix}h0`
  const hosts: LabHost[] = Array.from({ length: count }, (_, i) => ({ name: `h${i}`, ns: `${prefix}-${i}`, ip: `${subnet}.${Math.floor(i / 250)}.${1 + (i % 250)}` }))
  const children = new Set<ChildProcess>()
  const lab: Lab = {
    hosts,
    spawnIn (host, command, args, options = {}) {
      // stderr (logs) is dropped unless asked for: an unread pipe would block the child once full.
      const stderr = options.logFile == null ? 'ignore' : openSync(options.logFile, 'a')
      const child = spawn('ip', ['netns', 'exec', host.ns, command, ...args], { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', stderr] })
      children.add(child)
      child.once('exit', () => { children.delete(child) })
      return child
    },
    async txBytes (host) {
      const { stdout } = await run('ip', ['netns', 'exec', host.ns, 'cat', '/sys/class/net/eth0/statistics/tx_bytes'])
      return Number(stdout.trim())
    },
    async destroy () {
      // SIGTERM first: an agent stops the programs it supervises (they run in their own process
      // groups and would outlive a SIGKILLed agent); SIGKILL whatever is left after 15 s.
      const exits = [...children].map(async child => { await new Promise(resolve => child.once('exit', resolve)) })
      for (const child of children) child.kill('SIGTERM')
      const timer = setTimeout(() => { for (const child of children) child.kill('SIGKILL') }, 15_000)
      await Promise.all(exits)
      clearTimeout(timer)
      await cleanLab(naming)
    }
  }
  try {
    await ip('netns', 'add', bridgeNs)
    await inNs(bridgeNs, 'ip', 'link', 'add', 'br0', 'type', 'bridge')
    await inNs(bridgeNs, 'ip', 'link', 'set', 'br0', 'up')
    await inNs(bridgeNs, 'ip', 'link', 'set', 'lo', 'up')
    for (const [i, host] of hosts.entries()) await addHost(host, `${prefix}v${i}`, bridgeNs, rates[i] ?? Infinity)
    await ip('link', 'add', hostLink, 'type', 'veth', 'peer', 'name', `${prefix}hb`)
    await ip('link', 'set', `${prefix}hb`, 'netns', bridgeNs)
    await inNs(bridgeNs, 'ip', 'link', 'set', `${prefix}hb`, 'master', 'br0')
    await inNs(bridgeNs, 'ip', 'link', 'set', `${prefix}hb`, 'up')
    await ip('addr', 'add', `${subnet}.255.254/16`, 'dev', hostLink)
    await ip('link', 'set', hostLink, 'up')
  } catch (err) {
    await lab.destroy()
    throw err
  }
  return lab
}

async function addHost (host: LabHost, link: string, bridgeNs: string, rate: number): Promise<void> {
  await ip('netns', 'add', host.ns)
  await ip('link', 'add', `${link}a`, 'type', 'veth', 'peer', 'name', `${link}b`)
  await ip('link', 'set', `${link}a`, 'netns', host.ns)
  await ip('link', 'set', `${link}b`, 'netns', bridgeNs)
  await inNs(bridgeNs, 'ip', 'link', 'set', `${link}b`, 'master', 'br0')
  await inNs(bridgeNs, 'ip', 'link', 'set', `${link}b`, 'up')
  await inNs(host.ns, 'ip', 'link', 'set', `${link}a`, 'name', 'eth0')
  await inNs(host.ns, 'ip', 'addr', 'add', `${host.ip}/16`, 'dev', 'eth0')
  await inNs(host.ns, 'ip', 'link', 'set', 'eth0', 'up')
  await inNs(host.ns, 'ip', 'link', 'set', 'lo', 'up')
  // mDNS multicast has to find a route.
  await inNs(host.ns, 'ip', 'route', 'add', '224.0.0.0/4', 'dev', 'eth0')
  if (Number.isFinite(rate)) {
    const bits = Math.round(rate * 8)
    const burst = Math.max(32 * 1024, Math.round(rate / 50))
    await inNs(host.ns, 'tc', 'qdisc', 'add', 'dev', 'eth0', 'root', 'tbf', 'rate', `${bits}bit`, 'burst', String(burst), 'latency', '200ms')
  }
}
