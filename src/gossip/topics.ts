/** The gossipsub topics of a swarm. */
import { InvalidOptionError } from '../core/errors.ts'
import { SWARM_NAME } from '../core/swarm.ts'

/** Topic names of one swarm. */
export interface SwarmTopics {
  /** `pollen/<swarm>/tasks`: manager → everyone (signed tasks, stop orders, log requests). */
  readonly tasks: string
  /**
   * `pollen/<swarm>/status`: agents → manager (adverts, acks, logs) through
   * relays, for agents without a link to the manager.
   */
  readonly status: string
  /**
   * `pollen/<swarm>/reports`: the same reports from agents linked to the
   * manager. Only the manager subscribes, so gossipsub hands each report to
   * it alone: relays (subscribed to `status`) never see them.
   */
  readonly reports: string
  /**
   * `pollen/<swarm>/relay-wanted`: nothing is ever published here. An agent
   * with no link to the manager subscribes, and a neighbour that has one sees
   * the subscription and relays the status topic for it.
   */
  readonly relayWanted: string
}

/**
 * The topics of the swarm named `swarm`.
 * @throws {InvalidOptionError} `swarm` is not a valid swarm name.
 */
export function swarmTopics (swarm: string): SwarmTopics {
  if (!SWARM_NAME.test(swarm)) throw new InvalidOptionError(`swarm name ${JSON.stringify(swarm)} must be 1-64 letters, digits, ".", "_" or "-"`)
  return { tasks: `pollen/${swarm}/tasks`, status: `pollen/${swarm}/status`, reports: `pollen/${swarm}/reports`, relayWanted: `pollen/${swarm}/relay-wanted` }
}
