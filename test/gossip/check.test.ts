import test from 'ava'
import { GOSSIP_DEFAULTS } from '../../src/constants.ts'
import { checkManagerMessage, type CheckOptions, type ManagerVerdict } from '../../src/gossip/index.ts'
import { HOUR, NOW, SWARM, logRequest, managerKey, otherKey, sign, stop, tampered, task } from './fixtures.ts'

const SKEW = GOSSIP_DEFAULTS.maxClockSkewMs
const options: CheckOptions = { publicKey: managerKey.publicKey, swarm: SWARM, now: NOW }

function refusal (verdict: ManagerVerdict): { reason: string, error: string } | undefined {
  return verdict.valid ? undefined : { reason: verdict.reason, error: verdict.error.name }
}

test('a message signed by the manager for this swarm, in time and new, is valid', async t => {
  for (const body of [task(), stop(), logRequest()]) {
    t.deepEqual(await checkManagerMessage(await sign(body), options), { valid: true })
  }
  t.deepEqual(await checkManagerMessage(await sign(task({ seq: 8 })), { ...options, lastSeq: { task: 7, stop: 100 } }), { valid: true })
})

test('a body changed after signing is refused as badly signed', async t => {
  const verdict = await checkManagerMessage(tampered(await sign(task())), options)
  t.deepEqual(refusal(verdict), { reason: 'bad-signature', error: 'InvalidSignatureError' })
})

test('a message signed by another key, or with a mangled signature, is refused', async t => {
  t.deepEqual(refusal(await checkManagerMessage(await sign(task(), otherKey), options)), { reason: 'bad-signature', error: 'InvalidSignatureError' })
  const signed = await sign(task())
  const flipped = (signed.sig[0] === 'A' ? 'B' : 'A') + signed.sig.slice(1)
  t.deepEqual(refusal(await checkManagerMessage({ ...signed, sig: flipped }, options)), { reason: 'bad-signature', error: 'InvalidSignatureError' })
  t.deepEqual(refusal(await checkManagerMessage({ ...signed, sig: 'short' }, options)), { reason: 'bad-signature', error: 'InvalidSignatureError' })
})

test('a message for another swarm is refused, even when the manager signed it', async t => {
  const verdict = await checkManagerMessage(await sign(stop({ swarm: 'other-swarm' })), options)
  t.deepEqual(refusal(verdict), { reason: 'wrong-swarm', error: 'InvalidMessageError' })
})

test('an expired message is refused once past the clock skew allowance', async t => {
  const signed = await sign(task({ createdAt: NOW - 2 * HOUR, expiresAt: NOW - HOUR }))
  t.deepEqual(refusal(await checkManagerMessage(signed, options)), { reason: 'expired', error: 'MessageExpiredError' })
  const justExpired = await sign(task({ createdAt: NOW - HOUR, expiresAt: NOW - SKEW }))
  t.true((await checkManagerMessage(justExpired, options)).valid, 'within the skew allowance')
  t.false((await checkManagerMessage(justExpired, { ...options, now: NOW + 1 })).valid)
  t.true((await checkManagerMessage(justExpired, { ...options, now: NOW + 1, maxClockSkewMs: SKEW + 1 })).valid)
})

test('a message created too far in the future is refused', async t => {
  const future = await sign(logRequest({ createdAt: NOW + SKEW + 1, expiresAt: NOW + 2 * HOUR }))
  t.deepEqual(refusal(await checkManagerMessage(future, options)), { reason: 'future', error: 'InvalidMessageError' })
  const nearFuture = await sign(logRequest({ createdAt: NOW + SKEW, expiresAt: NOW + 2 * HOUR }))
  t.true((await checkManagerMessage(nearFuture, options)).valid)
})

test('a seq not above the highest seen for its kind is a replay', async t => {
  const signed = await sign(task({ seq: 5 }))
  for (const last of [5, 6, 1e9]) {
    t.deepEqual(refusal(await checkManagerMessage(signed, { ...options, lastSeq: { task: last } })), { reason: 'replay', error: 'ReplayedMessageError' }, `last ${last}`)
  }
  t.true((await checkManagerMessage(signed, { ...options, lastSeq: { task: 4, stop: 9, 'log-request': 9 } })).valid, 'other kinds count apart')
})

test('a forgery or a stranger swarm carrying an old seq is refused, not ignored as a replay', async t => {
  const lastSeq = { task: 10 }
  t.is(refusal(await checkManagerMessage(await sign(task({ seq: 1 }), otherKey), { ...options, lastSeq }))?.reason, 'bad-signature')
  t.is(refusal(await checkManagerMessage(tampered(await sign(task({ seq: 1 }))), { ...options, lastSeq }))?.reason, 'bad-signature')
  t.is(refusal(await checkManagerMessage(await sign(task({ seq: 1, swarm: 'x' })), { ...options, lastSeq }))?.reason, 'wrong-swarm')
})
