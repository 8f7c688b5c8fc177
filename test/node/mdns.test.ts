import test from 'ava'
import { coalesce } from '../../src/node/mdns.ts'

test('coalesce runs the first call at once and the calls within the gap as one, with the latest arguments', async t => {
  let clock = 0
  const calls: number[] = []
  const answer = coalesce((n: number) => { calls.push(n) }, () => 1_000, () => clock)
  answer(1)
  t.deepEqual(calls, [1])
  clock = 200
  answer(2)
  answer(3)
  t.deepEqual(calls, [1], 'calls within the gap wait')
  // The trailing call is due at 1,000 on the injected clock: the timer fires after 800 real ms.
  clock = 1_000
  await new Promise(resolve => setTimeout(resolve, 900))
  t.deepEqual(calls, [1, 3], 'one call at the gap\'s end, with the latest arguments')
  clock = 1_500
  answer(4)
  t.deepEqual(calls, [1, 3], 'a new gap starts at the trailing call')
  answer.cancel()
  clock = 3_000
  await new Promise(resolve => setTimeout(resolve, 600))
  t.deepEqual(calls, [1, 3], 'cancel drops the pending call')
  answer(5)
  t.deepEqual(calls, [1, 3, 5], 'after the gap a call runs at once again')
})
