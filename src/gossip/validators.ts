/**
 * The gossipsub topic validators of a swarm's two topics. Gossipsub calls
 * them once per new message, before delivering or forwarding it: `Reject`
 * marks the sending peer for an invalid delivery (lowering its score where
 * the topic is scored), `Ignore` drops the message without blame.
 */
import { TopicValidatorResult, type Message, type TopicValidatorFn } from '@libp2p/gossipsub'
import type { PeerId, PublicKey } from '@libp2p/interface'
import { InvalidMessageError, ReplayedMessageError, RevokedPeerError, type PollenError } from '../core/errors.ts'
import type { StatusBody } from '../core/status.ts'
import type { ManagerBody, Signed } from '../core/task.ts'
import { checkManagerMessage, isReplay, type LastSeq, type ManagerKind, type ManagerRefusal } from './check.ts'
import { decodeManagerMessage, decodeStatus } from './codec.ts'

/** Why a gossip message was refused: its size, its shape, or (tasks topic) a {@link ManagerRefusal}. */
export type RefusalReason = 'too-large' | 'malformed' | 'revoked' | ManagerRefusal

/** Every {@link RefusalReason}, in a fixed order. */
export const REFUSAL_REASONS: readonly RefusalReason[] = ['too-large', 'malformed', 'revoked', 'wrong-swarm', 'bad-signature', 'replay', 'expired', 'future']

/** Which of the swarm's topics. */
export type TopicKind = 'tasks' | 'status'

/** Counters of one topic. */
export interface TopicStats {
  /** Messages that passed validation. */
  readonly accepted: number
  /** Messages rejected (every refusal but `replay`): gossipsub counts them against the sender. */
  readonly rejected: number
  /** Messages ignored (replays): dropped without blame. */
  readonly ignored: number
  /** Messages refused, by reason. */
  readonly refused: Readonly<Record<RefusalReason, number>>
}

/** A refused message, as reported to {@link ValidatorOptions.onRefused}. */
export interface Refusal {
  readonly topic: TopicKind
  readonly reason: RefusalReason
  /** The peer that sent it to us (not necessarily its author). */
  readonly peer: PeerId
  readonly error: PollenError
}

/** What the validators check against. */
export interface ValidatorOptions {
  readonly swarm: string
  readonly managerPublicKey: PublicKey
  readonly clock: () => number
  readonly maxClockSkewMs: number
  readonly maxManagerMessageBytes: number
  readonly maxStatusMessageBytes: number
  readonly lastSeq?: LastSeq
  /** Authors whose status messages are refused (revoked members). */
  readonly isRevoked?: (peer: PeerId) => boolean
  readonly onRefused: (refusal: Refusal) => void
}

/** A message that passed validation, decoded. */
export type Accepted = { readonly topic: 'tasks', readonly signed: Signed } | { readonly topic: 'status', readonly body: StatusBody }

/** Validators of one swarm, with the state they keep: highest `seq` per kind, counters, decoded accepted messages. */
export class SwarmValidators {
  readonly #opts: ValidatorOptions
  /** Every `seq` at or below the floor counts as seen (the persisted state of a restarted node). */
  readonly #floor: LastSeq
  /** `seq` numbers accepted above the floor, per kind; bounded by {@link SEEN_WINDOW}. */
  readonly #seen = new Map<ManagerKind, Set<number>>()
  readonly #highest: LastSeq
  readonly #accepted = new WeakMap<Message, Accepted>()
  readonly #stats = { tasks: emptyStats(), status: emptyStats() }

  constructor (options: ValidatorOptions) {
    this.#opts = options
    this.#floor = { ...options.lastSeq }
    this.#highest = { ...options.lastSeq }
  }

  /** Validator of the tasks topic. */
  readonly tasks: TopicValidatorFn = async (peer, msg) => {
    if (msg.type !== 'signed') return this.#refuse('tasks', 'malformed', peer, new InvalidMessageError('unsigned gossip message'))
    let signed: Signed
    try {
      signed = decodeManagerMessage(msg.data, { maxBytes: this.#opts.maxManagerMessageBytes })
    } catch (err) {
      return this.#refuseUndecodable('tasks', peer, err as PollenError)
    }
    const { managerPublicKey: publicKey, swarm, maxClockSkewMs } = this.#opts
    const verdict = await checkManagerMessage(signed, { publicKey, swarm, maxClockSkewMs, now: this.#opts.clock(), lastSeq: this.#floor })
    if (!verdict.valid) return this.#refuse('tasks', verdict.reason, peer, verdict.error)
    // Checked after the signature, so that a forgery is never passed off as a replay; this also
    // catches a copy accepted while the signature was being checked.
    if (this.#wasSeen(signed.body)) return this.#refuse('tasks', 'replay', peer, replayError(signed))
    this.#remember(signed.body)
    return this.#accept(msg, { topic: 'tasks', signed })
  }

  /** Validator of the status topic. */
  readonly status: TopicValidatorFn = (peer, msg) => {
    if (msg.type !== 'signed') return this.#refuse('status', 'malformed', peer, new InvalidMessageError('unsigned gossip message'))
    if (this.#opts.isRevoked?.(msg.from) === true) return this.#refuse('status', 'revoked', peer, new RevokedPeerError(`${msg.from.toString()} is revoked`))
    try {
      return this.#accept(msg, { topic: 'status', body: decodeStatus(msg.data, { maxBytes: this.#opts.maxStatusMessageBytes }) })
    } catch (err) {
      return this.#refuseUndecodable('status', peer, err as PollenError)
    }
  }

  /** The decoded form of a message these validators accepted (once). */
  take (msg: Message): Accepted | undefined {
    const accepted = this.#accepted.get(msg)
    this.#accepted.delete(msg)
    return accepted
  }

  /** Highest `seq` accepted per kind. */
  lastSeq (): LastSeq {
    return { ...this.#highest }
  }

  /**
   * Replays are exact repeats, not merely lower numbers: tasks for different
   * targets are announced concurrently and may arrive out of order, and an
   * older one must still be relayed to the devices it is for.
   */
  #wasSeen (body: ManagerBody): boolean {
    return isReplay(body, this.#floor) || this.#seen.get(body.kind)?.has(body.seq) === true
  }

  #remember (body: ManagerBody): void {
    const seen = this.#seen.get(body.kind) ?? new Set<number>()
    this.#seen.set(body.kind, seen)
    seen.add(body.seq)
    this.#highest[body.kind] = Math.max(this.#highest[body.kind] ?? 0, body.seq)
    if (seen.size <= SEEN_WINDOW) return
    // Forget the oldest numbers, and treat everything up to them as seen.
    const oldest = Math.min(...seen)
    seen.delete(oldest)
    this.#floor[body.kind] = Math.max(this.#floor[body.kind] ?? 0, oldest)
  }

  stats (): Record<TopicKind, TopicStats> {
    return { tasks: copyStats(this.#stats.tasks), status: copyStats(this.#stats.status) }
  }

  #accept (msg: Message, accepted: Accepted): TopicValidatorResult {
    this.#accepted.set(msg, accepted)
    this.#stats[accepted.topic].accepted++
    return TopicValidatorResult.Accept
  }

  #refuseUndecodable (topic: TopicKind, peer: PeerId, err: PollenError): TopicValidatorResult {
    return this.#refuse(topic, err.name === 'MessageTooLargeError' ? 'too-large' : 'malformed', peer, err)
  }

  #refuse (topic: TopicKind, reason: RefusalReason, peer: PeerId, error: PollenError): TopicValidatorResult {
    const stats = this.#stats[topic]
    stats.refused[reason]++
    const ignore = reason === 'replay'
    if (ignore) stats.ignored++
    else stats.rejected++
    this.#opts.onRefused({ topic, reason, peer, error })
    return ignore ? TopicValidatorResult.Ignore : TopicValidatorResult.Reject
  }
}

/** Distinct `seq` numbers remembered per kind above the floor. */
const SEEN_WINDOW = 4096

function replayError (signed: Signed): PollenError {
  return new ReplayedMessageError(`${signed.body.kind} seq ${signed.body.seq} was seen already`)
}

type Counters = { -readonly [K in keyof TopicStats]: K extends 'refused' ? Record<RefusalReason, number> : number }

function emptyStats (): Counters {
  return { accepted: 0, rejected: 0, ignored: 0, refused: Object.fromEntries(REFUSAL_REASONS.map(r => [r, 0])) as Record<RefusalReason, number> }
}

function copyStats (stats: TopicStats): TopicStats {
  return { ...stats, refused: { ...stats.refused } }
}
