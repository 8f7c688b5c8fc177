import test from 'ava'
import { generateKeyPair } from '@libp2p/crypto/keys'
import {
  canonicalJson, decodePublicKey, decodeSwarmFile, encodePsk, encodePublicKey, encodeSwarmFile, matchesSelector,
  parseTaskDocument, signBody, validateTaskSpec, verifySigned, type TaskBody
} from '../../src/core/index.ts'

const fieldOf = (t: any, fn: () => unknown): string | undefined => {
  const err = t.throws(fn)
  t.is(err?.name, 'InvalidTaskError')
  return (err as any).field
}

test('the Appendix A sample parses from YAML and JSON alike', t => {
  const yaml = 'stages:\n  transfer:\n    - package\n  install:\n    - mv package/* .\n  run:\n    - python -u controller.py\ntarget:\n  tags:\n    - hanger\n'
  const fromYaml = parseTaskDocument(yaml)
  t.deepEqual(fromYaml, parseTaskDocument(JSON.stringify(fromYaml)))
  t.deepEqual(fromYaml.target.tags, ['hanger'])
})

test('invalid tasks name the offending field', t => {
  t.is(fieldOf(t, () => validateTaskSpec({ stages: { install: [3] }, target: { tags: ['a'] } })), 'stages.install[0]')
  t.is(fieldOf(t, () => validateTaskSpec({ stages: {}, target: { tags: ['a'] }, colour: 'red' })), 'colour')
  t.is(fieldOf(t, () => validateTaskSpec({ stages: {} })), 'target')
  t.is(fieldOf(t, () => validateTaskSpec({ stages: {}, target: {} })), 'target')
  t.is(fieldOf(t, () => validateTaskSpec({ stages: {}, target: { ids: ['a'] }, run: { restart: 'sometimes' } })), 'run.restart')
  t.is(fieldOf(t, () => validateTaskSpec({ stages: { transfer: ['../etc'] }, target: { ids: ['a'] } })), 'stages.transfer[0]')
  t.is(fieldOf(t, () => validateTaskSpec({ stages: { transfer: ['/etc'] }, target: { ids: ['a'] } })), 'stages.transfer[0]')
  t.is(fieldOf(t, () => validateTaskSpec({ stages: {}, target: { tags: ['a b'] } })), 'target.tags[0]')
  t.is(fieldOf(t, () => validateTaskSpec({ stages: {}, target: { ids: ['a'] }, run: { workdir: '../..' } })), 'run.workdir')
  t.is(fieldOf(t, () => validateTaskSpec({ stages: {}, target: { ids: ['a'] }, run: { workdir: '/srv' } })), 'run.workdir')
  t.is(validateTaskSpec({ stages: {}, target: { ids: ['a'] }, run: { workdir: 'bin/x' } }).run?.workdir, 'bin/x')
})

test('YAML is parsed safely: custom tags, alias bombs and duplicate keys are refused', t => {
  fieldOf(t, () => parseTaskDocument('stages: !!js/function "return 1"\ntarget: {tags: [a]}'))
  fieldOf(t, () => parseTaskDocument('stages: !custom {}\ntarget: {tags: [a]}'))
  fieldOf(t, () => parseTaskDocument('stages: {}\nstages: {}\ntarget: {tags: [a]}'))
  const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
  for (let i = 1; i < 9; i++) bomb.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill('*' + String.fromCharCode(96 + i)).join(',')}]`)
  fieldOf(t, () => parseTaskDocument(bomb.join('\n')))
  fieldOf(t, () => parseTaskDocument(''))
  fieldOf(t, () => parseTaskDocument('{ not yaml'))
})

test('a target matches when its id is listed or it has every listed tag', t => {
  const drone = { id: 'd1', tags: ['drone', 'armhf', 'hanger'] }
  t.true(matchesSelector({ ids: ['d1'] }, drone))
  t.true(matchesSelector({ tags: ['drone', 'hanger'] }, drone))
  t.false(matchesSelector({ tags: ['drone', 'crewA'] }, drone))
  t.true(matchesSelector({ ids: ['d1'], tags: ['crewA'] }, drone), 'id OR tags')
  t.false(matchesSelector({}, drone))
})

test('canonical JSON sorts keys at every level and drops undefined', t => {
  t.is(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: undefined, x: 'é' }], c: null } }), '{"a":{"c":null,"d":[1,{"x":"é","z":1}]},"b":1}')
  t.throws(() => canonicalJson({ a: NaN }))
  t.throws(() => canonicalJson({ a: new Date() }))
})

test('signatures verify over the canonical body and fail on any change or another key', async t => {
  const key = await generateKeyPair('Ed25519')
  const body: TaskBody = {
    kind: 'task', v: 1, id: 't1', swarm: 's', seq: 1, createdAt: 1, expiresAt: 2, package: null,
    stages: { transfer: [], install: [], run: ['x'] }, target: { tags: ['a'] }, debug: false, restart: 'never'
  }
  const signed = await signBody(key, body)
  const pub = decodePublicKey(encodePublicKey(key.publicKey))
  await t.notThrowsAsync(verifySigned(pub, { body: JSON.parse(JSON.stringify(signed.body)), sig: signed.sig }))
  const bad = await t.throwsAsync(verifySigned(pub, { ...signed, body: { ...body, stages: { ...body.stages, run: ['y'] } } }))
  t.is(bad?.name, 'InvalidSignatureError')
  const other = await generateKeyPair('Ed25519')
  t.is((await t.throwsAsync(verifySigned(other.publicKey, signed)))?.name, 'InvalidSignatureError')
  t.is((await t.throwsAsync(verifySigned(pub, { ...signed, sig: 'short' })))?.name, 'InvalidSignatureError')
})

test('swarm.json round trips and malformed files are refused with SwarmFileError', async t => {
  const key = await generateKeyPair('Ed25519')
  const file = { version: 1 as const, name: 'fleet-1', managerPublicKey: encodePublicKey(key.publicKey), psk: encodePsk(new Uint8Array(32).fill(7)) }
  t.deepEqual(decodeSwarmFile(encodeSwarmFile(file)), file)
  for (const bad of ['{', '[]', JSON.stringify({ ...file, version: 2 }), JSON.stringify({ ...file, name: 'a b' }), JSON.stringify({ ...file, managerPublicKey: 'AAAA' }), JSON.stringify({ ...file, psk: 'x' })]) {
    t.is(t.throws(() => decodeSwarmFile(bad))?.name, 'SwarmFileError', bad)
  }
})
