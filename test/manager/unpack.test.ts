import test from 'ava'
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as tar from 'tar'
import { MessageTooLargeError } from '../../src/core/index.ts'
import { removeUnpacked, unpackStream } from '../../src/manager/unpack.ts'
import { makeSwarm, makeTarGz, startManager } from '../helpers/manager.ts'

const LIMITS = { maxEntries: 1000, maxBytes: 1 << 30 }

/** A file's bytes in pieces of `size` (the way an upload arrives). */
async function * piecesOf (file: string, size = 1000): AsyncGenerator<Uint8Array> {
  const bytes = await readFile(file)
  for (let o = 0; o < bytes.byteLength; o += size) yield bytes.subarray(o, o + size)
}

async function scratch (t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pollen-unpack-'))
  t.teardown(async () => { await removeUnpacked(dir) })
  return dir
}

test('a tar.gz fed in small pieces unpacks with its contents', async t => {
  const dir = await scratch(t)
  const upload = await makeTarGz(dir, { 'app/run.sh': '#!/bin/sh\n', 'app/data.bin': new Uint8Array(300_000).fill(7) })
  await mkdir(join(dir, 'out'))
  await unpackStream(piecesOf(upload), join(dir, 'out'), LIMITS)
  t.is(await readFile(join(dir, 'out/app/run.sh'), 'utf8'), '#!/bin/sh\n')
  t.true((await readFile(join(dir, 'out/app/data.bin'))).equals(Buffer.alloc(300_000, 7)))
})

test('an entry with ".." is refused by name and nothing from it is written', async t => {
  const dir = await scratch(t)
  await mkdir(join(dir, 'evil/inner'), { recursive: true })
  await writeFile(join(dir, 'evil/escape.txt'), 'x')
  await tar.c({ file: join(dir, 'evil.tar'), cwd: join(dir, 'evil/inner'), preservePaths: true }, ['../escape.txt'])
  await mkdir(join(dir, 'out/inner'), { recursive: true })
  const err = await t.throwsAsync(unpackStream(piecesOf(join(dir, 'evil.tar')), join(dir, 'out/inner'), LIMITS))
  t.is(err?.name, 'UnsafePackageError')
  t.regex(err?.message ?? '', /\.\.\/escape\.txt/)
  t.deepEqual(await readdir(join(dir, 'out')), ['inner'])
  t.deepEqual(await readdir(join(dir, 'out/inner')), [])
})

test('the entry and byte limits are counted from the headers, before the content is written', async t => {
  const dir = await scratch(t)
  const upload = await makeTarGz(dir, { 'a/1': '1', 'a/2': '2', 'a/3': '3', 'b/zeros': new Uint8Array(1024 * 1024) })
  await mkdir(join(dir, 'few'))
  const entries = await t.throwsAsync(unpackStream(piecesOf(upload), join(dir, 'few'), { maxEntries: 3, maxBytes: 1 << 30 }))
  t.is(entries?.name, 'UnsafePackageError')
  t.regex(entries?.message ?? '', /more than 3 entries/)
  await mkdir(join(dir, 'small'))
  const bytes = await t.throwsAsync(unpackStream(piecesOf(upload), join(dir, 'small'), { maxEntries: 1000, maxBytes: 64 * 1024 }))
  t.is(bytes?.name, 'UnsafePackageError')
  t.regex(bytes?.message ?? '', /exceeds 65536 bytes/)
  await t.throwsAsync(readFile(join(dir, 'small/b/zeros')), { code: 'ENOENT' })
})

test('bytes that are no archive are refused as such; the source\'s own error passes through', async t => {
  const dir = await scratch(t)
  async function * garbage (): AsyncGenerator<Uint8Array> { yield new Uint8Array(4096).fill(0x41) }
  const err = await t.throwsAsync(unpackStream(garbage(), dir, LIMITS))
  t.is(err?.name, 'UnsafePackageError')
  const upload = await makeTarGz(dir, { 'app/x': new Uint8Array(200_000).fill(1) })
  async function * overLimit (): AsyncGenerator<Uint8Array> {
    yield * piecesOf(upload, 100)
    throw new MessageTooLargeError('the package is larger than the limit')
  }
  await mkdir(join(dir, 'out'))
  const source = await t.throwsAsync(unpackStream(overLimit(), join(dir, 'out'), LIMITS))
  t.is(source?.name, 'MessageTooLargeError')
})

test('a package received as a stream gets the package CID of the same upload as a file; its scratch directory goes', async t => {
  const s = await makeSwarm()
  t.teardown(s.cleanup)
  const manager = await startManager(s)
  t.teardown(async () => { await manager.stop() })
  const upload = await makeTarGz(s.root, { 'app/run.sh': 'exec sleep 1\n', 'app/blob': new Uint8Array(700_000).fill(3) })
  const spec = { stages: { transfer: ['app'], install: ['true'], run: ['true'] }, target: { tags: ['x'] } }
  const fromFile = await manager.createTask({ spec, packagePath: upload })
  const received = await manager.receivePackage(piecesOf(upload, 4096))
  const fromStream = await manager.createTask({ spec, received })
  await received.dispose()
  t.is(fromStream.package?.cid, fromFile.package?.cid)
  t.deepEqual(await readdir(join(s.root, 'manager', 'scratch')), [])
  async function * garbage (): AsyncGenerator<Uint8Array> { yield new Uint8Array(4096).fill(0x41) }
  const err = await t.throwsAsync(manager.receivePackage(garbage()))
  t.is(err?.name, 'UnsafePackageError')
  t.deepEqual(await readdir(join(s.root, 'manager', 'scratch')), [], 'a refused upload leaves nothing behind')
})
