import anyTest, { type TestFn } from 'ava'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { appendFile, mkdtemp, readdir, rm, stat, truncate, unlink, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'
import { base58btc } from 'multiformats/bases/base58'
import { create as createDigest } from 'multiformats/hashes/digest'
import { createChunkStore, type ChunkStore } from '../../src/chunks/store.ts'
import { bytesMatchCid, chunkCid, CID, manifestBlock, parseCid, type Manifest } from '../../src/core/index.ts'

interface Context { dir: string, stores: ChunkStore[] }
const test = anyTest as TestFn<Context>

test.beforeEach(async t => {
  t.context.dir = await mkdtemp(join(tmpdir(), 'pollen-store-'))
  t.context.stores = []
})

test.afterEach.always(async t => {
  for (const store of t.context.stores) await store.stop()
  await rm(t.context.dir, { recursive: true, force: true })
})

async function startStore (context: Context, maxPackBytes?: number): Promise<ChunkStore> {
  const store = createChunkStore({ dir: context.dir, maxPackBytes })
  context.stores.push(store)
  await store.start()
  return store
}

async function restart (context: Context, store: ChunkStore): Promise<ChunkStore> {
  await store.stop()
  return startStore(context)
}

function chunk (length = 1000): { cid: string, bytes: Uint8Array } {
  const bytes = new Uint8Array(randomBytes(length))
  return { cid: chunkCid(bytes).toString(), bytes }
}

function packPath (dir: string, pack: number): string {
  return join(dir, 'packs', `${pack}.pack`)
}

/** Pack file name → size, of every pack in the store's directory. */
async function packSizes (dir: string): Promise<Record<string, number>> {
  const sizes: Record<string, number> = {}
  for (const name of await readdir(join(dir, 'packs'))) sizes[name] = (await stat(join(dir, 'packs', name))).size
  return sizes
}

async function totalPackBytes (dir: string): Promise<number> {
  return Object.values(await packSizes(dir)).reduce((a, b) => a + b, 0)
}

test('put, has, get, size and bytesStored', async t => {
  const store = await startStore(t.context)
  const a = chunk(1000)
  const b = chunk(2345)
  t.false(store.has(a.cid))
  await store.put(a.cid, a.bytes)
  await store.put(b.cid, b.bytes)
  t.true(store.has(a.cid))
  t.deepEqual(await store.get(a.cid), a.bytes)
  t.deepEqual(await store.get(b.cid), b.bytes)
  t.is(store.size(), 2)
  t.is(store.bytesStored(), 3345)
})

test('put of an already present cid is a no-op', async t => {
  const store = await startStore(t.context)
  const a = chunk()
  await Promise.all([store.put(a.cid, a.bytes), store.put(a.cid, a.bytes)])
  await store.put(a.cid, a.bytes)
  t.is(store.size(), 1)
  t.is(store.bytesStored(), a.bytes.byteLength)
  t.is(await totalPackBytes(t.context.dir), a.bytes.byteLength, 'the bytes were written once')
})

test('add stores a chunk under the raw CID of its bytes, once, and returns it', async t => {
  const store = await startStore(t.context)
  const a = chunk(4321)
  const [first, second] = await Promise.all([store.add(a.bytes), store.add(a.bytes)])
  t.is(first, a.cid)
  t.is(second, a.cid)
  t.true(store.has(a.cid))
  t.deepEqual(await store.get(a.cid), a.bytes)
  t.is(await totalPackBytes(t.context.dir), a.bytes.byteLength, 'the bytes were written once')
  const restarted = await restart(t.context, store)
  t.deepEqual(await restarted.get(a.cid), a.bytes, 'committed like a put')
})

test('put with wrong bytes throws ChunkHashMismatchError and stores nothing', async t => {
  const store = await startStore(t.context)
  const a = chunk()
  const wrong = a.bytes.slice()
  wrong[0] = (wrong[0] ?? 0) ^ 1
  const err = await t.throwsAsync(store.put(a.cid, wrong))
  t.is(err?.name, 'ChunkHashMismatchError')
  t.false(store.has(a.cid))
  t.is(store.size(), 0)
  t.is(await totalPackBytes(t.context.dir), 0)
})

test('a restarted store still has what was put', async t => {
  let store = await startStore(t.context)
  const a = chunk(5000)
  await store.put(a.cid, a.bytes)
  store = await restart(t.context, store)
  t.true(store.has(a.cid))
  t.is(store.size(), 1)
  t.is(store.bytesStored(), 5000)
  t.deepEqual(await store.get(a.cid), a.bytes)
})

test('index entries whose pack file was deleted are dropped on start', async t => {
  let store = await startStore(t.context, 1500)
  const a = chunk()
  const b = chunk()
  await store.put(a.cid, a.bytes)
  await store.put(b.cid, b.bytes)
  t.deepEqual(Object.keys(await packSizes(t.context.dir)).sort(), ['0.pack', '1.pack'], 'a pack rolls over at maxPackBytes')
  await store.stop()
  await unlink(packPath(t.context.dir, 0))
  store = await startStore(t.context, 1500)
  t.false(store.has(a.cid))
  t.true(store.has(b.cid))
  t.is(store.size(), 1)
  store = await restart(t.context, store)
  t.false(store.has(a.cid))
  t.deepEqual(await store.get(b.cid), b.bytes)
})

test('an index entry past the end of a truncated pack is dropped on start, and the pack trimmed', async t => {
  let store = await startStore(t.context)
  const a = chunk()
  const b = chunk()
  await store.put(a.cid, a.bytes)
  await store.put(b.cid, b.bytes)
  await store.stop()
  await truncate(packPath(t.context.dir, 0), a.bytes.byteLength + 10)
  store = await startStore(t.context)
  t.true(store.has(a.cid))
  t.false(store.has(b.cid))
  t.is(store.bytesStored(), a.bytes.byteLength)
  t.is(await totalPackBytes(t.context.dir), a.bytes.byteLength)
  t.is((await t.throwsAsync(store.get(b.cid)))?.name, 'ChunkNotFoundError')
  t.deepEqual(await store.get(a.cid), a.bytes)
})

test('bytes written but never indexed (a crash before the commit) are trimmed on start', async t => {
  let store = await startStore(t.context)
  const a = chunk()
  await store.put(a.cid, a.bytes)
  await store.stop()
  const b = chunk()
  await appendFile(packPath(t.context.dir, 0), b.bytes)
  store = await startStore(t.context)
  t.false(store.has(b.cid))
  t.is(store.size(), 1)
  t.is(await totalPackBytes(t.context.dir), a.bytes.byteLength)
})

test('a pack holding no indexed block (a crash before indexing) is removed on start', async t => {
  await mkdir(join(t.context.dir, 'packs'), { recursive: true })
  await writeFile(packPath(t.context.dir, 1), chunk().bytes)
  await writeFile(packPath(t.context.dir, 3), chunk().bytes)
  const store = await startStore(t.context)
  t.is(store.size(), 0)
  t.deepEqual(await packSizes(t.context.dir), { '3.pack': 0 }, 'older packs removed, the newest trimmed')
  const a = chunk()
  await store.put(a.cid, a.bytes)
  t.deepEqual(await store.get(a.cid), a.bytes)
})

const INVALID_CIDS = [
  '',
  'not a cid',
  '../../etc/passwd',
  'bafkreiao3up66ykzwrupz7drsdrwcaljhein7k7aam2tlrlgoncqwb2b4u/../x',
  'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG', // CIDv0
  CID.createV1(0x70, chunkCid(new Uint8Array(1)).multihash).toString(), // dag-pb codec
  CID.createV1(0x55, createDigest(0x00, new Uint8Array([1, 2, 3]))).toString() // identity hash
]

test('invalid CID strings are rejected with InvalidCidError', async t => {
  const store = await startStore(t.context)
  const bytes = new Uint8Array([1, 2, 3])
  for (const cid of INVALID_CIDS) {
    t.is(t.throws(() => store.has(cid))?.name, 'InvalidCidError', cid)
    t.is((await t.throwsAsync(store.get(cid)))?.name, 'InvalidCidError', cid)
    t.is((await t.throwsAsync(store.put(cid, bytes)))?.name, 'InvalidCidError', cid)
    t.is((await t.throwsAsync(store.delete(cid)))?.name, 'InvalidCidError', cid)
    t.is((await t.throwsAsync(store.getManifest(cid)))?.name, 'InvalidCidError', cid)
  }
  t.is(await totalPackBytes(t.context.dir), 0, 'nothing written, wherever an invalid CID might point')
  t.deepEqual((await readdir(t.context.dir)).sort(), ['index', 'packs'])
})

test('a CID in another base is accepted and normalized', async t => {
  const store = await startStore(t.context)
  const a = chunk()
  const other = parseCid(a.cid).toString(base58btc)
  await store.put(other, a.bytes)
  t.true(store.has(a.cid))
  t.true(store.has(other))
  t.deepEqual(await store.get(other), a.bytes)
})

test('get of an absent block throws ChunkNotFoundError', async t => {
  const store = await startStore(t.context)
  const err = await t.throwsAsync(store.get(chunk().cid))
  t.is(err?.name, 'ChunkNotFoundError')
})

test('a pack cut short while running: get reports the block missing and forgets it', async t => {
  const store = await startStore(t.context)
  const a = chunk()
  await store.put(a.cid, a.bytes)
  await truncate(packPath(t.context.dir, 0), 0)
  t.is((await t.throwsAsync(store.get(a.cid)))?.name, 'ChunkNotFoundError')
  t.false(store.has(a.cid))
  await store.put(a.cid, a.bytes)
  t.deepEqual(await store.get(a.cid), a.bytes)
})

test('delete forgets the block, and removes a pack once all its blocks are deleted', async t => {
  let store = await startStore(t.context, 1500)
  const a = chunk()
  const b = chunk()
  await store.put(a.cid, a.bytes)
  await store.put(b.cid, b.bytes)
  await store.delete(a.cid)
  await store.delete(a.cid)
  t.false(store.has(a.cid))
  t.is(store.size(), 1)
  t.is(store.bytesStored(), b.bytes.byteLength)
  t.is((await t.throwsAsync(store.get(a.cid)))?.name, 'ChunkNotFoundError')
  t.deepEqual(Object.keys(await packSizes(t.context.dir)), ['1.pack'])
  store = await restart(t.context, store)
  t.false(store.has(a.cid))
  t.true(store.has(b.cid))
})

test('putManifest and getManifest round trip under a json CID', async t => {
  const store = await startStore(t.context)
  const a = chunk(10)
  const manifest: Manifest = { version: 1, size: 10, chunks: [{ cid: a.cid, size: 10 }] }
  const cid = await store.putManifest(manifest)
  t.is(cid, manifestBlock(manifest).cid.toString())
  t.true(store.has(cid))
  t.deepEqual(await store.getManifest(cid), manifest)
  t.is((await t.throwsAsync(store.getManifest(a.cid)))?.name, 'InvalidCidError')
})

test('put accepts a manifest block under its json CID and checks its hash', async t => {
  const store = await startStore(t.context)
  const { bytes, cid } = manifestBlock({ version: 1, size: 0, chunks: [] })
  t.is((await t.throwsAsync(store.put(cid.toString(), new Uint8Array([...bytes, 0x20]))))?.name, 'ChunkHashMismatchError')
  t.false(store.has(cid.toString()))
  await store.put(cid.toString(), bytes)
  t.deepEqual(await store.getManifest(cid.toString()), { version: 1, size: 0, chunks: [] })
})

test('putManifest refuses an invalid manifest', async t => {
  const store = await startStore(t.context)
  const bad = { version: 1, size: 5, chunks: [] } as Manifest
  t.is((await t.throwsAsync(store.putManifest(bad)))?.name, 'InvalidManifestError')
  t.is(store.size(), 0)
})

test('start and stop are idempotent; a stopped store can start again', async t => {
  const store = createChunkStore({ dir: t.context.dir })
  t.context.stores.push(store)
  await store.stop()
  await Promise.all([store.start(), store.start()])
  await store.start()
  const a = chunk()
  await store.put(a.cid, a.bytes)
  await store.stop()
  await store.stop()
  t.false(store.has(a.cid))
  await store.start()
  t.true(store.has(a.cid))
})

test('stop right after start leaves the store stopped', async t => {
  const store = createChunkStore({ dir: t.context.dir })
  const starting = store.start()
  await store.stop()
  await starting
  const a = chunk()
  t.is((await t.throwsAsync(store.put(a.cid, a.bytes)))?.name, 'PollenError')
  await startStore(t.context) // the index lock was released
  t.pass()
})

test('operations on a store that is not started are refused', async t => {
  const store = createChunkStore({ dir: t.context.dir })
  const a = chunk()
  t.is((await t.throwsAsync(store.put(a.cid, a.bytes)))?.name, 'PollenError')
  t.false(store.has(a.cid))
})

test('stop waits for puts in progress', async t => {
  let store = await startStore(t.context)
  const chunks = Array.from({ length: 20 }, () => chunk(10_000))
  const puts = chunks.map(async c => store.put(c.cid, c.bytes))
  await store.stop()
  await Promise.all(puts)
  store = await startStore(t.context)
  t.is(store.size(), 20)
})

test('a second store on the same directory cannot start', async t => {
  await startStore(t.context)
  const other = createChunkStore({ dir: t.context.dir })
  await t.throwsAsync(other.start())
  t.is(other.size(), 0)
})

test('an aborted put throws and stores nothing', async t => {
  const store = await startStore(t.context)
  const a = chunk()
  const err = await t.throwsAsync(store.put(a.cid, a.bytes, { signal: AbortSignal.abort() }))
  t.is(err?.name, 'AbortError')
  t.false(store.has(a.cid))
  t.is(await totalPackBytes(t.context.dir), 0)
})

/**
 * A child process puts chunks as fast as it can, from several independent
 * loops, and is killed with SIGKILL mid-way (this leaves written but unindexed
 * bytes in the packs): a restarted store must hold only complete, correct
 * blocks, including every put the child saw complete, and its packs must end
 * where its last indexed block ends. Three rounds on one dir.
 */
test('kill -9 during puts leaves no half-written block present', async t => {
  const acknowledged: string[] = []
  for (let round = 0; round < 3; round++) {
    acknowledged.push(...await putUntilKilled(t.context.dir, 37))
    const store = await startStore(t.context)
    for (const cid of acknowledged) {
      t.true(store.has(cid), cid)
      t.true(bytesMatchCid(await store.get(cid), parseCid(cid)), cid)
    }
    t.true(store.size() >= acknowledged.length)
    // Unindexed bytes at the newest pack's tail are trimmed. A put still writing at the kill whose
    // offset lies before a later, finished put's stays as a hole (at most one per concurrent put).
    const holes = await totalPackBytes(t.context.dir) - store.bytesStored()
    t.true(holes >= 0 && holes <= (round + 1) * PUTS_AT_ONCE * MAX_PUT_BYTES, `${holes} unindexed bytes in the packs`)
    await store.stop()
  }
})

/** Puts the child of {@link putUntilKilled} runs at once, and the largest it writes. */
const PUTS_AT_ONCE = 4
const MAX_PUT_BYTES = 16 * 1024 + 1024 * 1024

/** Run a child that puts random chunks into a store on `dir`; SIGKILL it after `count` puts completed. */
async function putUntilKilled (dir: string, count: number): Promise<string[]> {
  const storeUrl = pathToFileURL(join(import.meta.dirname, '../../src/chunks/store.ts')).href
  const cidUrl = pathToFileURL(join(import.meta.dirname, '../../src/core/cid.ts')).href
  const script = `
    import { createChunkStore } from ${JSON.stringify(storeUrl)}
    import { chunkCid } from ${JSON.stringify(cidUrl)}
    import { randomBytes } from 'node:crypto'
    const store = createChunkStore({ dir: process.argv[1] })
    await store.start()
    const putOne = async () => {
      const bytes = randomBytes(16 * 1024 + Math.floor(Math.random() * 1024 * 1024))
      const cid = chunkCid(bytes).toString()
      await store.put(cid, bytes)
      process.stdout.write(cid + '\\n')
    }
    const loop = async () => { for (;;) await putOne() }
    await Promise.all([loop(), loop(), loop(), loop()])
  `
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', '--input-type=module', '-e', script, dir], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise(resolve => child.once('exit', resolve))
  const acknowledged: string[] = []
  for await (const line of createInterface({ input: child.stdout })) {
    acknowledged.push(line)
    if (acknowledged.length === count) child.kill('SIGKILL')
  }
  await exited
  return acknowledged
}
