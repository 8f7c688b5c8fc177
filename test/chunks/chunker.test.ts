import test from 'ava'
import { chunkerForAverage, chunkStream, resolveChunkerOptions, type ChunkerOptions } from '../../src/chunks/chunker.ts'
import { chunkCid, manifestBlock, pseudoRandomBytes } from '../../src/core/index.ts'
import { CHUNKER_DEFAULTS } from '../../src/constants.ts'

const MiB = 1024 * 1024

const xorshiftBytes = pseudoRandomBytes

/** Feed `bytes` in pieces of `pieceBytes` (whole when omitted). */
async function * pieces (bytes: Uint8Array, pieceBytes = bytes.byteLength || 1): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.byteLength; offset += pieceBytes) yield bytes.subarray(offset, offset + pieceBytes)
}

async function chunksOf (source: AsyncIterable<Uint8Array>, options?: Partial<ChunkerOptions>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const chunk of chunkStream(source, options)) out.push(chunk)
  return out
}

function concat (chunks: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(chunks))
}

/** Byte equality; ava's deepEqual is far too slow on megabytes. */
function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0
}

function cids (chunks: Uint8Array[]): string[] {
  return chunks.map(chunk => chunkCid(chunk).toString())
}

test('fixed vectors: 3 MiB xorshift32(42) with default options', async t => {
  const data = xorshiftBytes(3 * MiB)
  const chunks = await chunksOf(pieces(data))
  const refs = chunks.map(chunk => ({ cid: chunkCid(chunk).toString(), size: chunk.byteLength }))
  t.is(refs.length, 10)
  t.is(refs[0]?.cid, 'bafkreiao3up66ykzwrupz7drsdrwcaljhein7k7aam2tlrlgoncqwb2b4u')
  t.is(refs[1]?.cid, 'bafkreidyrlq3bs746akwkysei2xor246kj2jq5vjh2ad24wpvdnuv5hgba')
  const { cid } = manifestBlock({ version: 1, size: data.byteLength, chunks: refs })
  t.is(cid.toString(), 'bagaaierae5sarygdfoearrkyojtjudr2vmyt25pk3g625djlgfo2mk5vno4q')
})

test('cut points do not depend on how the source is split', async t => {
  const data = xorshiftBytes(3 * MiB, 7)
  const whole = cids(await chunksOf(pieces(data)))
  t.deepEqual(cids(await chunksOf(pieces(data, 997))), whole)
  t.deepEqual(cids(await chunksOf(pieces(data, 64 * 1024))), whole)
})

test('chunks concatenate to the input and respect min/max', async t => {
  const options = { minChunkBytes: 1024, avgChunkBytes: 4096, maxChunkBytes: 8192 }
  const data = xorshiftBytes(MiB + 12345, 3)
  const chunks = await chunksOf(pieces(data, 5000), options)
  t.true(sameBytes(concat(chunks), data))
  t.true(chunks.length > 100)
  for (const chunk of chunks.slice(0, -1)) {
    t.true(chunk.byteLength >= options.minChunkBytes && chunk.byteLength <= options.maxChunkBytes)
  }
})

test('default chunks stay within CHUNKER_DEFAULTS bounds', async t => {
  const chunks = await chunksOf(pieces(xorshiftBytes(4 * MiB, 9)))
  for (const chunk of chunks.slice(0, -1)) {
    t.true(chunk.byteLength >= CHUNKER_DEFAULTS.minChunkBytes && chunk.byteLength <= CHUNKER_DEFAULTS.maxChunkBytes)
  }
})

test('empty input gives zero chunks', async t => {
  t.deepEqual(await chunksOf(pieces(new Uint8Array(0))), [])
  t.deepEqual(await chunksOf(pieces(new Uint8Array(0), 1)), [])
  const empties = (async function * () { yield new Uint8Array(0); yield new Uint8Array(0) })()
  t.deepEqual(await chunksOf(empties), [])
})

test('one-byte input gives one one-byte chunk', async t => {
  const chunks = await chunksOf(pieces(new Uint8Array([0xab])))
  t.is(chunks.length, 1)
  t.deepEqual([...chunks[0] ?? []], [0xab])
})

test('input smaller than the minimum chunk is one chunk', async t => {
  const data = xorshiftBytes(CHUNKER_DEFAULTS.minChunkBytes - 1)
  const chunks = await chunksOf(pieces(data, 1000))
  t.is(chunks.length, 1)
  t.true(sameBytes(concat(chunks), data))
})

/** Chunks of `edited` not in `original`, and the other way round. */
function difference (original: string[], edited: string[]): { added: number, removed: number } {
  const before = new Set(original)
  const after = new Set(edited)
  return {
    added: edited.filter(cid => !before.has(cid)).length,
    removed: original.filter(cid => !after.has(cid)).length
  }
}

test('overwriting 100 bytes in the middle changes at most 3 chunks', async t => {
  const data = xorshiftBytes(4 * MiB)
  const original = cids(await chunksOf(pieces(data)))
  const edited = data.slice()
  edited.set(xorshiftBytes(100, 99), data.byteLength / 2)
  const changed = cids(await chunksOf(pieces(edited)))
  t.true(original.length >= 12, `only ${original.length} chunks`)
  const { added, removed } = difference(original, changed)
  t.true(added >= 1 && added <= 3, `added ${added}`)
  t.true(removed >= 1 && removed <= 3, `removed ${removed}`)
})

test('inserting 1000 bytes in the middle changes at most 3 chunks', async t => {
  const data = xorshiftBytes(4 * MiB)
  const original = cids(await chunksOf(pieces(data)))
  const middle = data.byteLength / 2
  const edited = concat([data.subarray(0, middle), xorshiftBytes(1000, 99), data.subarray(middle)])
  const changed = cids(await chunksOf(pieces(edited)))
  t.true(original.length >= 12, `only ${original.length} chunks`)
  const { added, removed } = difference(original, changed)
  t.true(added >= 1 && added <= 3, `added ${added}`)
  t.true(removed >= 1 && removed <= 3, `removed ${removed}`)
})

test('defaults come from CHUNKER_DEFAULTS; partial options are filled in', t => {
  t.deepEqual(resolveChunkerOptions(), CHUNKER_DEFAULTS)
  t.deepEqual(resolveChunkerOptions({ maxChunkBytes: 2 * MiB }), { ...CHUNKER_DEFAULTS, maxChunkBytes: 2 * MiB })
})

test('invalid options throw InvalidOptionError when chunkStream is called', t => {
  const invalid: Array<Partial<ChunkerOptions>> = [
    { minChunkBytes: 0 },
    { minChunkBytes: -1 },
    { minChunkBytes: 15 },
    { minChunkBytes: 1.5 },
    { avgChunkBytes: Number.NaN },
    { maxChunkBytes: Infinity },
    { minChunkBytes: 512 * 1024 }, // > avg
    { avgChunkBytes: 2 * MiB }, // > max
    { minChunkBytes: 1024, avgChunkBytes: 4096, maxChunkBytes: 2048 },
    { maxChunkBytes: 9 * MiB, avgChunkBytes: 9 * MiB } // over the manifest's chunk limit
  ]
  for (const options of invalid) {
    const err = t.throws(() => chunkStream(pieces(new Uint8Array(1)), options), undefined, JSON.stringify(options))
    t.is(err?.name, 'InvalidOptionError')
  }
})

test('chunkerForAverage: a quarter to four times the average, whole bytes, valid for any average the manager accepts', t => {
  t.deepEqual(chunkerForAverage(256 * 1024), { minChunkBytes: 64 * 1024, avgChunkBytes: 256 * 1024, maxChunkBytes: 1024 * 1024 })
  t.deepEqual(resolveChunkerOptions(chunkerForAverage(20_001)), { minChunkBytes: 5_000, avgChunkBytes: 20_001, maxChunkBytes: 80_004 })
  t.is(chunkerForAverage(40).minChunkBytes, 16, 'never below rabin\'s window')
})
