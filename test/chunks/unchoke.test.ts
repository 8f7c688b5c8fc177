import test from 'ava'
import { Unchoker, type Chokeable } from '../../src/chunks/unchoke.ts'

/** A session that records what it was told. */
class FakeSession implements Chokeable {
  readonly name: string
  busy = false
  readonly told: boolean[] = []
  constructor (name: string) { this.name = name }
  setChoked = (choked: boolean): void => { this.told.push(choked) }
}

function setup (slots = 2, turnChunks = 2, idleMs = 5_000): { unchoker: Unchoker, clock: { now: number } } {
  const clock = { now: 0 }
  const unchoker = new Unchoker({ slots, turnChunks, idleMs, checkMs: 1_000, now: () => clock.now })
  return { unchoker, clock }
}

test('the first `slots` sessions are served, the others wait', t => {
  const { unchoker } = setup(2)
  const [a, b, c] = ['a', 'b', 'c'].map(n => new FakeSession(n))
  t.false(unchoker.join(a!))
  t.false(unchoker.join(b!))
  t.true(unchoker.join(c!))
  t.true(unchoker.serves(a!))
  t.false(unchoker.serves(c!))
  t.is(unchoker.served, 2)
  t.is(unchoker.waiting, 1)
  unchoker.stop()
})

test('after `turnChunks` chunks a served session is choked and the longest-waiting one served', t => {
  const { unchoker } = setup(1, 2)
  const [a, b, c] = ['a', 'b', 'c'].map(n => new FakeSession(n))
  unchoker.join(a!); unchoker.join(b!); unchoker.join(c!)
  unchoker.sent(a!)
  t.deepEqual(a!.told, [])
  unchoker.sent(a!)
  t.deepEqual(a!.told, [true])
  t.deepEqual(b!.told, [false])
  t.deepEqual(c!.told, [])
  unchoker.sent(b!); unchoker.sent(b!)
  t.deepEqual(c!.told, [false], 'c waited longer than a')
  unchoker.sent(c!); unchoker.sent(c!)
  t.deepEqual(a!.told, [true, false], 'a is served again after everyone had a turn')
  unchoker.stop()
})

test('with nobody waiting a finished or idle turn is followed by a new one for the same session', t => {
  const { unchoker, clock } = setup(2, 1, 5_000)
  const a = new FakeSession('a')
  unchoker.join(a)
  unchoker.sent(a); unchoker.sent(a)
  t.deepEqual(a.told, [false, false], 'a new turn after each chunk')
  t.true(unchoker.serves(a))
  clock.now = 4_000
  unchoker.tick()
  t.deepEqual(a.told, [false, false])
  clock.now = 5_000
  unchoker.tick()
  t.deepEqual(a.told, [false, false, false], 'idle: a new turn')
  unchoker.stop()
})

test('a served session idle for `idleMs` gives its place up; a busy one keeps it', t => {
  const { unchoker, clock } = setup(2, 100, 5_000)
  const [a, b, c] = ['a', 'b', 'c'].map(n => new FakeSession(n))
  unchoker.join(a!); unchoker.join(b!); unchoker.join(c!)
  a!.busy = true
  clock.now = 4_000
  unchoker.asked(b!)
  clock.now = 6_000
  unchoker.tick()
  t.deepEqual(a!.told, [], 'busy: requests queued or being sent')
  t.deepEqual(b!.told, [], 'asked 2 s ago')
  a!.busy = false
  unchoker.tick()
  t.deepEqual(a!.told, [true])
  t.deepEqual(c!.told, [false])
  unchoker.stop()
})

test('a session that leaves hands its place to a waiting one; a waiting one that leaves is forgotten', t => {
  const { unchoker } = setup(1)
  const [a, b, c] = ['a', 'b', 'c'].map(n => new FakeSession(n))
  unchoker.join(a!); unchoker.join(b!); unchoker.join(c!)
  unchoker.leave(b!)
  unchoker.leave(a!)
  t.deepEqual(c!.told, [false])
  t.true(unchoker.serves(c!))
  t.is(unchoker.waiting, 0)
  unchoker.leave(c!)
  t.is(unchoker.served, 0)
})

test('sent and asked of a session that is not served change nothing', t => {
  const { unchoker } = setup(1, 1)
  const [a, b] = ['a', 'b'].map(n => new FakeSession(n))
  unchoker.join(a!); unchoker.join(b!)
  unchoker.sent(b!)
  unchoker.asked(b!)
  t.true(unchoker.serves(a!))
  t.deepEqual(a!.told, [])
  unchoker.stop()
})
