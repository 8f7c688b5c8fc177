/**
 * Whether a peer is on one of this host's links (same IP network as one of
 * its interfaces): such peers are near (the site's LAN), the others are
 * reached through a router, often over a slow or metered WAN link.
 */
import { isIP } from 'node:net'
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os'

/** The networks of this host's interfaces, as `address/prefix` (Node's `cidr`). */
export function localNetworks (interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces()): string[] {
  return Object.values(interfaces).flatMap(list => (list ?? []).map(i => i.cidr)).filter((c): c is string => c != null)
}

/** Whether `ip` lies in one of `networks` (`address/prefix`, IPv4 or IPv6). */
export function isOnLink (ip: string, networks: readonly string[]): boolean {
  const address = bits(ip)
  if (address === undefined) return false
  return networks.some(cidr => {
    const [net, prefix] = cidr.split('/')
    const network = bits(net ?? '')
    const length = Number(prefix)
    return network !== undefined && network.length === address.length && Number.isInteger(length) &&
      address.slice(0, length) === network.slice(0, length)
  })
}

/** An address as a string of bits (32 for IPv4, 128 for IPv6); undefined when it does not parse. */
function bits (ip: string): string | undefined {
  const version = isIP(ip)
  if (version === 4) return ip.split('.').map(n => Number(n).toString(2).padStart(8, '0')).join('')
  if (version !== 6) return undefined
  const [head = '', tail] = ip.split('::')
  const groups = (part: string): string[] => part === '' ? [] : part.split(':')
  let left = groups(head)
  let right = tail === undefined ? [] : groups(tail)
  // An embedded IPv4 tail (::ffff:10.0.0.1) is two groups.
  const v4 = (list: string[]): string[] => {
    const last = list.at(-1)
    if (last === undefined || isIP(last) !== 4) return list
    const [a, b, c, d] = last.split('.').map(Number) as [number, number, number, number]
    return [...list.slice(0, -1), ((a << 8) | b).toString(16), ((c << 8) | d).toString(16)]
  }
  if (tail === undefined) left = v4(left)
  else right = v4(right)
  const all = [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
  return all.map(g => parseInt(g, 16).toString(2).padStart(16, '0')).join('')
}

/** FNV-1a of a peer id: the stable part of {@link mix}. */
export function hashId (id: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193)
  return h >>> 0
}

/** A well-mixed 32-bit hash of (peer, chunk index) (murmur3's finaliser): which near peer brings a chunk across the WAN. */
export function mix (peerHash: number, index: number): number {
  let h = (peerHash ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}
