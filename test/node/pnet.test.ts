import test from 'ava'
import { createRequire } from 'node:module'
import { randomBytes } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKey, preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'
import { Uint8ArrayList } from 'uint8arraylist'
import type { ConnectionProtector } from '@libp2p/interface'
import { boundedPreSharedKey, boundXorUpdates, release, xorList, type StreamXor } from '../../src/node/pnet.ts'

// The cipher @libp2p/pnet uses, resolved from pnet itself.
const require = createRequire(import.meta.resolve('@libp2p/pnet'))
const xsalsa20 = require('xsalsa20') as (nonce: Uint8Array, key: Uint8Array) => StreamXor

const nonce = randomBytes(24)
const key = randomBytes(32)

test('sliced updates give the bytes one update would, across slice and block boundaries', t => {
  const input = randomBytes(1000)
  const whole = xsalsa20(nonce, key).update(input)
  for (const max of [1, 63, 64, 65, 333]) {
    const sliced = xsalsa20(nonce, key)
    boundXorUpdates(sliced, max)
    // Two writes, so the keystream's position carries over between calls too.
    const out = Buffer.concat([sliced.update(input.subarray(0, 401)), sliced.update(input.subarray(401))])
    t.deepEqual(new Uint8Array(out), whole, `slices of ${max}`)
  }
})

test('one 80 MiB write goes through the guarded cipher (the unguarded module stops at 62.5 MiB)', t => {
  const big = new Uint8Array(80 * 1024 * 1024)
  const guarded = xsalsa20(nonce, key)
  boundXorUpdates(guarded)
  const out = guarded.update(big)
  t.is(out.byteLength, big.byteLength)
  // XOR of zeros is the keystream: check its end against a reference fed in 4 MiB pieces.
  const reference = xsalsa20(nonce, key)
  let last: Uint8Array = new Uint8Array()
  for (let offset = 0; offset < big.byteLength; offset += 4 * 1024 * 1024) last = reference.update(big.subarray(offset, offset + 4 * 1024 * 1024))
  t.deepEqual(out.subarray(out.byteLength - last.byteLength), last)
})

/** Bytes of the module's WebAssembly memory, as an instance sees it after an update. */
function memoryBytes (xor: StreamXor): number {
  return (xor as unknown as { _xor: { _memory: Uint8Array } })._xor._memory.buffer.byteLength
}

test('once the module memory has grown, instances whose view it detached do not grow it again', t => {
  const a = xsalsa20(nonce, key)
  const b = xsalsa20(nonce, key)
  boundXorUpdates(a)
  boundXorUpdates(b)
  a.update(new Uint8Array(10))
  b.update(new Uint8Array(10))
  xsalsa20(nonce, key).update(new Uint8Array(8 * 1024 * 1024)) // unguarded: grows the memory, detaching both views
  a.update(new Uint8Array(100))
  const size = memoryBytes(a)
  // Unguarded, every one of these updates would grow the memory by a page: past 1000 pages, a RangeError.
  for (let i = 0; i < 3000; i++) {
    a.update(new Uint8Array(100))
    b.update(new Uint8Array(100))
  }
  t.is(memoryBytes(a), size)
  t.is(memoryBytes(b), size)
})

test('released instances give their state back, and updates after that do nothing', t => {
  const slot = (xor: StreamXor): number => (xor as unknown as { _xor: { _pointer: number } })._xor._pointer
  const used = xsalsa20(nonce, key)
  boundXorUpdates(used)
  used.update(new Uint8Array(100))
  const at = slot(used)
  release(used)
  release(used)
  // Unreleased, each instance keeps its 64 bytes of the module's memory for good.
  t.is(slot(xsalsa20(nonce, key)), at, 'the next instance takes the released slot')
  const input = Uint8Array.from([1, 2, 3])
  t.notThrows(() => used.update(input, input))
  t.deepEqual(input, Uint8Array.from([1, 2, 3]))
})

test('a list is XORed buffer by buffer as if joined, and received bytes can be XORed in place', t => {
  const parts = [randomBytes(5), randomBytes(64), randomBytes(1), randomBytes(300)]
  const whole = xsalsa20(nonce, key).update(Buffer.concat(parts))
  t.deepEqual(xorList(xsalsa20(nonce, key), new Uint8ArrayList(...parts)), whole)
  const guarded = xsalsa20(nonce, key)
  boundXorUpdates(guarded, 100)
  const joined = new Uint8Array(Buffer.concat(parts))
  t.is(guarded.update(joined, joined), joined, 'the output is the input array')
  t.deepEqual(joined, whole)
})

/** A node on loopback with only what the exchange of bytes needs; `protector` guards its connections. */
async function protectedNode (protector: (components: any) => ConnectionProtector): Promise<Libp2p> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionProtector: protector
  })
}

test('talks to stock @libp2p/pnet both ways: 3 MiB echoed byte for byte', async t => {
  const swarmKey = new Uint8Array(95)
  generateKey(swarmKey)
  const ours = await protectedNode(boundedPreSharedKey(swarmKey))
  const stock = await protectedNode(preSharedKey({ psk: swarmKey }))
  try {
    for (const [server, client] of [[ours, stock], [stock, ours]] as const) {
      await server.handle('/echo/1', async stream => {
        for await (const buf of stream) if (!stream.send(buf)) await stream.onDrain()
        await stream.close()
      })
      const stream = await client.dialProtocol(server.getMultiaddrs()[0]!, '/echo/1', { signal: AbortSignal.timeout(30_000) })
      const sent = randomBytes(3 * 1024 * 1024)
      const received = (async () => {
        const list = new Uint8ArrayList()
        for await (const buf of stream) list.append(buf)
        return list.subarray()
      })()
      for (let at = 0; at < sent.byteLength; at += 100_000) {
        if (!stream.send(sent.subarray(at, at + 100_000))) await stream.onDrain()
      }
      await stream.close()
      t.deepEqual(await received, new Uint8Array(sent))
      await server.unhandle('/echo/1')
    }
  } finally {
    await Promise.all([ours.stop(), stock.stop()])
  }
})
