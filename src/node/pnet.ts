/**
 * The swarm's private network (`@libp2p/pnet`), with its cipher's memory
 * kept in bounds and two copies fewer.
 *
 * pnet's cipher, the `xsalsa20` module, keeps one WebAssembly memory (at
 * most 1000 pages, 62.5 MiB) for every instance in the process, two per
 * connection:
 * - An update larger than the memory grows it, and growing detaches every
 *   other instance's view of it. An instance with a detached view grows the
 *   memory again at its next update, by at least a page, which detaches the
 *   others again: from the first growth on nearly every update grows it, and
 *   the process crashes with `RangeError: WebAssembly.Memory.grow()` (seen
 *   with 50 agents in one process, and with one large write). Here updates
 *   are fed in slices that fit the first memory, and a detached view is
 *   replaced by the newest one before each update.
 * - pnet never releases an instance: 64 bytes of that memory per
 *   connection, for good, which a manager whose agents reconnect day after
 *   day runs out of. Here both instances are released when the connection
 *   closes.
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

/**
 * Largest slice handed to the cipher at once: with the instances' state
 * below it (64 bytes each), it fits the module's first 640 KiB of memory.
 */
export const MAX_XOR_BYTES = 64 * 1024

/** The part of an `xsalsa20` instance pnet uses: XOR the next keystream bytes into `output` (a new array by default). */
export interface StreamXor {
  update (input: Uint8Array, output?: Uint8Array): Uint8Array
}

/** The insides of an `xsalsa20` instance backed by WebAssembly (absent without WebAssembly). */
interface WasmXor {
  _xor?: { _memory?: Uint8Array } | null
  finalize?: () => void
}

/** The insides of pnet's connection this module relies on (checked at every connection). */
interface BoxStream {
  inboundXor: StreamXor
  outboundXor: StreamXor
  maConn: { send (data: Uint8Array): boolean }
  sendData (data: Uint8ArrayList): { sentBytes: number, canSendMore: boolean }
  addEventListener (type: 'close', listener: () => void, options?: { once: boolean }): void
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
  if (typeof box.sendData !== 'function' || typeof box.maConn?.send !== 'function' || typeof box.addEventListener !== 'function') {
    throw new Error('@libp2p/pnet has no sendData/maConn/addEventListener to wrap; check its version')
  }
  return box as BoxStream
}

function lightenBox (box: BoxStream): void {
  const inbound = box.inboundXor
  const outbound = box.outboundXor
  boundXorUpdates(inbound)
  boundXorUpdates(outbound)
  box.addEventListener('close', () => { release(inbound); release(outbound) }, { once: true })
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

/** Make `xor.update` process its input in slices of at most `maxBytes`, on a live view of the module's memory. */
export function boundXorUpdates (xor: StreamXor, maxBytes = MAX_XOR_BYTES): void {
  const update = xor.update.bind(xor)
  const slice = (input: Uint8Array, output: Uint8Array): void => {
    if (released.has(xor)) return // the connection closed: its bytes go nowhere
    refreshView(xor)
    update(input, output)
    noteView(xor)
  }
  xor.update = (input, output = new Uint8Array(input.byteLength)) => {
    if (input.byteLength <= maxBytes) {
      slice(input, output)
      return output
    }
    for (let offset = 0; offset < input.byteLength; offset += maxBytes) {
      slice(input.subarray(offset, offset + maxBytes), output.subarray(offset, offset + maxBytes))
    }
    return output
  }
}

/** Instances whose state went back to the module; their updates do nothing. */
const released = new WeakSet<StreamXor>()

/** The newest view of the module's memory seen after an update (growing happens only inside one). */
let newestView: Uint8Array | undefined

function refreshView (xor: StreamXor): void {
  const state = (xor as WasmXor)._xor
  if (state?._memory?.byteLength === 0 && newestView !== undefined && newestView.byteLength > 0) state._memory = newestView
}

function noteView (xor: StreamXor): void {
  const view = (xor as WasmXor)._xor?._memory
  if (view !== undefined && view.byteLength > 0) newestView = view
}

/** Give an instance's state back to the module (once); later updates are ignored. */
export function release (xor: StreamXor): void {
  if (released.has(xor)) return
  released.add(xor)
  refreshView(xor)
  ;(xor as WasmXor).finalize?.()
}
