import type { Command } from 'commander'
import { stat } from 'node:fs/promises'
import { importFile } from '../chunks/index.ts'
import { formatBytes } from '../core/index.ts'
import { byteBar, nodeFlags, untilSignal, uploadLimit, type NodeFlags } from './shared.ts'
import { startCliPeer } from './peer.ts'

/** `pollen seed <file>`: chunk a file into the store and serve it until stopped. */
export function registerSeed (program: Command): void {
  nodeFlags(program.command('seed <file>'))
    .description('chunk a package file and serve it to the swarm until Ctrl-C')
    .requiredOption('--data <dir>', 'data directory (identity key and chunk store)')
    .action(async (file: string, flags: NodeFlags) => { await seed(file, flags) })
}

async function seed (file: string, flags: NodeFlags): Promise<void> {
  const peer = await startCliPeer({ dataDir: flags.data, listen: flags.listen, bootstrap: flags.bootstrap, mdns: flags.mdns, uploadBytesPerSecond: uploadLimit(flags) })
  try {
    const bar = byteBar('chunking')
    const { size } = await stat(file)
    const { cid, manifest } = await importFile(peer.store, file, { onProgress: p => { bar.update(p.bytes, size) } })
    bar.stop()
    await peer.exchange.seed(cid, { initial: true })
    process.stdout.write(`package ${cid} (${formatBytes(manifest.size)}, ${manifest.chunks.length} chunks)\n`)
    for (const addr of peer.node.addresses()) process.stdout.write(`listening on ${addr.toString()}\n`)
    process.stdout.write(`fetch it with: npm run pollen -- fetch ${cid} --data <dir> --out <file> [--bootstrap <address above>]\n`)
    await untilSignal()
    process.stdout.write(`uploaded ${formatBytes(peer.exchange.uploadedBytesFor(cid))}\n`)
  } finally {
    await peer.stop()
  }
}
