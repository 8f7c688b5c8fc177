import type { Command } from 'commander'
import { exportFile } from '../chunks/index.ts'
import { formatBytes } from '../core/index.ts'
import { byteBar, nodeFlags, untilSignal, uploadLimit, type NodeFlags } from './shared.ts'
import { startCliPeer } from './peer.ts'

interface FetchFlags extends NodeFlags {
  out: string
  timeout: string
  seed: boolean
}

/** `pollen fetch <cid>`: download a package from the swarm, verify it, write it out. */
export function registerFetch (program: Command): void {
  nodeFlags(program.command('fetch <cid>'))
    .description('download a package from the swarm (verifying every chunk) and write it to --out')
    .requiredOption('--data <dir>', 'data directory (identity key and chunk store; a rerun resumes)')
    .requiredOption('--out <file>', 'where to write the package')
    .option('--timeout <seconds>', 'give up after this many seconds', '3600')
    .option('--seed', 'keep serving the package after the download, until Ctrl-C')
    .action(async (cid: string, flags: FetchFlags) => { await fetch(cid, flags) })
}

async function fetch (cid: string, flags: FetchFlags): Promise<void> {
  const peer = await startCliPeer({ dataDir: flags.data, listen: flags.listen, bootstrap: flags.bootstrap, mdns: flags.mdns, uploadBytesPerSecond: uploadLimit(flags) })
  const abort = new AbortController()
  const onSignal = (): void => { abort.abort() }
  process.once('SIGINT', onSignal)
  try {
    const bar = byteBar('fetching')
    const result = await peer.exchange.fetch(cid, {
      signal: abort.signal,
      timeoutMs: Number(flags.timeout) * 1000,
      onProgress: p => { bar.update(p.bytesDone, p.bytesTotal) }
    })
    bar.stop()
    await exportFile(peer.store, cid, flags.out)
    const peers = Object.keys(result.bytesByPeer).length
    process.stdout.write(`wrote ${flags.out}: ${formatBytes(result.manifest.size)} verified, ${formatBytes(result.fetchedBytes)} fetched from ${peers} peers in ${result.seconds.toFixed(1)} s\n`)
    if (flags.seed) {
      process.removeListener('SIGINT', onSignal)
      process.stdout.write('seeding; Ctrl-C to stop\n')
      await untilSignal()
    }
  } finally {
    process.removeListener('SIGINT', onSignal)
    await peer.stop()
  }
}
