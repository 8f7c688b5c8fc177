/**
 * The CLI compiled to JavaScript, for bench runs that start many `pollen`
 * processes at once: each process otherwise strips the types of every
 * TypeScript file it loads (about 0.3 CPU s of a 1.7 s start, measured at
 * idle). Built fresh for every run, so it never lags the sources.
 */
import { execFile } from 'node:child_process'
import { copyFile, mkdir, symlink } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const REPO = fileURLToPath(new URL('..', import.meta.url))

/** Options of {@link buildCompiledCli}. */
export interface CompiledCliOptions {
  /** Give up (the build is killed) after this long. @default 300_000 */
  readonly timeoutMs?: number
  readonly signal?: AbortSignal
}

/**
 * Compile `src/` into `<dir>/dist` and lay out `<dir>` as the repository
 * does (`bin/pollen.js`, `package.json`, `node_modules` linked back), so
 * `bin/pollen.js` there, finding no `src/`, runs `dist/cli/main.js` and
 * every relative path the code resolves from its own URL still holds.
 * Returns the path of that `bin/pollen.js`.
 */
export async function buildCompiledCli (dir: string, options: CompiledCliOptions = {}): Promise<string> {
  await mkdir(join(dir, 'bin'), { recursive: true })
  const tsc = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc')
  await run(process.execPath, [tsc, '-p', join(REPO, 'tsconfig.build.json'), '--outDir', join(dir, 'dist'),
    '--declaration', 'false', '--sourceMap', 'false', '--incremental', 'false'], {
    timeout: options.timeoutMs ?? 300_000,
    ...(options.signal != null ? { signal: options.signal } : {})
  })
  await copyFile(join(REPO, 'bin', 'pollen.js'), join(dir, 'bin', 'pollen.js'))
  await copyFile(join(REPO, 'package.json'), join(dir, 'package.json'))
  await symlink(join(REPO, 'node_modules'), join(dir, 'node_modules'), 'dir')
  return join(dir, 'bin', 'pollen.js')
}
