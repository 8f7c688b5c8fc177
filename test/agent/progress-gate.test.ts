import test from 'ava'
import { progressGate } from '../../src/agent/progress-gate.ts'

test('progress is reported at most once per interval, and only after a step of the package', t => {
  const due = progressGate(2_000, 0.05)
  const total = 1000
  t.false(due(0, 10, total), '1 %: below the step')
  t.true(due(100, 60, total))
  t.false(due(1_000, 200, total), 'within the interval')
  t.false(due(2_200, 90, total), 'an interval later, but only 3 % further')
  t.true(due(2_300, 110, total))
  t.true(due(60_000, 1000, total))
})
