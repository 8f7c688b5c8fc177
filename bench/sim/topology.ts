/**
 * Who is linked to whom in a simulated swarm, in compressed rows: node n's
 * neighbours are `neighbour[start[n] .. start[n + 1])`. Node 0 is the origin.
 */

/** The links of a swarm; every link is listed at both ends. */
export interface Topology {
  readonly nodes: number
  readonly start: Int32Array
  readonly neighbour: Int32Array
  /** For the link at slot s of node a to node b: the slot of a in b's row. */
  readonly reverse: Int32Array
  /** For the link at slot s of node a to node b: that link's slot in b's row (`start[b] + reverse[s]`). */
  readonly back: Int32Array
  readonly description: string
}

/**
 * Agents 1..agents each linked to `degree` random others (a random regular
 * graph, give or take a few links where the last picks collide), the
 * origin to `originDegree` random agents on top; every node to every other
 * when `degree >= agents - 1` and `originDegree >= agents` (what
 * `bench fetch` builds).
 */
export function buildTopology (agents: number, degree: number, originDegree: number, random: () => number): Topology {
  const lists: number[][] = Array.from({ length: agents + 1 }, () => [])
  const fullMesh = degree >= agents - 1 && originDegree >= agents
  if (fullMesh) {
    for (let a = 0; a <= agents; a++) for (let b = a + 1; b <= agents; b++) link(lists, a, b)
  } else {
    randomRegular(lists, agents, Math.min(degree, agents - 1), random)
    const order = Array.from({ length: agents }, (_, i) => i + 1)
    for (let i = 0; i < Math.min(originDegree, agents); i++) {
      const j = i + Math.floor(random() * (order.length - i))
      ;[order[i], order[j]] = [order[j]!, order[i]!]
      link(lists, 0, order[i]!)
    }
  }
  return compress(lists, fullMesh
    ? 'full mesh (every node linked to every other)'
    : `random ${Math.min(degree, agents - 1)}-regular graph of agents, origin linked to ${Math.min(originDegree, agents)}`)
}

function link (lists: number[][], a: number, b: number): boolean {
  if (a === b || lists[a]!.includes(b)) return false
  lists[a]!.push(b)
  lists[b]!.push(a)
  return true
}

/** Each agent in turn links to random agents that still have fewer than `degree` links, until it has `degree`. */
function randomRegular (lists: number[][], agents: number, degree: number, random: () => number): void {
  const open = Array.from({ length: agents }, (_, i) => i + 1)
  const at = new Int32Array(agents + 1)
  for (let i = 0; i < agents; i++) at[i + 1] = i
  const close = (n: number): void => {
    const i = at[n]!
    const last = open.pop()!
    if (last !== n) { open[i] = last; at[last] = i }
    at[n] = -1
  }
  for (let a = 1; a <= agents; a++) {
    let tries = 0
    while (lists[a]!.length < degree && open.length > 1 && tries++ < degree * 8) {
      const b = open[Math.floor(random() * open.length)]!
      if (!link(lists, a, b)) continue
      if (lists[b]!.length >= degree) close(b)
    }
    if (at[a]! >= 0) close(a)
  }
}

function compress (lists: number[][], description: string): Topology {
  const start = new Int32Array(lists.length + 1)
  for (let n = 0; n < lists.length; n++) start[n + 1] = start[n]! + lists[n]!.length
  const neighbour = new Int32Array(start[lists.length]!)
  for (let n = 0; n < lists.length; n++) neighbour.set(lists[n]!, start[n]!)
  const reverse = new Int32Array(neighbour.length)
  const back = new Int32Array(neighbour.length)
  for (let a = 0; a < lists.length; a++) {
    for (let s = start[a]!; s < start[a + 1]!; s++) {
      const b = neighbour[s]!
      reverse[s] = lists[b]!.indexOf(a)
      back[s] = start[b]! + reverse[s]!
    }
  }
  return { nodes: lists.length, start, neighbour, reverse, back, description }
}
