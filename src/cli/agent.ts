import type { Command } from 'commander'
import { pino } from 'pino'
import { createAgent } from '../agent/index.ts'
import { InvalidOptionError } from '../core/index.ts'
import { readSwarmFile } from '../node/index.ts'
import { nodeFlags, untilSignal, uploadLimit, type NodeFlags } from './shared.ts'

interface AgentFlags extends NodeFlags {
  swarm: string
  id?: string
  tags?: string
  runAsUid?: string
  runAsGid?: string
  enroll?: string
  connectionTarget?: string
}

/** `pollen agent`: the device side. */
export function registerAgent (program: Command): void {
  nodeFlags(program.command('agent'))
    .description('run the agent of this device: joins the swarm, takes the tasks meant for it, installs, runs and reports')
    .requiredOption('--swarm <file>', 'swarm.json made by `pollen init` (copied from the manager)')
    .requiredOption('--data <dir>', 'data directory (chunks, releases, state, peer key)')
    .option('--id <id>', 'target id (default: the one kept in the data directory, else a generated one)')
    .option('--tags <a,b>', 'target tags, comma-separated (also from POLLEN_TAGS)')
    .option('--run-as-uid <uid>', 'run install and run commands as this user id (the agent must run as root)')
    .option('--run-as-gid <gid>', 'and this group id')
    .option('--connection-target <k>', 'peers to dial until connected to this many (default 16); fewer: less idle CPU and memory, more hops for chunks')
    .option('--enroll <token>', 'one-time enrollment token (`pollen token enroll`) for a manager run with --enrollment token; also from POLLEN_ENROLL_TOKEN')
    .action(async (flags: AgentFlags) => { await runAgent(flags) })
}

async function runAgent (flags: AgentFlags): Promise<void> {
  const swarm = await readSwarmFile(flags.swarm)
  const tags = (flags.tags ?? process.env.POLLEN_TAGS ?? '').split(',').map(t => t.trim()).filter(t => t !== '')
  const log = pino({ name: 'pollen-agent' }, pino.destination(2))
  const agent = createAgent({
    swarm,
    dataDir: flags.data,
    id: flags.id,
    tags,
    node: { listen: flags.listen, bootstrap: flags.bootstrap, mdns: flags.mdns, ...connectionTargetOption(flags.connectionTarget) },
    uploadBytesPerSecond: uploadLimit(flags),
    ...enrollmentOption(flags.enroll ?? process.env.POLLEN_ENROLL_TOKEN),
    ...(flags.runAsUid != null ? { uid: Number(flags.runAsUid) } : {}),
    ...(flags.runAsGid != null ? { gid: Number(flags.runAsGid) } : {}),
    logger: log
  })
  await agent.start()
  try {
    process.stdout.write(`agent ${agent.id} [${tags.join(',')}] of swarm ${swarm.name}: peer ${agent.node.peerId.toString()}\n`)
    for (const addr of agent.node.addresses()) process.stdout.write(`  listening on ${addr.toString()}\n`)
    await untilSignal()
  } finally {
    await agent.stop()
  }
}

function connectionTargetOption (value: string | undefined): { connectionTarget?: number } {
  if (value == null) return {}
  const target = Number(value)
  if (!Number.isInteger(target) || target < 1) throw new InvalidOptionError(`--connection-target must be a positive integer, not ${JSON.stringify(value)}`)
  return { connectionTarget: target }
}

function enrollmentOption (token: string | undefined): { enrollmentToken?: string } {
  return token == null || token === '' ? {} : { enrollmentToken: token }
}
