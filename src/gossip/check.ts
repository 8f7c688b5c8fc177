/**
 * Whether a decoded manager message is to be obeyed: a pure function of the
 * message, the manager key, the swarm name, the clock and the highest
 * sequence numbers seen, so it is tested without a network.
 */
import { GOSSIP_DEFAULTS } from '../constants.ts'
import { InvalidMessageError, InvalidSignatureError, MessageExpiredError, ReplayedMessageError, type PollenError } from '../core/errors.ts'
import { verifySigned } from '../core/signing.ts'
import type { ManagerBody, Signed } from '../core/task.ts'
import type { PublicKey } from '@libp2p/interface'

/** Kinds of manager message; each has its own sequence of `seq` numbers as far as replay checks go. */
export type ManagerKind = ManagerBody['kind']

/** Per kind, a `seq` at or below which every message counts as seen (a replay); a kind never seen is absent. */
export type LastSeq = Partial<Record<ManagerKind, number>>

/** Why a manager message is refused. `replay` is the only one an honest relay can cause. */
export type ManagerRefusal = 'wrong-swarm' | 'bad-signature' | 'replay' | 'expired' | 'future'

/** Outcome of {@link checkManagerMessage}. */
export type ManagerVerdict =
  | { readonly valid: true }
  | { readonly valid: false, readonly reason: ManagerRefusal, readonly error: PollenError }

/** What {@link checkManagerMessage} checks against. */
export interface CheckOptions {
  /** The manager's public key (from swarm.json). */
  readonly publicKey: PublicKey
  /** This swarm's name. */
  readonly swarm: string
  /** Current time, ms since the epoch. */
  readonly now: number
  /** Per kind, the `seq` at or below which messages are replays. */
  readonly lastSeq?: LastSeq
  /** @default GOSSIP_DEFAULTS.maxClockSkewMs */
  readonly maxClockSkewMs?: number
}

/**
 * Check a decoded manager message, in order: swarm name, signature (with
 * {@link verifySigned}), replay (`seq` at or below `lastSeq` for its kind;
 * the validators also remember exact numbers seen above it), expiry (`expiresAt` more than the skew allowance in the past),
 * creation time (more than the skew allowance in the future). Absolute
 * faults come first, so a forgery is never mistaken for a replay; a replay is
 * reported before clock faults, as an old message is mostly also stale.
 */
export async function checkManagerMessage (signed: Signed, options: CheckOptions): Promise<ManagerVerdict> {
  const { body } = signed
  const skew = options.maxClockSkewMs ?? GOSSIP_DEFAULTS.maxClockSkewMs
  if (body.swarm !== options.swarm) {
    return refuse('wrong-swarm', new InvalidMessageError(`${body.kind} is for swarm ${JSON.stringify(body.swarm)}, not ${JSON.stringify(options.swarm)}`))
  }
  try {
    await verifySigned(options.publicKey, signed)
  } catch (err) {
    return refuse('bad-signature', err instanceof InvalidSignatureError ? err : new InvalidSignatureError(`${body.kind} signature does not verify`, { cause: err }))
  }
  if (isReplay(body, options.lastSeq)) {
    return refuse('replay', new ReplayedMessageError(`${body.kind} seq ${body.seq} is not above ${options.lastSeq?.[body.kind]}`))
  }
  if (body.expiresAt < options.now - skew) {
    return refuse('expired', new MessageExpiredError(`${body.kind} seq ${body.seq} expired at ${iso(body.expiresAt)}`))
  }
  if (body.createdAt > options.now + skew) {
    return refuse('future', new InvalidMessageError(`${body.kind} seq ${body.seq} is created at ${iso(body.createdAt)}, in the future`))
  }
  return { valid: true }
}

/** Is `body.seq` at or below the floor for its kind? */
export function isReplay (body: ManagerBody, lastSeq: LastSeq | undefined): boolean {
  const last = lastSeq?.[body.kind]
  return last !== undefined && body.seq <= last
}

function iso (ms: number): string {
  const date = new Date(ms)
  return Number.isNaN(date.getTime()) ? `${ms} ms` : date.toISOString()
}

function refuse (reason: ManagerRefusal, error: PollenError): ManagerVerdict {
  return { valid: false, reason, error }
}
