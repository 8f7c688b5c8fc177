import anyTest, { type TestFn } from 'ava'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { access, mkdtemp, open, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { createChunkStore, type ChunkStore } from '../../src/chunks/store.ts'
import { exportFile, importBytes, importFile, importSource, missingChunks, readPackage } from '../../src/chunks/package.ts'
import { chunkStream } from '../../src/chunks/chunker.ts'
import { chunkCid, manifestBlock, pseudoRandomBytes } from '../../src/core/index.ts'

interface Context { dir: string, store: ChunkStore }
const test = anyTest as TestFn<Context>
const MiB = 1024 * 1024

test.beforeEach(async t => {
  t.context.dir = await mkdtemp(join(tmpdir(), 'pollen-package-'))
  t.context.store = createChunkStore({ dir: join(t.context.dir, 'store') })
  await t.context.store.start()
})

test.afterEach.always(async t => {
  await t.context.store.stop()
  await rm(t.context.dir, { recursive: true, force: true })
})

const xorshiftBytes = pseudoRandomBytes

/** The manifest CID of `bytes`, computed without a store. */
async function manifestCidOfBytes (bytes: Uint8Array): Promise<string> {
  const chunks = []
  const source = (async function * () { yield bytes })()
  for await (const chunk of chunkStream(source)) chunks.push({ cid: chunkCid(chunk).toString(), size: chunk.byteLength })
  return manifestBlock({ version: 1, size: bytes.byteLength, chunks }).cid.toString()
}

/** Byte equality; ava's deepEqual is far too slow on megabytes. */
function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0
}

async function exists (path: string): Promise<boolean> {
  return access(path).then(() => true, () => false)
}

/** Import `bytes` from a file, export it again, and return the exported bytes. */
async function roundTrip (context: Context, bytes: Uint8Array): Promise<{ exported: Uint8Array, cid: string, chunks: number }> {
  const input = join(context.dir, 'input.bin')
  const output = join(context.dir, 'output.bin')
  await writeFile(input, bytes)
  const { manifest, cid } = await importFile(context.store, input)
  await exportFile(context.store, manifest, output)
  return { exported: new Uint8Array(await readFile(output)), cid, chunks: manifest.chunks.length }
}

test('round trip of a multi-chunk package whose size is no multiple of a chunk size', async t => {
  const data = xorshiftBytes(3 * MiB + 12_345, 5)
  const { exported, cid, chunks } = await roundTrip(t.context, data)
  t.true(chunks > 5)
  t.true(sameBytes(exported, data))
  t.deepEqual(missingChunks(t.context.store, await t.context.store.getManifest(cid)), [])
  t.false(await exists(join(t.context.dir, 'output.bin.partial')))
})

test('importFile and importBytes give the same manifest', async t => {
  const data = xorshiftBytes(2 * MiB + 1, 6)
  const input = join(t.context.dir, 'input.bin')
  await writeFile(input, data)
  const fromFile = await importFile(t.context.store, input)
  const fromBytes = await importBytes(t.context.store, data)
  t.is(fromFile.cid, fromBytes.cid)
  t.deepEqual(fromFile.manifest, fromBytes.manifest)
  t.is(fromFile.manifest.size, data.byteLength)
  t.deepEqual(await t.context.store.getManifest(fromFile.cid), fromFile.manifest)
})

test('importSource of a stream in odd pieces gives the manifest of importBytes', async t => {
  const data = xorshiftBytes(2 * MiB + 3, 8)
  async function * pieces (): AsyncGenerator<Uint8Array> { for (let o = 0; o < data.length; o += 65_537) yield data.slice(o, o + 65_537) }
  const fromStream = await importSource(t.context.store, pieces())
  const fromBytes = await importBytes(t.context.store, data)
  t.is(fromStream.cid, fromBytes.cid)
  t.deepEqual(fromStream.manifest, fromBytes.manifest)
})

test('fixed vector: 3 MiB xorshift32(42) imports to the expected manifest CID', async t => {
  const { manifest, cid } = await importBytes(t.context.store, xorshiftBytes(3 * MiB))
  t.is(manifest.chunks.length, 10)
  t.is(cid, 'bagaaierae5sarygdfoearrkyojtjudr2vmyt25pk3g625djlgfo2mk5vno4q')
})

test('empty package: zero chunks, size 0, exports an empty file', async t => {
  const input = join(t.context.dir, 'empty.bin')
  await writeFile(input, new Uint8Array(0))
  const { manifest, cid } = await importFile(t.context.store, input)
  t.deepEqual(manifest, { version: 1, size: 0, chunks: [] })
  t.is(cid, manifestBlock(manifest).cid.toString())
  const output = join(t.context.dir, 'empty.out')
  await exportFile(t.context.store, cid, output)
  t.is((await readFile(output)).byteLength, 0)
})

test('one-byte package', async t => {
  const { exported, chunks } = await roundTrip(t.context, new Uint8Array([42]))
  t.is(chunks, 1)
  t.deepEqual(exported, new Uint8Array([42]))
})

test('export by manifest CID; unknown manifest CID throws ChunkNotFoundError', async t => {
  const data = xorshiftBytes(500_000, 8)
  const { cid } = await importBytes(t.context.store, data)
  const output = join(t.context.dir, 'out.bin')
  await exportFile(t.context.store, cid, output)
  t.true(sameBytes(await readFile(output), data))
  const unknown = manifestBlock({ version: 1, size: 0, chunks: [] }).cid.toString()
  const err = await t.throwsAsync(exportFile(t.context.store, unknown, join(t.context.dir, 'other.bin')))
  t.is(err?.name, 'ChunkNotFoundError')
})

test('custom chunker options are used', async t => {
  const { manifest } = await importBytes(t.context.store, xorshiftBytes(MiB), { chunker: { minChunkBytes: 1024, avgChunkBytes: 4096, maxChunkBytes: 16_384 } })
  t.true(manifest.chunks.length > 100)
  t.true(manifest.chunks.every(ref => ref.size <= 16_384))
})

test('progress reaches the total on import and export', async t => {
  const data = xorshiftBytes(2 * MiB, 10)
  const seen: number[] = []
  const { manifest } = await importBytes(t.context.store, data, { onProgress: p => { t.is(p.totalBytes, data.byteLength); seen.push(p.bytes) } })
  t.is(seen.length, manifest.chunks.length)
  t.is(seen.at(-1), data.byteLength)
  const exported: number[] = []
  const output = join(t.context.dir, 'out.bin')
  await exportFile(t.context.store, manifest, output, {
    onProgress: p => {
      exported.push(p.bytes)
      t.false(existsSync(output), 'the target appears only once complete')
    }
  })
  t.deepEqual(exported, manifest.chunks.map((_, i) => manifest.chunks.slice(0, i + 1).reduce((sum, ref) => sum + ref.size, 0)))
})

test('missingChunks lists the indices of absent chunks; export then throws ChunkNotFoundError', async t => {
  const { manifest } = await importBytes(t.context.store, xorshiftBytes(2 * MiB, 11))
  const gone = [1, manifest.chunks.length - 1]
  for (const index of gone) await t.context.store.delete(manifest.chunks[index]?.cid ?? '')
  t.deepEqual(missingChunks(t.context.store, manifest), gone)
  const output = join(t.context.dir, 'out.bin')
  await writeFile(output, 'previous version')
  const err = await t.throwsAsync(exportFile(t.context.store, manifest, output))
  t.is(err?.name, 'ChunkNotFoundError')
  t.is(await readFile(output, 'utf8'), 'previous version', 'a failed export leaves the old file alone')
  t.false(await exists(`${output}.partial`))
})

test('a corrupt stored chunk fails the export with ChunkHashMismatchError and is dropped', async t => {
  const input = xorshiftBytes(2 * MiB, 12)
  const { manifest } = await importBytes(t.context.store, input)
  const start = manifest.chunks[0]!.size + manifest.chunks[1]!.size
  const victimBytes = Buffer.from(input.subarray(start, start + manifest.chunks[2]!.size))
  const pack = join(t.context.dir, 'store', 'packs', '0.pack')
  const at = (await readFile(pack)).indexOf(victimBytes)
  t.true(at >= 0, 'the chunk is in the pack')
  const file = await open(pack, 'r+')
  await file.write(new Uint8Array([1, 2, 3, 4]), 0, 4, at + 100)
  await file.close()
  const output = join(t.context.dir, 'out.bin')
  const err = await t.throwsAsync(exportFile(t.context.store, manifest, output))
  t.is(err?.name, 'ChunkHashMismatchError')
  t.false(await exists(output))
  t.false(await exists(`${output}.partial`))
  t.deepEqual(missingChunks(t.context.store, manifest), [2])
})

test('readPackage yields the package chunk by chunk, and stops at a corrupt chunk, dropping it', async t => {
  const input = xorshiftBytes(2 * MiB, 14)
  const { manifest, cid } = await importBytes(t.context.store, input)
  const pieces: Uint8Array[] = []
  for await (const piece of readPackage(t.context.store, cid)) pieces.push(piece)
  t.is(pieces.length, manifest.chunks.length)
  t.true(Buffer.concat(pieces).equals(input))
  const pack = join(t.context.dir, 'store', 'packs', '0.pack')
  const last = manifest.chunks.at(-1)!
  const at = (await readFile(pack)).indexOf(Buffer.from(input.subarray(input.byteLength - last.size)))
  const file = await open(pack, 'r+')
  await file.write(new Uint8Array([9, 9, 9]), 0, 3, at + 10)
  await file.close()
  let yielded = 0
  const err = await t.throwsAsync(async () => { for await (const _ of readPackage(t.context.store, manifest)) yielded += 1 })
  t.is(err?.name, 'ChunkHashMismatchError')
  t.is(yielded, manifest.chunks.length - 1)
  t.deepEqual(missingChunks(t.context.store, manifest), [manifest.chunks.length - 1])
})

test('an aborted signal stops import and export', async t => {
  const input = join(t.context.dir, 'input.bin')
  await writeFile(input, xorshiftBytes(MiB, 13))
  const aborted = AbortSignal.abort()
  t.is((await t.throwsAsync(importFile(t.context.store, input, { signal: aborted })))?.name, 'AbortError')
  t.is((await t.throwsAsync(importBytes(t.context.store, new Uint8Array(10), { signal: aborted })))?.name, 'AbortError')
  t.is(t.context.store.size(), 0)
  const { manifest } = await importFile(t.context.store, input)
  const output = join(t.context.dir, 'out.bin')
  t.is((await t.throwsAsync(exportFile(t.context.store, manifest, output, { signal: aborted })))?.name, 'AbortError')
  t.false(await exists(output))
})

test('aborting mid-way stops import and export and leaves no output', async t => {
  const data = xorshiftBytes(3 * MiB, 14)
  const input = join(t.context.dir, 'input.bin')
  await writeFile(input, data)
  const importing = new AbortController()
  const importErr = await t.throwsAsync(importFile(t.context.store, input, { signal: importing.signal, onProgress: () => importing.abort() }))
  t.is(importErr?.name, 'AbortError')
  t.false(t.context.store.has(await manifestCidOfBytes(data)), 'no manifest stored')

  const { manifest } = await importBytes(t.context.store, data)
  const exporting = new AbortController()
  const output = join(t.context.dir, 'out.bin')
  const exportErr = await t.throwsAsync(exportFile(t.context.store, manifest, output, { signal: exporting.signal, onProgress: () => exporting.abort() }))
  t.is(exportErr?.name, 'AbortError')
  t.false(await exists(output))
  t.deepEqual((await readdir(t.context.dir)).sort(), ['input.bin', 'store'])
})

/**
 * Imports a 256 MiB file of random bytes in a separate process (so the RSS is
 * not shared with other test files) and samples its RSS on every chunk.
 */
test('importing a 256 MiB file keeps RSS growth far below the file size', async t => {
  const input = join(t.context.dir, 'big.bin')
  const handle = await open(input, 'w')
  for (let i = 0; i < 256; i++) await handle.write(randomBytes(MiB))
  await handle.close()

  const packageUrl = pathToFileURL(join(import.meta.dirname, '../../src/chunks/package.ts')).href
  const storeUrl = pathToFileURL(join(import.meta.dirname, '../../src/chunks/store.ts')).href
  const script = `
    import { importFile } from ${JSON.stringify(packageUrl)}
    import { createChunkStore } from ${JSON.stringify(storeUrl)}
    const [input, dir] = process.argv.slice(1)
    const store = createChunkStore({ dir })
    await store.start()
    const before = process.memoryUsage.rss()
    let peak = before
    const started = performance.now()
    const { manifest } = await importFile(store, input, { onProgress: () => { peak = Math.max(peak, process.memoryUsage.rss()) } })
    const seconds = (performance.now() - started) / 1000
    await store.stop()
    console.log(JSON.stringify({ before, peak, seconds, size: manifest.size, chunks: manifest.chunks.length }))
  `
  const { stdout } = await promisify(execFile)(process.execPath, ['--disable-warning=ExperimentalWarning', '--input-type=module', '-e', script, input, join(t.context.dir, 'big-store')])
  const result = JSON.parse(stdout) as { before: number, peak: number, seconds: number, size: number, chunks: number }
  t.log(`256 MiB import: ${result.seconds.toFixed(1)} s, ${result.chunks} chunks, RSS growth ${((result.peak - result.before) / MiB).toFixed(1)} MiB`)
  t.is(result.size, 256 * MiB)
  t.true(result.peak - result.before < 128 * MiB)
})
