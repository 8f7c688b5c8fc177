import test from 'ava'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { makeSwarm, makeTarGz, startManager } from '../helpers/manager.ts'

/** A file's bytes in pieces of `size` (the way an upload arrives). */
async function * piecesOf (file: string, size = 1000): AsyncGenerator<Uint8Array> {
  const bytes = await readFile(file)
  for (let o = 0; o < bytes.byteLength; o += size) yield bytes.subarray(o, o + size)
}

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
