/**
 * The swarm's private network (`@libp2p/pnet`), with one guard added. pnet
 * XORs whatever one read or write holds through the `xsalsa20` WebAssembly
 * module in a single call, and that module's memory stops at 62.5 MiB: a
 * connection whose queued writes (or unread input) pile up past that, as
 * happens on a busy host, crashed the whole process with `RangeError:
 * WebAssembly.Memory.grow()`. The cipher is a stream cipher, so feeding it
 * the same bytes in bounded slices gives the same output.
 */
import { preSharedKey } from '@libp2p/pnet'
import type { ConnectionProtector } from '@libp2p/interface'

/** Largest slice handed to the cipher at once. */
export const MAX_XOR_BYTES = 1024 * 1024

/** The part of an `xsalsa20` instance pnet uses. */
export interface StreamXor {
  update (input: Uint8Array): Uint8Array
}

/** `@libp2p/pnet`'s `preSharedKey`, with every connection's cipher fed at most {@link MAX_XOR_BYTES} at a time. */
export function boundedPreSharedKey (psk: Uint8Array): (components: any) => ConnectionProtector {
  const factory = preSharedKey({ psk }) as (components: any) => ConnectionProtector
  return components => {
    const inner = factory(components)
    return {
      async protect (connection, options) {
        const stream = await inner.protect(connection, options) as unknown as Record<string, unknown>
        for (const field of ['inboundXor', 'outboundXor']) {
          const xor = stream[field] as StreamXor | undefined
          // Fail loudly if a new pnet version changes its insides, rather than run unguarded.
          if (typeof xor?.update !== 'function') throw new Error(`@libp2p/pnet has no ${field} cipher to guard; check its version`)
          boundXorUpdates(xor)
        }
        return stream as unknown as Awaited<ReturnType<ConnectionProtector['protect']>>
      }
    }
  }
}

/** Make `xor.update` process its input in slices of at most `maxBytes`. */
export function boundXorUpdates (xor: StreamXor, maxBytes = MAX_XOR_BYTES): void {
  const update = xor.update.bind(xor)
  xor.update = input => {
    if (input.byteLength <= maxBytes) return update(input)
    const output = new Uint8Array(input.byteLength)
    for (let offset = 0; offset < input.byteLength; offset += maxBytes) {
      output.set(update(input.subarray(offset, offset + maxBytes)), offset)
    }
    return output
  }
}
