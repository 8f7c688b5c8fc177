/**
 * A network lab of real hosts on this machine: one network namespace per
 * host, each joined by a veth pair to a bridge that lives in a namespace of
 * its own, its uplink shaped with `tc tbf`, plus a link from this (root)
 * namespace to the bridge so the bench can reach the manager's API. Root
 * only. Everything it creates is named after its prefix (`pl-*`, `plh0`…)
 * and removed by {@link Lab.destroy}, also after a crash of an earlier run.
 *
 * Two topologies: {@link createLab} puts every host on one bridge (`lan`);
 * {@link createSitesLab} builds sites, one bridge each, joined by a router
 * namespace whose link to each device site (the WAN) is shaped on its own.
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
  /** Site of the host in a sites lab (0: the manager's site); 0 in a `lan` lab. */
  readonly site?: number
}

/** The lab. */
export interface Lab {
  readonly hosts: LabHost[]
  /** Run `command` in `host`'s namespace; `nice` lowers its CPU priority (a niceness, 0-19). */
  spawnIn (host: LabHost, command: string, args: string[], options?: { env?: NodeJS.ProcessEnv, logFile?: string, nice?: number }): ChildProcess
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
 * Make room in the kernel's ARP table for a lab whose links join groups of
 * `sizes` hosts (each host may learn every other of its group). The table
 * is shared by every network namespace and holds 1,024 entries by default
 * (`gc_thresh3`): 51 hosts on one bridge
 * need about 2,600, and beyond the limit the kernel creates no new entry
 * ("neighbor table overflow"), so connections between hosts and from the
 * bench fail at random. Only ever raises the limits (they are the
 * machine's, and shared with any other lab running).
 */
export async function makeNeighbourRoom (sizes: readonly number[]): Promise<void> {
  const needed = 2 * sizes.reduce((sum, n) => sum + n * n, 0)
  const limits = ['gc_thresh1', 'gc_thresh2', 'gc_thresh3'] as const
  const wanted = { gc_thresh1: needed / 4, gc_thresh2: needed / 2, gc_thresh3: needed }
  for (const name of limits) {
    const key = `net.ipv4.neigh.default.${name}`
    const { stdout } = await run('sysctl', ['-n', key])
    if (Number(stdout.trim()) < wanted[name]) await run('sysctl', ['-qw', `${key}=${Math.ceil(wanted[name])}`])
  }
}

/**
 * Build a lab of `count` hosts on one bridge, host `i`'s uplink capped at
 * `rates[i]` bytes/s (Infinity: not shaped).
 */
export async function createLab (count: number, rates: readonly number[], naming: LabNaming = DEFAULT_NAMING): Promise<Lab> {
  await cleanLab(naming)
  await makeNeighbourRoom([count + 1])
  const { prefix, subnet } = naming
  const hosts: LabHost[] = Array.from({ length: count }, (_, i) => ({ name: `h${i}`, ns: `${prefix}-${i}`, ip: `${subnet}.${Math.floor(i / 250)}.${1 + (i % 250)}`, site: 0 }))
  const lab = labOf(hosts, naming)
  try {
    await addBridgeNs(`${prefix}-br`, 1)
    for (const [i, host] of hosts.entries()) await addHost(host, `${prefix}v${i}`, { ns: `${prefix}-br`, bridge: 'br0', mask: 16, bench: `${subnet}.255.254` }, rates[i] ?? Infinity)
    await addThisMachine(naming, 'br0', `${subnet}.255.254/16`)
  } catch (err) {
    await lab.destroy()
    throw err
  }
  return lab
}

/** Shape of a sites lab. */
export interface SitesLayout {
  /** Hosts per site; site 0 is the manager's site, the others are device sites behind the WAN. */
  readonly hostsPerSite: readonly number[]
  /** Uplink cap of every host, by site and index within the site (Infinity: not shaped). */
  readonly rate: (site: number, index: number) => number
  /** Cap of each device site's link to the router, each way (bytes/s). */
  readonly wanRate: number
}

/** A sites lab: hosts in site order (site 0 first), and the router's WAN counters. */
export interface SitesLab extends Lab {
  /** The router's namespace. */
  readonly router: string
  /** Bytes the router sent into the device sites (`into`) and received from them (`outOf`), over all their WAN links. */
  wanBytes (): Promise<{ into: number, outOf: number }>
}

/**
 * Build sites of hosts, each site on its own bridge and /24
 * (`<subnet>.<site>.<1 + i>`), joined by a router namespace at
 * `<subnet>.<site>.254` of every site. Each device site's link to the router
 * is shaped to `wanRate` both ways; the manager site's is not. Multicast
 * (mDNS) stays inside a site. This machine is on site 0 at
 * `<subnet>.0.253`, with a route to every site through the router.
 */
export async function createSitesLab (layout: SitesLayout, naming: LabNaming = DEFAULT_NAMING): Promise<SitesLab> {
  await cleanLab(naming)
  await makeNeighbourRoom(layout.hostsPerSite.map(n => n + 2))
  const { prefix, subnet } = naming
  const sites = layout.hostsPerSite.length
  if (sites < 2 || sites > 250 || layout.hostsPerSite.some(n => n < 1 || n > 250)) throw new Error('a sites lab needs 2 to 250 sites of 1 to 250 hosts')
  const hosts: LabHost[] = layout.hostsPerSite.flatMap((count, site) => Array.from({ length: count }, (_, i) => ({
    name: `s${site}h${i}`, ns: `${prefix}-${site}-${i}`, ip: `${subnet}.${site}.${1 + i}`, site
  })))
  const router = `${prefix}-rt`
  const base = labOf(hosts, naming)
  const lab: SitesLab = {
    ...base,
    router,
    async wanBytes () {
      let into = 0
      let outOf = 0
      for (let site = 1; site < sites; site++) {
        into += await counter(router, `s${site}`, 'tx_bytes')
        outOf += await counter(router, `s${site}`, 'rx_bytes')
      }
      return { into, outOf }
    }
  }
  try {
    await addBridgeNs(`${prefix}-br`, sites)
    await ip('netns', 'add', router)
    await inNs(router, 'ip', 'link', 'set', 'lo', 'up')
    await inNs(router, 'sysctl', '-qw', 'net.ipv4.ip_forward=1')
    for (let site = 0; site < sites; site++) await addRouterLink(naming, site, site === 0 ? Infinity : layout.wanRate)
    const perSite = new Map<number, number>()
    for (const [i, host] of hosts.entries()) {
      const index = perSite.get(host.site!) ?? 0
      perSite.set(host.site!, index + 1)
      await addHost(host, `${prefix}v${i}`, { ns: `${prefix}-br`, bridge: `br${host.site!}`, mask: 24, gateway: `${subnet}.${host.site!}.254`, bench: `${subnet}.0.253` }, layout.rate(host.site!, index))
    }
    await addThisMachine(naming, 'br0', `${subnet}.0.253/24`)
    await ip('route', 'add', `${subnet}.0.0/16`, 'via', `${subnet}.0.254`)
  } catch (err) {
    await lab.destroy()
    throw err
  }
  return lab
}

function labOf (hosts: LabHost[], naming: LabNaming): Lab {
  const children = new Set<ChildProcess>()
  return {
    hosts,
    spawnIn (host, command, args, options = {}) {
      // stderr (logs) is dropped unless asked for: an unread pipe would block the child once full.
      const stderr = options.logFile == null ? 'ignore' : openSync(options.logFile, 'a')
      const niced = options.nice == null ? [] : ['nice', '-n', String(options.nice)]
      const child = spawn('ip', ['netns', 'exec', host.ns, ...niced, command, ...args], { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', stderr] })
      children.add(child)
      child.once('exit', () => { children.delete(child) })
      return child
    },
    async txBytes (host) {
      return await counter(host.ns, 'eth0', 'tx_bytes')
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
}

async function counter (ns: string, dev: string, name: 'tx_bytes' | 'rx_bytes'): Promise<number> {
  const { stdout } = await run('ip', ['netns', 'exec', ns, 'cat', `/sys/class/net/${dev}/statistics/${name}`])
  return Number(stdout.trim())
}

/** The namespace holding the lab's bridges `br0…br<count-1>`. */
async function addBridgeNs (ns: string, count: number): Promise<void> {
  await ip('netns', 'add', ns)
  await inNs(ns, 'ip', 'link', 'set', 'lo', 'up')
  for (let i = 0; i < count; i++) {
    await inNs(ns, 'ip', 'link', 'add', `br${i}`, 'type', 'bridge')
    await inNs(ns, 'ip', 'link', 'set', `br${i}`, 'up')
  }
}

/** A link from this (root) namespace to `bridge`, so the bench reaches the hosts. */
async function addThisMachine ({ prefix }: LabNaming, bridge: string, cidr: string): Promise<void> {
  const bridgeNs = `${prefix}-br`
  await ip('link', 'add', `${prefix}h0`, 'type', 'veth', 'peer', 'name', `${prefix}hb`)
  await ip('link', 'set', `${prefix}hb`, 'netns', bridgeNs)
  await inNs(bridgeNs, 'ip', 'link', 'set', `${prefix}hb`, 'master', bridge)
  await inNs(bridgeNs, 'ip', 'link', 'set', `${prefix}hb`, 'up')
  await ip('addr', 'add', cidr, 'dev', `${prefix}h0`)
  await ip('link', 'set', `${prefix}h0`, 'up')
}

/** The router's leg `s<site>` on the site's bridge, shaped to `rate` both ways. */
async function addRouterLink ({ prefix, subnet }: LabNaming, site: number, rate: number): Promise<void> {
  const router = `${prefix}-rt`
  const bridgeNs = `${prefix}-br`
  const link = `${prefix}r${site}`
  await ip('link', 'add', `${link}a`, 'type', 'veth', 'peer', 'name', `${link}b`)
  await ip('link', 'set', `${link}a`, 'netns', router)
  await ip('link', 'set', `${link}b`, 'netns', bridgeNs)
  await inNs(bridgeNs, 'ip', 'link', 'set', `${link}b`, 'master', `br${site}`)
  await inNs(bridgeNs, 'ip', 'link', 'set', `${link}b`, 'up')
  await inNs(router, 'ip', 'link', 'set', `${link}a`, 'name', `s${site}`)
  await inNs(router, 'ip', 'addr', 'add', `${subnet}.${site}.254/24`, 'dev', `s${site}`)
  await inNs(router, 'ip', 'link', 'set', `s${site}`, 'up')
  await shape(router, `s${site}`, rate)
  await shape(bridgeNs, `${link}b`, rate)
}

interface HostLink {
  readonly ns: string
  readonly bridge: string
  readonly mask: number
  /** Default route (the site's router); none on a single bridge. */
  readonly gateway?: string
  /** This machine's address on the lab: what a host sends it is not shaped. */
  readonly bench?: string
}

async function addHost (host: LabHost, link: string, to: HostLink, rate: number): Promise<void> {
  await ip('netns', 'add', host.ns)
  await ip('link', 'add', `${link}a`, 'type', 'veth', 'peer', 'name', `${link}b`)
  await ip('link', 'set', `${link}a`, 'netns', host.ns)
  await ip('link', 'set', `${link}b`, 'netns', to.ns)
  await inNs(to.ns, 'ip', 'link', 'set', `${link}b`, 'master', to.bridge)
  await inNs(to.ns, 'ip', 'link', 'set', `${link}b`, 'up')
  await inNs(host.ns, 'ip', 'link', 'set', `${link}a`, 'name', 'eth0')
  await inNs(host.ns, 'ip', 'addr', 'add', `${host.ip}/${to.mask}`, 'dev', 'eth0')
  await inNs(host.ns, 'ip', 'link', 'set', 'eth0', 'up')
  await inNs(host.ns, 'ip', 'link', 'set', 'lo', 'up')
  // mDNS multicast has to find a route.
  await inNs(host.ns, 'ip', 'route', 'add', '224.0.0.0/4', 'dev', 'eth0')
  if (to.gateway != null) await inNs(host.ns, 'ip', 'route', 'add', 'default', 'via', to.gateway)
  await shape(host.ns, 'eth0', rate, to.bench)
}

/** How long a packet may wait in a shaped link's queue before it is dropped (tbf `latency`). @default 200 */
export const DEFAULT_QUEUE_MS = 200

/**
 * A `tbf` of `rate` bytes/s whose queue holds `queueMs` of traffic beyond its
 * burst. The burst is 20 ms of traffic, at least 4 KiB (a packet's worth and
 * more): a full queue takes burst / rate + `queueMs` to drain, and the
 * 32 KiB burst this lab used before held 2-3 s of packets on a 16 KiB/s
 * link, long enough for TCP to resend packets still waiting in it
 * (`TCPSpuriousRtxHostQueues`).
 */
function tbfArgs (rate: number, queueMs: number): string[] {
  const burst = Math.max(4 * 1024, Math.round(rate / 50))
  return ['tbf', 'rate', `${Math.round(rate * 8)}bit`, 'burst', String(burst), 'latency', `${queueMs}ms`]
}

/** Packets a host's shaped uplink has sent and dropped so far (its `tbf`; zeros when unshaped). */
export async function shaperCounts (host: LabHost): Promise<{ sent: number, dropped: number }> {
  const { stdout } = await run('ip', ['netns', 'exec', host.ns, 'tc', '-s', 'qdisc', 'show', 'dev', 'eth0'])
  const tbf = stdout.split('qdisc ').find(block => block.startsWith('tbf'))
  const m = tbf == null ? null : /Sent \d+ bytes (\d+) pkt \(dropped (\d+)/.exec(tbf)
  return m == null ? { sent: 0, dropped: 0 } : { sent: Number(m[1]), dropped: Number(m[2]) }
}

/**
 * Give a host's shaped uplink (`rate` bytes/s, as built) a queue of
 * `queueMs` instead of {@link DEFAULT_QUEUE_MS}.
 */
export async function setQueue (host: LabHost, rate: number, queueMs: number): Promise<void> {
  if (!Number.isFinite(rate)) return
  await inNs(host.ns, 'tc', 'qdisc', 'change', 'dev', 'eth0', 'parent', '1:20', 'handle', '20:', ...tbfArgs(rate, queueMs))
}

/**
 * Cap what `dev` sends with a token bucket (nothing when `rate` is Infinity).
 * With `unshapedTo`, packets to that address and ARP skip the bucket: the
 * bench's own requests to the manager's API are not the swarm's traffic, and
 * a SYN-ACK or ARP reply queued behind a full bucket timed the task's POST
 * out (three connection attempts of 10 s each, at 32 KiB/s).
 */
async function shape (ns: string, dev: string, rate: number, unshapedTo?: string): Promise<void> {
  if (!Number.isFinite(rate)) return
  const tbf = tbfArgs(rate, DEFAULT_QUEUE_MS)
  if (unshapedTo === undefined) {
    await inNs(ns, 'tc', 'qdisc', 'add', 'dev', dev, 'root', ...tbf)
    return
  }
  // htb only sorts (both classes far above any rate here); the bucket is the same tbf as above.
  const tc = async (...args: string[]): Promise<void> => { await inNs(ns, 'tc', ...args) }
  await tc('qdisc', 'add', 'dev', dev, 'root', 'handle', '1:', 'htb', 'default', '20')
  await tc('class', 'add', 'dev', dev, 'parent', '1:', 'classid', '1:10', 'htb', 'rate', '10gbit', 'quantum', '60000')
  await tc('class', 'add', 'dev', dev, 'parent', '1:', 'classid', '1:20', 'htb', 'rate', '10gbit', 'quantum', '60000')
  await tc('qdisc', 'add', 'dev', dev, 'parent', '1:20', 'handle', '20:', ...tbf)
  await tc('filter', 'add', 'dev', dev, 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'u32', 'match', 'ip', 'dst', `${unshapedTo}/32`, 'flowid', '1:10')
  await tc('filter', 'add', 'dev', dev, 'parent', '1:', 'protocol', 'arp', 'prio', '2', 'u32', 'match', 'u32', '0', '0', 'flowid', '1:10')
}

/**
 * Set `net.ipv4.tcp_notsent_lowat` of a host (its own namespace): a socket
 * then takes no more data while this many bytes are unsent, so a sender
 * feels its link's pace instead of filling kernel buffers that the shaper
 * drains seconds later.
 */
export async function limitUnsent (host: LabHost, bytes: number): Promise<void> {
  await inNs(host.ns, 'sysctl', '-qw', `net.ipv4.tcp_notsent_lowat=${bytes}`)
}

/**
 * Set the least TCP retransmission timeout of a host (`net.ipv4.tcp_rto_min_us`,
 * its own namespace). Linux's 200 ms is less than one full-size packet's
 * time on a slow link plus a little queue: a connection that was idle (its
 * RTT estimate small) then resends packets still waiting in the queue.
 * The tuning a slow-link device would get (README, slow uplinks).
 */
export async function setRtoMin (host: LabHost, ms: number): Promise<void> {
  await inNs(host.ns, 'sysctl', '-qw', `net.ipv4.tcp_rto_min_us=${Math.round(ms * 1000)}`)
}

/**
 * Set the TCP congestion control of a host (`net.ipv4.tcp_congestion_control`,
 * its own namespace), e.g. `bbr`, which paces every connection at the rate
 * it measured instead of sending a window at once.
 */
export async function setCongestionControl (host: LabHost, name: string): Promise<void> {
  await inNs(host.ns, 'sysctl', '-qw', `net.ipv4.tcp_congestion_control=${name}`)
}

/** Distinct remote addresses `host` has an established TCP connection with on `port` (either end). */
export async function peersOf (host: LabHost, port: number): Promise<number> {
  const { stdout } = await run('ip', ['netns', 'exec', host.ns, 'ss', '-Htn', 'state', 'established'])
  const remotes = new Set<string>()
  for (const line of stdout.split('\n')) {
    const [local, remote] = line.trim().split(/\s+/).slice(-2)
    if (local === undefined || remote === undefined) continue
    if (local.endsWith(`:${port}`) || remote.endsWith(`:${port}`)) remotes.add(remote.replace(/:\d+$/, ''))
  }
  return remotes.size
}
