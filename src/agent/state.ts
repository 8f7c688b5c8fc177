/**
 * What an agent remembers across restarts, in one JSON file written
 * atomically (temp file, fsync, rename): its id, the tasks meant for it and
 * how far each got, the running release, the replay floor of its gossip, and
 * the recent signed messages it relays to late joiners.
 */
import { randomBytes } from 'node:crypto'
import { open, readFile, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { KeyFileError, type RevokeBody, type Signed, type StopBody, type TaskBody } from '../core/index.ts'
import type { LastSeq } from '../gossip/index.ts'

/** How far a task got on this device. */
export type TaskPhase = 'accepted' | 'transferred' | 'installed' | 'running' | 'stopped' | 'failed' | 'declined' | 'superseded'

/** One task meant for this device. */
export interface TaskEntry {
  readonly signed: Signed<TaskBody>
  readonly phase: TaskPhase
  /** `RUN-SUCCESS`, `INSTALL-FAILURE`… once final. */
  readonly outcome?: string
}

/** The whole state file. */
export interface AgentStateData {
  readonly version: 1
  readonly id: string
  /** Highest `seq` of a task accepted for this device: an older task arriving later is ignored. */
  readonly lastTaskSeq: number
  /** Gossip replay floor (see `SwarmGossip.lastSeq`). */
  readonly gossipSeq: LastSeq
  readonly tasks: Readonly<Record<string, TaskEntry>>
  /** Id of the task whose release runs (the target of `current`). */
  readonly current?: string
  /** Process groups of the running release, so a restarted agent can end what a crashed one left. */
  readonly pgids?: readonly number[]
  /** Signed manager messages (any target) kept to answer `/pollen/sync`; newest last. */
  readonly relay: ReadonlyArray<Signed<TaskBody> | Signed<StopBody>>
  /** Signed revocations of members (one per peer): those peers are shut out, and late joiners learn them over sync. */
  readonly revocations?: ReadonlyArray<Signed<RevokeBody>>
  /** Proof of the enrollment token this device was given (see `enrollmentProof`), advertised until the manager pins it. */
  readonly enrollment?: string
}

/** State file name inside the agent's data directory. */
export const STATE_FILE = 'agent-state.json'

/** Load the state, or make a fresh one with `id` (or a generated id). */
export async function loadState (dataDir: string, id?: string): Promise<AgentStateData> {
  let text: string
  try {
    text = await readFile(join(dataDir, STATE_FILE), 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    return { version: 1, id: id ?? `agent-${randomBytes(4).toString('hex')}`, lastTaskSeq: 0, gossipSeq: {}, tasks: {}, relay: [] }
  }
  let state: AgentStateData
  try {
    state = JSON.parse(text) as AgentStateData
    if (state.version !== 1 || typeof state.id !== 'string') throw new Error('unexpected shape')
  } catch (err) {
    throw new KeyFileError(`agent state ${join(dataDir, STATE_FILE)} is corrupt: ${(err as Error).message}`, { cause: err })
  }
  return id != null && id !== state.id ? { ...state, id } : state
}

/** Write the state atomically: a crash leaves the old or the new file, never half of one. */
export async function saveState (dataDir: string, state: AgentStateData): Promise<void> {
  const path = join(dataDir, STATE_FILE)
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`
  try {
    const handle = await open(tmp, 'w', 0o600)
    try {
      await handle.writeFile(JSON.stringify(state))
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(tmp, path)
  } finally {
    await rm(tmp, { force: true })
  }
}

/**
 * The state in memory, persisted on every change. Writes are serialised and
 * coalesced: a burst of changes costs one write after the one in progress.
 */
export class AgentState {
  readonly #dataDir: string
  #data: AgentStateData
  #writing: Promise<void> = Promise.resolve()
  #dirty = false

  constructor (dataDir: string, data: AgentStateData) {
    this.#dataDir = dataDir
    this.#data = data
  }

  get data (): AgentStateData {
    return this.#data
  }

  /** Apply a change now; resolves once it (or a later state) is on disk. */
  async update (change: (data: AgentStateData) => AgentStateData): Promise<void> {
    this.#data = change(this.#data)
    if (this.#dirty) return await this.#writing
    this.#dirty = true
    this.#writing = this.#writing.catch(() => {}).then(async () => {
      this.#dirty = false
      await saveState(this.#dataDir, this.#data)
    })
    await this.#writing
  }

  /** Change one task entry (no-op when unknown). */
  async setTask (id: string, change: Partial<TaskEntry>): Promise<void> {
    await this.update(data => {
      const entry = data.tasks[id]
      return entry == null ? data : { ...data, tasks: { ...data.tasks, [id]: { ...entry, ...change } } }
    })
  }

  /** Resolves when every change so far is on disk. */
  async flush (): Promise<void> {
    await this.#writing.catch(() => {})
  }
}
