import test from 'ava'
import { advertGate } from '../../src/agent/advert-gate.ts'

test('an advert is skipped after a recent report, at most maxSkipped times in a row', t => {
  const due = advertGate(2)
  t.true(due(10_000, -Infinity, 10_000), 'no report yet')
  t.false(due(20_000, 15_000, 10_000), 'a report 5 s ago')
  t.false(due(30_000, 25_000, 10_000), 'another one')
  t.true(due(40_000, 35_000, 10_000), 'two skipped in a row already')
  t.false(due(50_000, 45_000, 10_000), 'the count starts again')
  t.true(due(60_000, 45_000, 10_000), 'no report within the gap')
})
