import { Command, CommanderError } from 'commander'
import { PollenError } from '../core/index.ts'
import { registerDemo } from './demo.ts'
import { registerChunkDemo } from './chunk-demo.ts'
import { registerSeed } from './seed.ts'
import { registerFetch } from './fetch.ts'
import { registerInit } from './init.ts'
import { registerAgent } from './agent.ts'
import { registerManager } from './manager.ts'
import { registerToken } from './token.ts'
import { registerDeploy } from './deploy.ts'
import { registerOperator } from './operator.ts'

/** Build the `pollen` command line. */
export function buildProgram (): Command {
  const program = new Command('pollen')
    .description('Peer-to-peer bulk software deployment for device swarms')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError()
  registerDemo(program)
  registerChunkDemo(program)
  registerSeed(program)
  registerFetch(program)
  registerInit(program)
  registerAgent(program)
  registerManager(program)
  registerToken(program)
  registerDeploy(program)
  registerOperator(program)
  return program
}

/**
 * Run the CLI; resolves with the process exit code. Expected failures
 * (bad options, a failed fetch) print one line, not a stack trace.
 */
export async function main (argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' })
    return typeof process.exitCode === 'number' ? process.exitCode : 0
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode
    if (err instanceof PollenError) {
      process.stderr.write(`pollen: ${err.message} (${err.name})\n`)
      return err.name === 'InvalidOptionError' ? 2 : 1
    }
    throw err
  }
}
