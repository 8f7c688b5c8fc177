/**
 * The swarm's private network (`@libp2p/pnet`), with one guard and two
 * copies fewer. pnet XORs whatever one read or write holds through the
 * `xsalsa20` WebAssembly module in a single call, and that module's memory
 * stops at 62.5 MiB: a connection whose queued writes (or unread input) pile
 * up past that, as happens on a busy host, crashed the whole process with
 * `RangeError: WebAssembly.Memory.grow()`. The cipher is a stream cipher, so
 * feeding it the same bytes in bounded slices gives the same output.
 *
 * Every byte a node sends or receives passes through here, so the copies
 * count: pnet joins a write's buffers into one array and then XORs that into
 * a second one, and gives each received buffer a new array too. Here a
 * write is XORed buffer by buffer into one new array, and received bytes in
 * place (the socket's buffer has no other reader). Same bytes on the wire.
 */
import { preSharedKey } from '@libp2p/pnet'
import type { ConnectionProtector } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

/** Largest slice handed to the cipher at once. */
export const MAX_XOR_BYTES = 1024 * 1024

/** The part of an `xsalsa20` instance pnet uses: XOR the next keystream bytes into `output` (a new array by default). */
export interface StreamXor {
  update (input: Uint8Array, output?: Uint8Array): Uint8Array
}

/** The insides of pnet's connection this module relies on (checked at every connection). */
interface BoxStream {
  inboundXor: StreamXor
  outboundXor: StreamXor
  maConn: { send (data: Uint8Array): boolean }
  sendData (data: Uint8ArrayList): { sentBytes: number, canSendMore: boolean }
}

/** `@libp2p/pnet`'s `preSharedKey`, with every connection's cipher fed at most {@link MAX_XOR_BYTES} at a time and without pnet's extra copies. */
export function boundedPreSharedKey (psk: Uint8Array): (components: any) => ConnectionProtector {
  const factory = preSharedKey({ psk }) as (components: any) => ConnectionProtector
  return components => {
    const inner = factory(components)
    return {
      async protect (connection, options) {
        const stream = await inner.protect(connection, options)
        lightenBox(checkBox(stream))
        return stream
      }
    }
  }
}

/** Fail loudly if a new pnet version changes its insides, rather than run unguarded. */
function checkBox (stream: unknown): BoxStream {
  const box = stream as Partial<BoxStream>
  for (const field of ['inboundXor', 'outboundXor'] as const) {
    if (typeof box[field]?.update !== 'function') throw new Error(`@libp2p/pnet has no ${field} cipher to guard; check its version`)
  }
  if (typeof box.sendData !== 'function' || typeof box.maConn?.send !== 'function') throw new Error('@libp2p/pnet has no sendData/maConn to wrap; check its version')
  return box as BoxStream
}

function lightenBox (box: BoxStream): void {
  const inbound = box.inboundXor
  const outbound = box.outboundXor
  boundXorUpdates(inbound)
  boundXorUpdates(outbound)
  box.inboundXor = { update: input => inbound.update(input, input) }
  box.sendData = data => ({ sentBytes: data.byteLength, canSendMore: box.maConn.send(xorList(outbound, data)) })
}

/** XOR the buffers of `list` one after the other into one new array. */
export function xorList (xor: StreamXor, list: Uint8ArrayList): Uint8Array {
  const output = new Uint8Array(list.byteLength)
  let offset = 0
  for (const buf of list) {
    xor.update(buf, output.subarray(offset, offset + buf.byteLength))
    offset += buf.byteLength
  }
  return output
}

/** Make `xor.update` process its input in slices of at most `maxBytes`. */
export function boundXorUpdates (xor: StreamXor, maxBytes = MAX_XOR_BYTES): void {
  const update = xor.update.bind(xor)
  xor.update = (input, output = new Uint8Array(input.byteLength)) => {
    if (input.byteLength <= maxBytes) return update(input, output)
    for (let offset = 0; offset < input.byteLength; offset += maxBytes) {
      update(input.subarray(offset, offset + maxBytes), output.subarray(offset, offset + maxBytes))
    }
    return output
  }
}
