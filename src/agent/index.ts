/**
 * The agent: task processing (transfer, install, run), supervision of the
 * running release, reports and logs to the manager.
 */
export { createAgent, type Agent, type AgentOptions } from './agent.ts'
export { createMembership, joinsTopic, type Membership, type MembershipOptions, type RelayMode } from './membership.ts'
export { TaskProcessor, type AgentLogger, type ProcessorDeps, type ProcessorSettings } from './processor.ts'
export { createReporter, type Reporter, type ReporterOptions } from './reporter.ts'
export { AgentState, loadState, saveState, STATE_FILE, type AgentStateData, type TaskEntry, type TaskPhase } from './state.ts'
export { runCommands, type CommandsResult, type RunCommandsOptions } from './commands.ts'
export { createSupervisor, type Supervisor, type SupervisorOptions, type StartResult } from './supervisor.ts'
export { createLogBuffer, type LogBuffer } from './log-buffer.ts'
export { hashTree, verifyTree, readReleaseManifest, writeReleaseManifest, switchCurrent, readCurrent, type ReleaseManifest } from './release.ts'
