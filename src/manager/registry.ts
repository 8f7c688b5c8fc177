/**
 * The manager's registry in `level`: tasks (signed, as announced), targets
 * (Appendix B records with bounded logs) and the message sequence number.
 * Everything is also held in memory (a fleet's registry is small) so reads
 * never touch the disk; writes the API acknowledges are synced before they
 * are acknowledged.
 */
import { Level } from 'level'
import type { RevokeBody, Signed, StopBody, TargetRecord, TaskBody } from '../core/index.ts'

/** A task as the registry keeps it. */
export interface TaskRecord {
  readonly signed: Signed<TaskBody>
  /** The assemble commands the manager ran (not announced: agents never see them). */
  readonly assemble?: readonly string[]
  readonly stop?: Signed<StopBody>
  /** Bytes of the package the manager uploaded, as of the last save. */
  readonly managerUploadBytes: number
}

/** An enrollment token that was used: by whom, for which target. */
export interface EnrollmentUse {
  readonly targetId: string
  readonly peerId: string
  /** ms since the epoch. */
  readonly at: number
}

/**
 * The slice of a sublevel this file uses. `sync` is passed through to the
 * LevelDB write (abstract-level forwards options), though its types omit it.
 */
interface Sub<V> {
  get (key: string): Promise<V | undefined>
  put (key: string, value: V, options?: { sync?: boolean }): Promise<void>
  del (key: string, options?: { sync?: boolean }): Promise<void>
  iterator (): AsyncIterableIterator<[string, V]>
}

/** The manager's persistent state. */
export interface Registry {
  open (): Promise<void>
  close (): Promise<void>
  /** Reserve the next sequence number; it is on disk before it is returned. */
  nextSeq (): Promise<number>
  putTask (record: TaskRecord): Promise<void>
  getTask (id: string): TaskRecord | undefined
  /** Newest first. */
  listTasks (offset: number, limit: number): TaskRecord[]
  taskCount (): number
  allTasks (): Iterable<TaskRecord>
  putTarget (record: TargetRecord, options?: { sync?: boolean }): Promise<void>
  getTarget (id: string): TargetRecord | undefined
  deleteTarget (id: string): Promise<void>
  targets (): Iterable<TargetRecord>
  targetCount (): number
  /** Record a revocation (synced); the peer stays revoked across restarts. */
  putRevocation (signed: Signed<RevokeBody>): Promise<void>
  /** Every revocation, oldest first. */
  revocations (): Array<Signed<RevokeBody>>
  isRevoked (peerId: string): boolean
  /**
   * Mark an enrollment token used, in memory at once (so a second claim in
   * the same tick is refused) and on disk (synced) when the promise resolves.
   */
  useEnrollment (tokenId: string, use: EnrollmentUse): Promise<void>
  enrollmentUse (tokenId: string): EnrollmentUse | undefined
}

/** Open the registry kept in `dir`. */
export function createRegistry (dir: string): Registry {
  return new LevelRegistry(dir)
}

const SEQ_KEY = 'seq'

class LevelRegistry implements Registry {
  readonly #db: Level<string, unknown>
  readonly #tasksDb: Sub<TaskRecord>
  readonly #targetsDb: Sub<TargetRecord>
  readonly #metaDb: Sub<number>
  readonly #revocationsDb: Sub<Signed<RevokeBody>>
  readonly #enrollmentsDb: Sub<EnrollmentUse>
  /** By revoked peer id. */
  readonly #revoked = new Map<string, Signed<RevokeBody>>()
  /** By enrollment token id. */
  readonly #enrollments = new Map<string, EnrollmentUse>()
  readonly #tasks = new Map<string, TaskRecord>()
  /** Task ids in ascending sequence order. */
  #order: string[] = []
  readonly #targets = new Map<string, TargetRecord>()
  #seq = 0
  /** The latest write of the sequence number: writes go one after another, so a lower one never lands last. */
  #seqWritten: Promise<void> = Promise.resolve()
  #opened: Promise<void> | undefined

  constructor (dir: string) {
    this.#db = new Level<string, unknown>(dir, { valueEncoding: 'json' })
    this.#tasksDb = this.#db.sublevel('tasks', { valueEncoding: 'json' }) as unknown as Sub<TaskRecord>
    this.#targetsDb = this.#db.sublevel('targets', { valueEncoding: 'json' }) as unknown as Sub<TargetRecord>
    this.#metaDb = this.#db.sublevel('meta', { valueEncoding: 'json' }) as unknown as Sub<number>
    this.#revocationsDb = this.#db.sublevel('revocations', { valueEncoding: 'json' }) as unknown as Sub<Signed<RevokeBody>>
    this.#enrollmentsDb = this.#db.sublevel('enrollments', { valueEncoding: 'json' }) as unknown as Sub<EnrollmentUse>
  }

  async open (): Promise<void> {
    this.#opened ??= this.#load()
    await this.#opened
  }

  async #load (): Promise<void> {
    await this.#db.open()
    this.#seq = (await this.#metaDb.get(SEQ_KEY)) ?? 0
    for await (const [id, record] of this.#tasksDb.iterator()) this.#tasks.set(id, record)
    this.#order = [...this.#tasks.values()].sort((a, b) => a.signed.body.seq - b.signed.body.seq).map(r => r.signed.body.id)
    for await (const [id, record] of this.#targetsDb.iterator()) this.#targets.set(id, record)
    for await (const [peer, signed] of this.#revocationsDb.iterator()) this.#revoked.set(peer, signed)
    for await (const [id, use] of this.#enrollmentsDb.iterator()) this.#enrollments.set(id, use)
    // Whatever was stored under a sequence number counts too, should its write of `seq` have been lost.
    for (const record of this.#tasks.values()) this.#seq = Math.max(this.#seq, record.signed.body.seq)
    for (const signed of this.#revoked.values()) this.#seq = Math.max(this.#seq, signed.body.seq)
  }

  async close (): Promise<void> {
    if (this.#opened == null) return
    this.#opened = undefined
    await this.#db.close()
  }

  async nextSeq (): Promise<number> {
    this.#seq += 1
    const seq = this.#seq
    const written = this.#seqWritten.catch(() => {}).then(async () => { await this.#metaDb.put(SEQ_KEY, seq, { sync: true }) })
    this.#seqWritten = written
    await written
    return seq
  }

  async putTask (record: TaskRecord): Promise<void> {
    const id = record.signed.body.id
    await this.#tasksDb.put(id, record, { sync: true })
    if (!this.#tasks.has(id)) this.#order.push(id)
    this.#tasks.set(id, record)
  }

  getTask (id: string): TaskRecord | undefined {
    return this.#tasks.get(id)
  }

  listTasks (offset: number, limit: number): TaskRecord[] {
    const end = this.#order.length - offset
    const start = Math.max(0, end - limit)
    return this.#order.slice(start, Math.max(0, end)).reverse().map(id => this.#tasks.get(id)!)
  }

  taskCount (): number {
    return this.#order.length
  }

  allTasks (): Iterable<TaskRecord> {
    return this.#tasks.values()
  }

  async putTarget (record: TargetRecord, options: { sync?: boolean } = {}): Promise<void> {
    this.#targets.set(record.ID, record)
    await this.#targetsDb.put(record.ID, record, { sync: options.sync ?? false })
  }

  getTarget (id: string): TargetRecord | undefined {
    return this.#targets.get(id)
  }

  async deleteTarget (id: string): Promise<void> {
    await this.#targetsDb.del(id, { sync: true })
    this.#targets.delete(id)
  }

  targets (): Iterable<TargetRecord> {
    return this.#targets.values()
  }

  targetCount (): number {
    return this.#targets.size
  }

  async putRevocation (signed: Signed<RevokeBody>): Promise<void> {
    await this.#revocationsDb.put(signed.body.peerId, signed, { sync: true })
    this.#revoked.set(signed.body.peerId, signed)
  }

  revocations (): Array<Signed<RevokeBody>> {
    return [...this.#revoked.values()].sort((a, b) => a.body.seq - b.body.seq)
  }

  isRevoked (peerId: string): boolean {
    return this.#revoked.has(peerId)
  }

  async useEnrollment (tokenId: string, use: EnrollmentUse): Promise<void> {
    this.#enrollments.set(tokenId, use)
    await this.#enrollmentsDb.put(tokenId, use, { sync: true })
  }

  enrollmentUse (tokenId: string): EnrollmentUse | undefined {
    return this.#enrollments.get(tokenId)
  }
}
