import test from 'ava'
import { rabin } from 'ipfs-unixfs-importer/chunker'
import { RabinCutter } from '../../src/chunks/rabin.ts'
import { pseudoRandomBytes } from '../../src/core/index.ts'

/** Chunk lengths from `rabin-wasm`, through the importer's chunker (the reference the cuts must match). */
async function wasmCuts (data: Uint8Array, averageBits: number, min: number, max: number): Promise<number[]> {
  const chunker = rabin({ avgChunkSize: 2 ** averageBits, minChunkSize: min, maxChunkSize: max })
  const lengths: number[] = []
  async function * source (): AsyncGenerator<Uint8Array> { for (let o = 0; o < data.length; o += 1 << 20) yield data.subarray(o, o + (1 << 20)) }
  for await (const chunk of chunker(source())) lengths.push(chunk.byteLength)
  return lengths
}

function jsCuts (data: Uint8Array, averageBits: number, min: number, max: number, piece: number): number[] {
  const cutter = new RabinCutter({ averageBits, minSize: min, maxSize: max })
  const lengths: number[] = []
  for (let o = 0; o < data.length; o += piece) lengths.push(...cutter.push(data.subarray(o, o + piece)))
  if (cutter.pending > 0) lengths.push(cutter.pending)
  return lengths
}

const CASES: Array<[bits: number, min: number, max: number]> = [
  [18, 64 * 1024, 1024 * 1024], // the defaults
  [12, 16, 64 * 1024], // no bytes skipped before the first test (min = window)
  [10, 300, 4000],
  [4, 16, 40], // cuts every few bytes, many at max
  [20, 512 * 1024, 8 * 1024 * 1024]
]

for (const [bits, min, max] of CASES) {
  test(`same cuts as rabin-wasm: 2^${bits} average, ${min}..${max}`, async t => {
    const random = pseudoRandomBytes(3 * 1024 * 1024 + 4321, bits)
    const zeros = new Uint8Array(1024 * 1024)
    for (const data of [random, zeros]) {
      const expected = await wasmCuts(data, bits, min, max)
      t.true(expected.length > 1)
      t.deepEqual(jsCuts(data, bits, min, max, data.length), expected)
      t.deepEqual(jsCuts(data, bits, min, max, 7919), expected, 'fed in odd pieces')
    }
  })
}

test('refuses an average outside 1..30 bits', t => {
  t.throws(() => new RabinCutter({ averageBits: 31, minSize: 16, maxSize: 64 }), { instanceOf: RangeError })
  t.throws(() => new RabinCutter({ averageBits: 0, minSize: 16, maxSize: 64 }), { instanceOf: RangeError })
})
