/**
 * Worker process of `bench inprocess --workers W`: runs one
 * {@link LocalAgentGroup} of agents and answers the parent's calls over IPC.
 */
import { LocalAgentGroup, processUsage, type AgentGroupConfig, type AgentGroupStats } from './agent-group.ts'
import { serveCalls } from './ipc.ts'

let group: LocalAgentGroup | undefined

function need (): LocalAgentGroup {
  if (group === undefined) throw new Error('worker agents not started')
  return group
}

async function shutdown (): Promise<void> {
  const stopping = group
  group = undefined
  await stopping?.stop()
}

serveCalls({
  start: async (config: AgentGroupConfig) => {
    group = await LocalAgentGroup.start(config)
    return group.addresses
  },
  connect: async (all: string[], degree: number) => await need().connect(all, degree),
  stats: async (): Promise<AgentGroupStats> => ({ ...await need().stats(), usage: processUsage() }),
  verify: async (expectedSha: string) => await need().verify(expectedSha),
  stop: shutdown
}, shutdown)
