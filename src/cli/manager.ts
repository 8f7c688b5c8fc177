import type { Command } from 'commander'
import { join } from 'node:path'
import { pino } from 'pino'
import { InvalidOptionError, parseBytes } from '../core/index.ts'
import { readManagerKey, readSwarmFile } from '../node/index.ts'
import { nodeFlags, untilSignal, uploadLimit, type NodeFlags } from './shared.ts'

interface ManagerFlags extends NodeFlags {
  swarm: string
  key: string
  api: string
  token?: string
  insecure?: boolean
  enrollment: string
  chunkAvg?: string
}

/** `pollen manager`: the manager peer and its REST API. */
export function registerManager (program: Command): void {
  nodeFlags(program.command('manager'))
    .description('run the manager: signs and announces tasks, seeds packages, keeps the registry, serves the REST API')
    .requiredOption('--swarm <file>', 'swarm.json made by `pollen init`')
    .requiredOption('--key <file>', 'manager.key made by `pollen init`')
    .requiredOption('--data <dir>', 'data directory (registry, chunks, peer key, tokens)')
    .option('--api <host:port>', 'where the REST API listens', '127.0.0.1:8080')
    .option('--token <token>', 'operator token (scope deploy); also read from POLLEN_TOKEN')
    .option('--insecure', 'serve the API without authentication (only on a trusted, closed network)')
    .option('--enrollment <mode>', 'open: any member of the private network enters the registry; token: only one proving a one-time token from `pollen token enroll`', 'open')
    .option('--chunk-avg <size>', 'average chunk size of the packages it builds, 16KiB to 2MiB (default 256KiB); smaller suits slow links; keep it fixed across versions, or the next deploy shares no chunks')
    .action(async (flags: ManagerFlags) => { await runManager(flags) })
}

async function runManager (flags: ManagerFlags): Promise<void> {
  // Loaded here, not at the top: every `pollen` command loads this file, an agent's start too.
  const [{ createApi }, { createManager, listTokens }] = await Promise.all([import('../api/index.ts'), import('../manager/index.ts')])
  const { host, port } = parseHostPort(flags.api)
  const operatorToken = nonEmpty(flags.token) ?? nonEmpty(process.env.POLLEN_TOKEN)
  if (operatorToken == null && flags.insecure !== true && (await listTokens(flags.data)).length === 0) {
    throw new InvalidOptionError('refusing to start without an API token: pass --token, set POLLEN_TOKEN, create one with `pollen token create`, or pass --insecure')
  }
  if (flags.enrollment !== 'open' && flags.enrollment !== 'token') throw new InvalidOptionError(`--enrollment must be open or token, got ${JSON.stringify(flags.enrollment)}`)
  const swarm = await readSwarmFile(flags.swarm)
  const managerKey = await readManagerKey(flags.key)
  const log = pino({ name: 'pollen-manager' }, pino.destination(2))
  const manager = createManager({
    swarm,
    managerKey,
    dataDir: flags.data,
    node: { listen: flags.listen, bootstrap: flags.bootstrap, mdns: flags.mdns },
    uploadBytesPerSecond: uploadLimit(flags),
    operatorToken,
    enrollment: flags.enrollment,
    ...(flags.chunkAvg == null ? {} : { avgChunkBytes: parseBytes(flags.chunkAvg) }),
    logger: log
  })
  await manager.start()
  try {
    const app = await createApi({ service: manager, logger: { stream: process.stderr }, auth: flags.insecure !== true, uploadDir: join(flags.data, 'scratch') })
    await app.listen({ host, port })
    const bound = app.server.address()
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${typeof bound === 'object' && bound != null ? bound.port : port}`
    process.stdout.write(`manager of swarm ${swarm.name}: peer ${manager.node.peerId.toString()}\n`)
    for (const addr of manager.node.addresses()) process.stdout.write(`  listening on ${addr.toString()}\n`)
    process.stdout.write(`  API on ${url}${flags.insecure === true ? ' (NO AUTHENTICATION)' : ''}, docs at ${url}/docs\n`)
    await untilSignal()
    await app.close()
  } finally {
    await manager.stop()
  }
}

/** `127.0.0.1:8080`, `[::1]:8080`, `:8080` (all interfaces). */
export function parseHostPort (text: string): { host: string, port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text)
  const port = Number(match?.[3])
  if (match == null || port > 65_535) throw new InvalidOptionError(`--api ${JSON.stringify(text)}: expected host:port, e.g. 127.0.0.1:8080`)
  return { host: match[1] ?? (match[2] === '' ? '0.0.0.0' : match[2]!), port }
}

function nonEmpty (text: string | undefined): string | undefined {
  return text == null || text === '' ? undefined : text
}
