import type { Command } from 'commander'
import { basename, resolve } from 'node:path'
import { initSwarm } from '../node/index.ts'

/** `pollen init <dir>`: create the manager key and swarm.json. */
export function registerInit (program: Command): void {
  program.command('init <dir>')
    .description('create <dir>/manager.key (Ed25519, 0600) and <dir>/swarm.json (manager public key, swarm name, private-network key; 0600); never overwrites')
    .option('--name <name>', 'swarm name (letters, digits, ".", "_", "-"); default: the directory name')
    .action(async (dir: string, flags: { name?: string }) => {
      const name = flags.name ?? (basename(resolve(dir)).replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'pollen')
      const { swarmPath, keyPath, swarm } = await initSwarm(dir, name)
      process.stdout.write([
        `swarm ${swarm.name}`,
        `  manager key  ${keyPath}   (keep it on the manager only)`,
        `  swarm file   ${swarmPath}   (copy it to every device; it is a secret too)`,
        '',
        'start the manager with:',
        `  POLLEN_TOKEN=<a long random secret> npm run pollen -- manager --swarm ${swarmPath} --key ${keyPath} --data <data dir> --api 127.0.0.1:8080`,
        ''
      ].join('\n'))
    })
}
