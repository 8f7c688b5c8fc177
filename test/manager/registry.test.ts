import test from 'ava'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRegistry, type TaskRecord } from '../../src/manager/registry.ts'

function taskRecord (id: string, seq: number): TaskRecord {
  return { signed: { body: { kind: 'task', id, seq } }, managerUploadBytes: 0 } as unknown as TaskRecord
}

test('sequence numbers after a restart lie above every one handed out, stored, or taken by a stored task', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'pollen-registry-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const first = createRegistry(dir)
  await first.open()
  const seqs = await Promise.all(Array.from({ length: 50 }, async () => await first.nextSeq()))
  t.deepEqual([...seqs].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i + 1), 'unique and dense')
  await first.putTask(taskRecord('late', 80)) // as if the write of its number had been lost in a crash
  await first.close()

  const second = createRegistry(dir)
  await second.open()
  t.is(await second.nextSeq(), 81)
  await second.close()
})
