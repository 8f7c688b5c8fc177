import { SingleBar, Presets } from 'cli-progress'
import { formatBytes, parseRate } from '../core/index.ts'

/** Options common to commands that run a swarm node. */
export interface NodeFlags {
  data: string
  listen?: string[]
  bootstrap?: string[]
  uploadLimit?: string
  mdns: boolean
}

/** Add `--listen`, `--bootstrap`, `--upload-limit` and `--no-mdns` to a command. */
export function nodeFlags<T extends import('commander').Command> (command: T): T {
  return command
    .option('--listen <multiaddr...>', 'addresses to listen on', ['/ip4/0.0.0.0/tcp/0'])
    .option('--bootstrap <multiaddr...>', 'peers beyond the LAN to dial (with /p2p/<id>)')
    .option('--upload-limit <rate>', 'upload cap, e.g. 4MiB/s or 50mbit (default: none)')
    .option('--no-mdns', 'do not discover peers on the LAN')
}

/** The upload cap from `--upload-limit`, in bytes per second (Infinity when absent). */
export function uploadLimit (flags: { uploadLimit?: string }): number {
  return flags.uploadLimit === undefined ? Infinity : parseRate(flags.uploadLimit)
}

/** A byte progress bar on stderr (only when stderr is a terminal: logs stay clean). */
export function byteBar (label: string): { update: (done: number, total: number) => void, stop: () => void } {
  if (process.stderr.isTTY !== true) return { update: () => {}, stop: () => {} }
  const bar = new SingleBar({
    format: `${label} [{bar}] {percentage}% | {done} / {all} | {peers} peers`,
    stream: process.stderr,
    hideCursor: true
  }, Presets.shades_classic)
  let started = false
  return {
    update (done, total) {
      if (!started) { bar.start(total, 0, { done: '0 B', all: formatBytes(total), peers: 0 }); started = true }
      bar.update(done, { done: formatBytes(done), all: formatBytes(total) })
    },
    stop () { if (started) bar.stop() }
  }
}

/** Resolve when the process is asked to stop (Ctrl-C or SIGTERM). */
export async function untilSignal (): Promise<void> {
  await new Promise<void>(resolve => {
    process.once('SIGINT', () => { resolve() })
    process.once('SIGTERM', () => { resolve() })
  })
}
