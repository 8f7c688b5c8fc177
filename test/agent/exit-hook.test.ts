import test from 'ava'
import { onProcessExit } from '../../src/agent/exit-hook.ts'

test('one exit listener however many hooks, removed with the last of them', t => {
  const before = process.listenerCount('exit')
  const ran: number[] = []
  const offs = Array.from({ length: 50 }, (_, i) => onProcessExit(() => { ran.push(i) }))
  t.is(process.listenerCount('exit'), before + 1)
  const listener = process.listeners('exit').at(-1) as () => void
  listener()
  t.is(ran.length, 50)
  for (const off of offs) { off(); off() }
  t.is(process.listenerCount('exit'), before)
})
