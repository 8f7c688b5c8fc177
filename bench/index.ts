/**
 * Pollen benchmarks: `npm run bench -- <mode> [options]`. Each mode lives in
 * `bench/<mode>.ts`; this file parses argv and dispatches (each mode's module
 * is loaded only when it runs: libp2p alone takes seconds). Bad options exit 2.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import { parseBytes, parseRate } from '../src/core/units.ts'
import { cleanupOnSignals, interrupted, runCleanup } from './common.ts'
import type { RelayMode } from '../src/agent/index.ts'

interface FetchCliOptions {
  peers: number
  size: number
  up: number
  originUp?: number
  chunkAvg?: number
  workers: number
  json: boolean
  raw: boolean
}

interface SimulateCliOptions {
  agents: number
  size: number
  chunk: number
  up: number
  originUp?: number
  down: number
  degree: number
  originDegree: number
  latency: number
  slots?: number
  coalesce?: number
  seed: number
  validate: boolean
  workers: number
  json: boolean
  plot?: string
  out: string
}

/** Wrap a parser so commander reports its error as a bad option argument. */
function arg<T> (parse: (text: string) => T): (text: string) => T {
  return text => {
    try {
      return parse(text)
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message)
    }
  }
}

function positiveInt (text: string): number {
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got ${JSON.stringify(text)}`)
  return n
}

/** A status relay mode (`auto`, `always`, `never`). */
function relayMode (text: string): RelayMode {
  if (text === 'auto' || text === 'always' || text === 'never') return text
  throw new InvalidArgumentError('must be auto, always or never')
}

function nonNegativeInt (text: string): number {
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`expected an integer >= 0, got ${JSON.stringify(text)}`)
  return n
}

/** A share in (0, 1): `10%` or `0.1`. */
function parseShare (text: string): number {
  const n = text.endsWith('%') ? Number(text.slice(0, -1)) / 100 : Number(text)
  if (!(n > 0 && n < 1)) throw new Error(`expected a share between 0 and 1 (or 0% and 100%), got ${JSON.stringify(text)}`)
  return n
}

function positiveBytes (text: string): number {
  const n = parseBytes(text)
  if (n === 0) throw new Error('must be more than 0 bytes')
  return n
}

async function runFetch (o: FetchCliOptions): Promise<void> {
  if (o.raw) {
    await (await import('./raw.ts')).runRawBench({ size: o.size, chunkAvg: o.chunkAvg, json: o.json })
    return
  }
  await (await import('./fetch.ts')).runFetchBench({
    peers: o.peers, size: o.size, up: o.up, originUp: o.originUp ?? o.up, chunkAvg: o.chunkAvg, workers: o.workers, json: o.json
  })
}

function program (): Command {
  const cli = new Command('bench').description('Pollen benchmarks').exitOverride()
  cli.command('fetch')
    .description('one origin and N fetchers with capped uploads fetch one package; with --raw, pollen vs a raw libp2p stream')
    .option('--peers <n>', 'fetchers', positiveInt, 8)
    .addOption(new Option('--size <size>', 'package size, e.g. 32MiB').argParser(arg(positiveBytes)).default(32 * 1024 * 1024, '32MiB'))
    .addOption(new Option('--up <rate>', 'upload cap of every fetcher, e.g. 4MiB/s, 50mbit, unlimited').argParser(arg(parseRate)).default(Infinity, 'unlimited'))
    .option('--origin-up <rate>', 'upload cap of the origin (default: --up)', arg(parseRate))
    .option('--chunk-avg <size>', 'average chunk size (min = avg/4, max = avg*4)', arg(positiveBytes))
    .option('--workers <n>', 'spread the fetchers over this many child processes (1: all in process)', positiveInt, 1)
    .option('--json', 'print a JSON object as the last line', false)
    .option('--raw', 'unthrottled single fetch vs a raw libp2p stream (uses --size, --chunk-avg)', false)
    .exitOverride()
    .action(async (o: FetchCliOptions) => { await runFetch(o) })
  cli.command('inprocess')
    .description('manager (REST API) and N agents in this process: the full path REST → signed task → swarm fetch → install → RUN SUCCESS, beside HTTP fan-out, against the lower bound')
    .option('--agents <n>', 'agents', positiveInt, 8)
    .addOption(new Option('--size <size>', 'package payload size').argParser(arg(positiveBytes)).default(10 * 1024 * 1024, '10MiB'))
    .addOption(new Option('--up <rate>', 'upload cap of every agent').argParser(arg(parseRate)).default(Infinity, 'unlimited'))
    .option('--origin-up <rate>', 'upload cap of the manager (default: --up)', arg(parseRate))
    .option('--json', 'print a JSON object as the last line', false)
    .option('--plot <file>', 'write an SVG chart (completion-time CDF and origin upload per system)')
    .option('--out <dir>', 'directory for the run\'s JSON and Markdown files', 'bench/runs')
    .option('--no-http', 'skip the HTTP fan-out baseline')
    .option('--no-helia', 'skip the Helia/bitswap baseline')
    .option('--workers <n>', 'spread the agents over this many child processes (1: all in this process, with the manager)', positiveInt, 1)
    .option('--degree <k>', 'once all are up, each agent dials k random agents, as mDNS would find them (0: only the members named by the manager peer exchange)', nonNegativeInt, 0)
    .option('--status-relay <mode>', 'which agents relay the status topic: auto (only where an agent has no link to the manager, the `pollen agent` default), always (every agent: N² report messages in all), never', relayMode, 'auto')
    .option('--connection-target <k>', 'peers each agent dials until it has that many (the `pollen agent` option; default 16): fewer connections, less idle CPU and memory per agent in large swarms', positiveInt)
    .option('--chunk-avg <size>', 'average chunk size of the manager (`pollen manager --chunk-avg`; default 256KiB)', arg(positiveBytes))
    .exitOverride()
    .action(async (o: { agents: number, size: number, up: number, originUp?: number, json: boolean, plot?: string, out: string, http: boolean, helia: boolean, workers: number, degree: number, statusRelay: RelayMode, connectionTarget?: number, chunkAvg?: number }) => {
      await (await import('./inprocess.ts')).runInprocessBench({
        agents: o.agents, size: o.size, up: o.up, originUp: o.originUp ?? o.up, json: o.json, plot: o.plot, out: o.out, noHttp: !o.http, noHelia: !o.helia,
        workers: o.workers, degree: o.degree, relayStatus: o.statusRelay, connectionTarget: o.connectionTarget, chunkAvg: o.chunkAvg
      })
    })
  cli.command('delta')
    .description('deploy v1 through the full path, then v2 with part of its content changed; bytes each agent fetched for v2, against the package size')
    .option('--agents <n>', 'agents', positiveInt, 8)
    .addOption(new Option('--size <size>', 'v1 payload size').argParser(arg(positiveBytes)).default(32 * 1024 * 1024, '32MiB'))
    .addOption(new Option('--change <share>', 'share of the payload changed in v2, e.g. 10% or 0.1').argParser(arg(parseShare)).default(0.1, '10%'))
    .option('--edits <n>', 'changed regions (one of them an insertion)', positiveInt, 5)
    .addOption(new Option('--up <rate>', 'upload cap of every agent').argParser(arg(parseRate)).default(Infinity, 'unlimited'))
    .option('--origin-up <rate>', 'upload cap of the manager (default: --up)', arg(parseRate))
    .option('--workers <n>', 'spread the agents over this many child processes', positiveInt, 1)
    .option('--json', 'print a JSON object as the last line', false)
    .option('--plot <file>', 'write an SVG chart')
    .option('--out <dir>', 'directory for the run\'s JSON and Markdown files', 'bench/runs')
    .exitOverride()
    .action(async (o: { agents: number, size: number, change: number, edits: number, up: number, originUp?: number, workers: number, json: boolean, plot?: string, out: string }) => {
      await (await import('./delta.ts')).runDeltaBench({
        agents: o.agents, size: o.size, change: o.change, edits: o.edits, up: o.up, originUp: o.originUp ?? o.up, workers: o.workers, degree: 0, relayStatus: 'auto',
        json: o.json, plot: o.plot, out: o.out, noHttp: true
      })
    })
  cli.command('netns')
    .description('root only: the manager and N agents as real hosts in network namespaces (one bridge, or sites behind a router), links shaped with tc tbf; Pollen beside HTTP fan-out')
    .option('--agents <n>', 'agent hosts', positiveInt, 10)
    .addOption(new Option('--size <size>', 'package payload size').argParser(arg(positiveBytes)).default(10 * 1024 * 1024, '10MiB'))
    .addOption(new Option('--up <rate>', 'link rate of every agent host').argParser(arg(parseRate)).default(2 * 1024 * 1024, '2MiB/s'))
    .option('--origin-up <rate>', 'link rate of the manager host (default: --up)', arg(parseRate))
    .option('--timeout <seconds>', 'give up after this long', positiveInt, 600)
    .option('--json', 'print a JSON object as the last line', false)
    .option('--plot <file>', 'write an SVG chart')
    .option('--out <dir>', 'directory for the run\'s JSON and Markdown files', 'bench/runs')
    .option('--no-http', 'skip the HTTP fan-out baseline')
    .addOption(new Option('--topology <name>', 'lan: one bridge; sites: device sites behind a router with a shaped WAN link').choices(['lan', 'sites']).default('lan'))
    .option('--sites <n>', 'device sites (sites topology); the agents are spread over them', positiveInt, 1)
    .addOption(new Option('--wan <rate>', 'WAN link of each device site, each way (sites topology)').argParser(arg(parseRate)).default(2 * 1024 * 1024, '2MiB/s'))
    .option('--lan-rate <rate>', 'link rate of every agent host in a device site (default: --up)', arg(parseRate))
    .addOption(new Option('--launch <how>', 'compiled: run the CLI compiled to JavaScript for the run; source: strip types at every start').choices(['compiled', 'source']).default('compiled'))
    .option('--launch-concurrency <n>', 'agents starting at once (the next when one has its node up)', positiveInt, 2)
    .option('--chunk-avg <size>', 'average chunk size of the manager (`pollen manager --chunk-avg`; default 256KiB)', arg(positiveBytes))
    .option('--pace <share>', 'every peer also caps its own upload (`--upload-limit`) at this share of its link rate, e.g. 92%, so its data waits in the process instead of in the kernel and the shaper (default: not)', arg(parseShare))
    .option('--rto-min <ms>', 'every host\'s least TCP retransmission timeout (net.ipv4.tcp_rto_min_us; default: the kernel\'s 200 ms), for slow links', positiveInt)
    .option('--congestion-control <name>', 'every host\'s TCP congestion control (net.ipv4.tcp_congestion_control, e.g. bbr; default: the kernel\'s)')
    .addOption(new Option('--notsent-lowat <size>', 'every host\'s net.ipv4.tcp_notsent_lowat: a socket takes no more data while this much is unsent, so senders feel their link\'s pace (0: the kernel\'s default, no limit)').argParser(arg(parseBytes)).default(16 * 1024, '16KiB'))
    .option('--connection-target <k>', 'peers each agent dials until it has that many (`pollen agent --connection-target`; default 16); the bench waits for that many before the task', positiveInt)
    .option('--queue <ms>', 'how long a packet may wait in a shaped host uplink before it is dropped (tbf latency; lan topology)', positiveInt, 200)
    .exitOverride()
    .action(async (o: { agents: number, size: number, up: number, originUp?: number, timeout: number, json: boolean, plot?: string, out: string, http: boolean, topology: 'lan' | 'sites', sites: number, wan: number, lanRate?: number, launch: 'compiled' | 'source', launchConcurrency: number, chunkAvg?: number, pace?: number, notsentLowat: number, queue: number, connectionTarget?: number, rtoMin?: number, congestionControl?: string }) => {
      await (await import('./netns.ts')).runNetnsBench({
        agents: o.agents, size: o.size, up: o.up, originUp: o.originUp ?? o.up, timeoutMs: o.timeout * 1000, json: o.json, plot: o.plot, out: o.out, noHttp: !o.http,
        topology: o.topology, sites: o.sites, wan: o.wan, lanRate: o.lanRate, launch: o.launch, launchConcurrency: o.launchConcurrency, chunkAvg: o.chunkAvg, pace: o.pace, notsentLowat: o.notsentLowat, queueMs: o.queue, connectionTarget: o.connectionTarget, rtoMinMs: o.rtoMin, congestionControl: o.congestionControl
      })
    })
  cli.command('simulate')
    .description('discrete-event simulation of the swarm, driven by the agents\' own selection policy; --validate runs the real fetch bench beside it')
    .option('--agents <n>', 'agents', positiveInt, 1000)
    .addOption(new Option('--size <size>', 'package size').argParser(arg(positiveBytes)).default(10 * 1024 * 1024, '10MiB'))
    .addOption(new Option('--chunk <size>', 'chunk size').argParser(arg(positiveBytes)).default(256 * 1024, '256KiB'))
    .addOption(new Option('--up <rate>', 'upload rate of every agent').argParser(arg(parseRate)).default(4 * 1024 * 1024, '4MiB/s'))
    .option('--origin-up <rate>', 'upload rate of the origin (default: --up)', arg(parseRate))
    .addOption(new Option('--down <rate>', 'download rate of every agent').argParser(arg(parseRate)).default(Infinity, 'unlimited'))
    .option('--degree <n>', 'neighbours per agent (agents - 1 or more, with --origin-degree >= agents: full mesh)', positiveInt, 16)
    .option('--origin-degree <n>', 'agents linked to the origin', positiveInt, 300)
    .option('--latency <ms>', 'one-way latency in ms', Number, 1)
    .option('--slots <n>', 'chunks a node uploads at once (default: the exchange\'s maxConcurrentUploads)', positiveInt)
    .option('--coalesce <ms>', 'policy calls for one agent within this window are merged (default: PLAN_COALESCE_MS)', Number)
    .option('--seed <n>', 'random seed', positiveInt, 1)
    .option('--validate', 'run the real `bench fetch` (full mesh, content-defined chunks) with the same --agents, --size, --up, --origin-up first, simulate the same swarm and chunk sizes, print both', false)
    .option('--workers <n>', 'with --validate: worker processes of the real run', positiveInt, 2)
    .option('--json', 'print a JSON object as the last line', false)
    .option('--plot <file>', 'write an SVG chart')
    .option('--out <dir>', 'directory for the run\'s JSON and Markdown files', 'bench/runs')
    .exitOverride()
    .action(async (o: SimulateCliOptions) => {
      if (!Number.isFinite(o.up) || !Number.isFinite(o.originUp ?? o.up)) throw new InvalidArgumentError('simulate needs finite --up and --origin-up')
      const options = {
        agents: o.agents, packageBytes: o.size, chunkBytes: o.chunk, up: o.up, originUp: o.originUp ?? o.up, down: o.down, degree: o.degree,
        originDegree: o.originDegree, latencyMs: o.latency, uploadSlots: o.slots, coalesceMs: o.coalesce, seed: o.seed, json: o.json, plot: o.plot, out: o.out
      }
      if (o.validate) await (await import('./sim/validate.ts')).runValidation({ ...options, workers: o.workers })
      else await (await import('./simulate.ts')).runSimulateBench(options)
    })
  cli.command('chunking')
    .description('chunking speed and the share of a package refetched after edits, per average chunk size')
    .addOption(new Option('--size <size>', 'package size').argParser(arg(positiveBytes)).default(64 * 1024 * 1024, '64MiB'))
    .addOption(new Option('--averages <sizes>', 'comma-separated average chunk sizes')
      .argParser(arg(text => text.split(',').map(a => positiveBytes(a.trim()))))
      .default([64, 256, 512, 1024].map(k => k * 1024), '64KiB,256KiB,512KiB,1MiB'))
    .option('--json', 'print a JSON object as the last line', false)
    .exitOverride()
    .action(async (o: { size: number, averages: number[], json: boolean }) => {
      await (await import('./chunking.ts')).runChunkingBench({ size: o.size, averages: o.averages, json: o.json })
    })
  return cli
}

/** Parse argv and run the chosen mode; exit 2 on bad options, 1 on failure. */
async function main (argv: string[]): Promise<number> {
  cleanupOnSignals()
  try {
    await program().parseAsync(argv)
    return 0
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2
    if (interrupted()) return 130
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`)
    return 1
  } finally {
    await runCleanup()
  }
}

process.exitCode = await main(process.argv)
// Writes to a pipe are asynchronous: let a long JSON line (simulate --json with 10,000 times) out before exiting.
await new Promise<void>(resolve => process.stdout.write('', () => { resolve() }))
// libp2p and level may leave timers behind; the run is over.
process.exit()
