import test from 'ava'
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as tar from 'tar'
import { checkArchive, extractArchive, packDeterministic, packDeterministicStream } from '../../src/archive/index.ts'
import { checkArchiveEntry } from '../../src/core/index.ts'

async function scratch (t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pollen-archive-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

async function makeTree (root: string): Promise<void> {
  await mkdir(join(root, 'app/bin'), { recursive: true })
  await writeFile(join(root, 'app/bin/run.sh'), '#!/bin/sh\necho hello\n')
  await chmod(join(root, 'app/bin/run.sh'), 0o755)
  await writeFile(join(root, 'app/config.json'), '{"a":1}\n')
  await writeFile(join(root, 'README'), 'not delivered\n')
}

test('checkArchiveEntry refuses what could escape the release directory, naming the entry', t => {
  const refuse = (entry: Parameters<typeof checkArchiveEntry>[0]): string => {
    const err = t.throws(() => { checkArchiveEntry(entry) })
    t.is(err?.name, 'UnsafePackageError')
    t.true(err?.message.includes(JSON.stringify(entry.path)))
    return err?.message ?? ''
  }
  refuse({ path: '/etc/passwd', type: 'File', size: 1 })
  refuse({ path: 'a/../../etc/passwd', type: 'File', size: 1 })
  refuse({ path: '..', type: 'Directory', size: 0 })
  refuse({ path: 'link', type: 'SymbolicLink', linkpath: '/etc', size: 0 })
  refuse({ path: 'a/link', type: 'SymbolicLink', linkpath: '../../x', size: 0 })
  refuse({ path: 'hard', type: 'Link', linkpath: '../x', size: 0 })
  t.regex(refuse({ path: 'dev/sda', type: 'BlockDevice', size: 0 }), /BlockDevice/)
  refuse({ path: 'tty', type: 'CharacterDevice', size: 0 })
  refuse({ path: 'pipe', type: 'FIFO', size: 0 })
  t.notThrows(() => { checkArchiveEntry({ path: 'a/b/link', type: 'SymbolicLink', linkpath: '../c', size: 0 }) })
  t.notThrows(() => { checkArchiveEntry({ path: 'a/hard', type: 'Link', linkpath: 'a/file', size: 0 }) })
})

test('packDeterministic gives identical bytes for identical content, whatever the mtimes', async t => {
  const dir = await scratch(t)
  await makeTree(join(dir, 'one'))
  await new Promise(resolve => setTimeout(resolve, 20))
  await makeTree(join(dir, 'two'))
  await packDeterministic(join(dir, 'one'), ['app'], join(dir, 'one.tar'))
  await packDeterministic(join(dir, 'two'), ['app'], join(dir, 'two.tar'))
  t.deepEqual(await readFile(join(dir, 'one.tar')), await readFile(join(dir, 'two.tar')))
  const names: string[] = []
  await tar.t({ file: join(dir, 'one.tar'), onReadEntry: e => { names.push(e.path) } })
  t.deepEqual(names, ['app/', 'app/bin/', 'app/bin/run.sh', 'app/config.json'])
})

test('packDeterministicStream streams the bytes packDeterministic writes', async t => {
  const dir = await scratch(t)
  await makeTree(join(dir, 'tree'))
  await writeFile(join(dir, 'tree', 'app', 'big.bin'), Buffer.alloc(3 * 1024 * 1024 + 7, 'x'))
  await packDeterministic(join(dir, 'tree'), ['app'], join(dir, 'file.tar'))
  const pieces: Uint8Array[] = []
  for await (const piece of await packDeterministicStream(join(dir, 'tree'), ['app'])) pieces.push(piece)
  t.true(Buffer.concat(pieces).equals(await readFile(join(dir, 'file.tar'))))
})

test('extractArchive unpacks a tar.gz with modes, and refuses an entry with ".." before writing anything', async t => {
  const dir = await scratch(t)
  await makeTree(join(dir, 'src'))
  await tar.c({ file: join(dir, 'p.tar.gz'), gzip: true, cwd: join(dir, 'src') }, ['app'])
  await mkdir(join(dir, 'out'))
  const summary = await extractArchive(join(dir, 'p.tar.gz'), join(dir, 'out'))
  t.is(summary.entries, 4)
  t.is(await readFile(join(dir, 'out/app/bin/run.sh'), 'utf8'), '#!/bin/sh\necho hello\n')

  await mkdir(join(dir, 'evil/inner'), { recursive: true })
  await writeFile(join(dir, 'evil/escape.txt'), 'x')
  await tar.c({ file: join(dir, 'evil.tar'), cwd: join(dir, 'evil/inner'), preservePaths: true }, ['../escape.txt'])
  await mkdir(join(dir, 'out2'))
  const err = await t.throwsAsync(extractArchive(join(dir, 'evil.tar'), join(dir, 'out2')))
  t.is(err?.name, 'UnsafePackageError')
  t.regex(err?.message ?? '', /\.\.\/escape\.txt/)
  t.deepEqual(await readdir(join(dir, 'out2')), [])
})

test('a symlink leaving the package is refused; one inside is kept', async t => {
  const dir = await scratch(t)
  await mkdir(join(dir, 'pkg/app'), { recursive: true })
  await writeFile(join(dir, 'pkg/app/real'), 'r')
  await symlink('real', join(dir, 'pkg/app/inside'))
  await tar.c({ file: join(dir, 'ok.tar'), cwd: join(dir, 'pkg') }, ['app'])
  t.is((await checkArchive(join(dir, 'ok.tar'))).entries, 3)
  await symlink('../../../etc/passwd', join(dir, 'pkg/app/outside'))
  await tar.c({ file: join(dir, 'bad.tar'), cwd: join(dir, 'pkg') }, ['app'])
  const err = await t.throwsAsync(checkArchive(join(dir, 'bad.tar')))
  t.is(err?.name, 'UnsafePackageError')
  t.regex(err?.message ?? '', /app\/outside/)
})

test('something that is not an archive is refused as such', async t => {
  const dir = await scratch(t)
  await writeFile(join(dir, 'junk.tar'), Buffer.alloc(3000, 7))
  const err = await t.throwsAsync(checkArchive(join(dir, 'junk.tar')))
  t.is(err?.name, 'UnsafePackageError')
  t.regex(err?.message ?? '', /not a valid tar/)
})
