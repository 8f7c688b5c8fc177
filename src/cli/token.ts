import type { Command } from 'commander'
import Table from 'cli-table3'
import { InvalidOptionError, parseDuration } from '../core/index.ts'
import type { TokenScope } from '../manager/index.ts'

/** The manager's token functions, loaded when a token command runs: every `pollen` command loads this file, an agent's start too. */
async function tokenStore (): Promise<typeof import('../manager/index.ts')> {
  return await import('../manager/index.ts')
}

/** `pollen token create|list|revoke`: scoped API tokens, stored hashed in the manager's data directory. */
export function registerToken (program: Command): void {
  const token = program.command('token').description('API tokens of a manager (stored hashed in <data>/tokens.json; usable at once, even while the manager runs)')
  token.command('create')
    .description('create a token and print it (once: only its hash is stored)')
    .requiredOption('--data <dir>', 'the manager\'s data directory')
    .option('--scope <scope>', 'read (GET routes, events, metrics) or deploy (everything)', 'read')
    .option('--name <name>', 'a label to recognise it by', '')
    .action(async (flags: { data: string, scope: string, name: string }) => {
      if (flags.scope !== 'read' && flags.scope !== 'deploy') throw new InvalidOptionError(`--scope must be read or deploy, got ${JSON.stringify(flags.scope)}`)
      const { token: secret, record } = await (await tokenStore()).createToken(flags.data, flags.scope as TokenScope, flags.name)
      process.stderr.write(`token ${record.id} (${record.scope}${record.name !== '' ? `, ${record.name}` : ''}); it is shown only now:\n`)
      process.stdout.write(`${secret}\n`)
    })
  token.command('list')
    .description('list tokens (ids, scopes, names; never the tokens)')
    .requiredOption('--data <dir>', 'the manager\'s data directory')
    .option('--json', 'print JSON')
    .action(async (flags: { data: string, json?: boolean }) => {
      const tokens = (await (await tokenStore()).listTokens(flags.data)).map(({ hash: _hash, ...rest }) => rest)
      if (flags.json === true) {
        process.stdout.write(`${JSON.stringify(tokens)}\n`)
        return
      }
      const table = new Table({ head: ['id', 'scope', 'name', 'created'] })
      for (const t of tokens) table.push([t.id, t.scope, t.name, t.createdAt])
      process.stdout.write(`${table.toString()}\n`)
    })
  token.command('enroll')
    .description('create a one-time enrollment token for a device, for a manager run with --enrollment token (printed once; only its hash is stored)')
    .requiredOption('--data <dir>', 'the manager\'s data directory')
    .option('--ttl <duration>', 'how long it stays valid, e.g. 15m, 24h, 7d', '24h')
    .option('--name <name>', 'a label to recognise it by (the device, say)', '')
    .action(async (flags: { data: string, ttl: string, name: string }) => {
      const { token: secret, record } = await (await tokenStore()).createEnrollmentToken(flags.data, { ttlMs: parseDuration(flags.ttl), name: flags.name })
      process.stderr.write(`enrollment token ${record.id}${record.name !== '' ? ` (${record.name})` : ''}, valid until ${new Date(record.expiresAt).toISOString()}, usable once; it is shown only now:\n`)
      process.stdout.write(`${secret}\n`)
    })
  token.command('enrollments')
    .description('list enrollment tokens (ids, names, expiry; never the tokens)')
    .requiredOption('--data <dir>', 'the manager\'s data directory')
    .action(async (flags: { data: string }) => {
      const table = new Table({ head: ['id', 'name', 'created', 'expires'] })
      for (const t of await (await tokenStore()).listEnrollmentTokens(flags.data)) table.push([t.id, t.name, t.createdAt, new Date(t.expiresAt).toISOString()])
      process.stdout.write(`${table.toString()}\n`)
    })
  token.command('revoke <id>')
    .description('revoke a token by id')
    .requiredOption('--data <dir>', 'the manager\'s data directory')
    .action(async (id: string, flags: { data: string }) => {
      if (!await (await tokenStore()).revokeToken(flags.data, id)) throw new InvalidOptionError(`no token with id ${JSON.stringify(id)}`)
      process.stdout.write(`revoked ${id}\n`)
    })
}
