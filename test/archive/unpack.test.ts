import test from 'ava'
import { mkdir, mkdtemp, readdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as tar from 'tar'
import { MessageTooLargeError } from '../../src/core/index.ts'
import { removeUnpacked, unpackStream } from '../../src/archive/index.ts'
import { makeTarGz } from '../helpers/manager.ts'

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

/** The file's bytes in pieces of `size`, as plain Uint8Arrays (not Buffers), the way chunks come from the store. */
async function * plainPieces (file: string, size: number): AsyncGenerator<Uint8Array> {
  const bytes = new Uint8Array(await readFile(file))
  for (let at = 0; at < bytes.byteLength; at += size) yield bytes.slice(at, at + size)
}

test('plain Uint8Array pieces (chunks from the store) unpack like Buffers, and the summary counts entries and bytes', async t => {
  const dir = await scratch(t)
  const upload = await makeTarGz(dir, { 'app/bin/run.sh': '#!/bin/sh\necho hello\n', 'app/config.json': '{"a":1}\n', 'app/big.bin': Buffer.alloc(2 * 1024 * 1024 + 3, 'y') })
  await mkdir(join(dir, 'out'))
  const summary = await unpackStream(plainPieces(upload, 7919), join(dir, 'out'))
  t.deepEqual(summary, { entries: 6, bytes: 2 * 1024 * 1024 + 3 + 21 + 8 }) // './', 'app/', 'app/bin/' and three files
  t.is(await readFile(join(dir, 'out/app/bin/run.sh'), 'utf8'), '#!/bin/sh\necho hello\n')
  t.is((await readFile(join(dir, 'out/app/big.bin'))).byteLength, 2 * 1024 * 1024 + 3)
})

test('reading stops at an unsafe entry', async t => {
  const dir = await scratch(t)
  await mkdir(join(dir, 'pkg/app'), { recursive: true })
  await writeFile(join(dir, 'pkg/app/real'), 'r')
  await symlink('../../../etc/passwd', join(dir, 'pkg/app/outside'))
  await writeFile(join(dir, 'pkg/app/zzz-after'), Buffer.alloc(1024 * 1024, 'z'))
  await tar.c({ file: join(dir, 'bad.tar'), cwd: join(dir, 'pkg') }, ['app/real', 'app/outside', 'app/zzz-after'])
  await mkdir(join(dir, 'out'))
  let read = 0
  async function * counted (): AsyncGenerator<Uint8Array> {
    for await (const piece of plainPieces(join(dir, 'bad.tar'), 4096)) {
      read += piece.byteLength
      yield piece
    }
  }
  const err = await t.throwsAsync(unpackStream(counted(), join(dir, 'out')))
  t.is(err?.name, 'UnsafePackageError')
  t.regex(err?.message ?? '', /app\/outside/)
  t.deepEqual(await readdir(join(dir, 'out/app')), ['real'])
  t.true(read < 1024 * 1024, `read ${read} bytes`)
})
