import test from 'ava'
import { canonicalJson } from '../../src/core/canonical.ts'
import { GOSSIP_DEFAULTS } from '../../src/constants.ts'
import { TASK_LIMITS } from '../../src/core/task-schema.ts'
import { GOSSIP_LIMITS, decodeManagerMessage, decodeStatus, encodeManagerMessage, encodeStatus } from '../../src/gossip/index.ts'
import { ack, advert, json, logRequest, logs, sign, stop, task, utf8 } from './fixtures.ts'

const invalid = { name: 'InvalidMessageError' }
const tooLarge = { name: 'MessageTooLargeError' }

test('every manager message kind round-trips through canonical JSON', async t => {
  for (const body of [task(), task({ package: null, description: undefined }), stop(), logRequest()]) {
    const signed = await sign(body)
    const bytes = encodeManagerMessage(signed)
    t.is(new TextDecoder().decode(bytes), canonicalJson(signed))
    t.deepEqual(decodeManagerMessage(bytes), JSON.parse(canonicalJson(signed)))
  }
})

test('every status kind round-trips through canonical JSON', t => {
  for (const body of [advert(), advert({ task: undefined, tags: [], addresses: [] }), advert({ acks: [ack(), ack({ stage: 'install', status: 'SUCCESS', progress: undefined })] }), ack(), ack({ status: 'FAILURE', error: 'exit 1', progress: undefined }), logs(), logs({ logs: [] })]) {
    const bytes = encodeStatus(body)
    t.is(new TextDecoder().decode(bytes), canonicalJson(body))
    t.deepEqual(decodeStatus(bytes), JSON.parse(canonicalJson(body)))
  }
})

test('bytes that are not UTF-8 JSON objects are refused', t => {
  for (const bytes of [utf8('{"body":'), utf8(''), new Uint8Array([0xff, 0xfe, 0x7b, 0x7d]), utf8('null'), utf8('[]'), utf8('42'), utf8('"task"')]) {
    t.throws(() => decodeManagerMessage(bytes), invalid)
    t.throws(() => decodeStatus(bytes), invalid)
  }
})

test('unknown fields are refused at every level', async t => {
  const signed = await sign(task())
  const { body } = signed
  t.throws(() => decodeManagerMessage(json({ ...signed, extra: 1 })), { ...invalid, message: /^extra: is not a known field/ })
  t.throws(() => decodeManagerMessage(json({ ...signed, body: { ...body, extra: 1 } })), { ...invalid, message: /^body\.extra:/ })
  t.throws(() => decodeManagerMessage(json({ ...signed, body: { ...body, stages: { ...body.stages, assemble: ['x'] } } })), { ...invalid, message: /^body\.stages\.assemble:/ })
  t.throws(() => decodeManagerMessage(json({ ...signed, body: { ...body, target: { ...body.target, all: true } } })), invalid)
  t.throws(() => decodeManagerMessage(json({ ...signed, body: { ...body, package: { ...body.package, url: 'http://x' } } })), invalid)
  t.throws(() => decodeManagerMessage(utf8(`{"body":${JSON.stringify(body).slice(0, -1)},"__proto__":{}},"sig":"${signed.sig}"}`)), invalid)
  t.throws(() => decodeStatus(json({ ...advert(), extra: 1 })), { ...invalid, message: /^extra:/ })
  t.throws(() => decodeStatus(json({ ...advert(), platform: { os: 'linux', arch: 'x64', kernel: '6' } })), { ...invalid, message: /^platform\.kernel:/ })
  t.throws(() => decodeStatus(json(logs({ logs: [{ Output: 'x', Error: false, Time: 1, Pid: 3 } as never] }))), { ...invalid, message: /^logs\[0\]\.Pid:/ })
})

test('missing fields and wrong types are refused', async t => {
  const signed = await sign(task())
  const withBody = (patch: Record<string, unknown>): Uint8Array => json({ ...signed, body: { ...signed.body, ...patch } })
  t.throws(() => decodeManagerMessage(json({ body: signed.body })), { ...invalid, message: /^sig: is required/ })
  t.throws(() => decodeManagerMessage(json({ ...signed, sig: 'not base64url!' })), { ...invalid, message: /^sig:/ })
  for (const patch of [{ seq: '1' }, { seq: 1.5 }, { seq: -1 }, { v: 2 }, { kind: 'deploy' }, { debug: 'true' }, { restart: 'sometimes' },
    { createdAt: null }, { expiresAt: 1e400 }, { swarm: 'no spaces' }, { id: '../etc' }, { id: '' }, { package: 'cid' }, { stages: { install: [] } },
    { target: { ids: ['has space'] } }, { description: 7 }, { kind: undefined }]) {
    t.throws(() => decodeManagerMessage(withBody(patch)), invalid, JSON.stringify(patch))
  }
  for (const value of [{ ...advert(), id: undefined }, { ...advert(), freeDiskBytes: -1 }, { ...ack(), status: 'DONE' }, { ...ack(), stage: 'assemble' },
    { ...logs(), logs: 'x' }, { ...logs(), logs: [{ Output: 'x', Error: 'no', Time: 1 }] }, { ...advert(), kind: 'hello' }]) {
    t.throws(() => decodeStatus(json(value)), invalid, JSON.stringify(value).slice(0, 80))
  }
})

test('the rules a schema cannot express are checked too', t => {
  const body = task()
  const refused = (patch: Parameters<typeof task>[0], message: RegExp): void => {
    t.throws(() => decodeManagerMessage(json({ body: { ...body, ...patch }, sig: 'A'.repeat(86) })), { ...invalid, message })
  }
  refused({ expiresAt: body.createdAt }, /expiresAt/)
  refused({ target: {} }, /target/)
  refused({ target: { ids: [], tags: [] } }, /target/)
  refused({ stages: { ...body.stages, transfer: ['../outside'] } }, /transfer\[0\]/)
  refused({ stages: { ...body.stages, transfer: ['ok', '/etc/passwd'] } }, /transfer\[1\]/)
  refused({ stages: { ...body.stages, transfer: ['a\\b'] } }, /transfer\[0\]/)
  refused({ package: { cid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy', bytes: 1 } }, /package\.cid/)
  t.throws(() => decodeManagerMessage(json({ body: stop({ target: {} }), sig: 'A'.repeat(86) })), invalid)
  t.throws(() => decodeStatus(json(ack({ progress: { bytes: 101, total: 100 } }))), { ...invalid, message: /progress/ })
})

test('lists and strings are bounded', async t => {
  const many = (n: number, f: (i: number) => string): string[] => Array.from({ length: n }, (_, i) => f(i))
  const entry = { Output: 'x', Error: false, Time: 1 }
  t.notThrows(() => decodeStatus(json(logs({ logs: Array(GOSSIP_LIMITS.maxLogEntries).fill(entry) }))))
  t.throws(() => decodeStatus(json(logs({ logs: Array(GOSSIP_LIMITS.maxLogEntries + 1).fill(entry) }))), invalid)
  t.throws(() => decodeStatus(json(logs({ logs: [{ ...entry, Output: 'x'.repeat(8 * 1024 + 1) }] }))), { ...invalid, message: /logs\[0\]\.Output/ })
  t.notThrows(() => decodeStatus(json(advert({ tags: many(64, i => `t${i}`), addresses: many(16, i => `/ip4/10.0.0.${i}/tcp/1`) }))))
  t.throws(() => decodeStatus(json(advert({ tags: many(65, i => `t${i}`) }))), { ...invalid, message: /^tags/ })
  t.throws(() => decodeStatus(json(advert({ addresses: many(17, i => `/ip4/10.0.0.${i}/tcp/1`) }))), { ...invalid, message: /^addresses/ })
  t.throws(() => decodeStatus(json(advert({ acks: [ack(), ack(), ack(), ack()] }))), { ...invalid, message: /^acks/ })
  t.throws(() => decodeStatus(json(advert({ acks: [{ ...ack(), extra: 1 } as any] }))), { ...invalid, message: /^acks/ })
  t.throws(() => decodeStatus(json(ack({ error: 'e'.repeat(GOSSIP_LIMITS.maxErrorLength + 1) }))), invalid)
  const stages = task().stages
  const sig = 'A'.repeat(86)
  t.throws(() => decodeManagerMessage(json({ body: task({ stages: { ...stages, install: many(65, () => 'make') } }), sig })), { ...invalid, message: /install/ })
  t.throws(() => decodeManagerMessage(json({ body: task({ stages: { ...stages, run: ['x'.repeat(4097)] } }), sig })), { ...invalid, message: /run\[0\]/ })
  t.throws(() => decodeManagerMessage(json({ body: task({ target: { tags: many(2001, i => `t${i}`) } }), sig })), invalid)
  t.throws(() => decodeManagerMessage(json({ body: task({ description: 'd'.repeat(4097) }), sig })), invalid)
})

test('oversized messages are refused before parsing, on both sides', async t => {
  const signed = await sign(task())
  const bytes = encodeManagerMessage(signed)
  t.throws(() => decodeManagerMessage(bytes, { maxBytes: bytes.byteLength - 1 }), tooLarge)
  t.notThrows(() => decodeManagerMessage(bytes, { maxBytes: bytes.byteLength }))
  t.throws(() => encodeManagerMessage(signed, { maxBytes: 100 }), tooLarge)
  t.throws(() => decodeManagerMessage(new Uint8Array(GOSSIP_DEFAULTS.maxManagerMessageBytes + 1)), tooLarge)
  t.throws(() => decodeStatus(new Uint8Array(GOSSIP_DEFAULTS.maxStatusMessageBytes + 1)), tooLarge)
  const big = logs({ logs: Array(40).fill({ Output: 'x'.repeat(8000), Error: false, Time: 1 }) })
  t.throws(() => encodeStatus(big), tooLarge, 'within every per-field limit, over the byte limit')
})

test('encoders refuse what decoders would refuse', async t => {
  const signed = await sign(task())
  t.throws(() => encodeManagerMessage({ ...signed, body: { ...signed.body, seq: -1 } }), invalid)
  t.throws(() => encodeManagerMessage({ ...signed, sig: '' }), invalid)
  t.throws(() => encodeManagerMessage({ ...signed, body: { ...signed.body, seq: Number.NaN } }), invalid)
  t.throws(() => encodeStatus(advert({ tags: ['has space'] })), invalid)
  t.throws(() => encodeStatus({ ...ack(), extra: 1 } as never), invalid)
})

test('a task with every list and string at its TASK_LIMITS bound fits the default size', async t => {
  const full = (n: number, length: number, tag = ''): string[] => Array.from({ length: n }, (_, i) => `${tag}${i}`.padEnd(length, 'x'))
  const commands = full(TASK_LIMITS.maxCommands, TASK_LIMITS.maxStringLength)
  const signed = await sign(task({
    description: 'd'.repeat(TASK_LIMITS.maxDescriptionLength),
    stages: { transfer: full(TASK_LIMITS.maxCommands, TASK_LIMITS.maxStringLength, 'p'), install: commands, run: commands },
    target: { ids: full(TASK_LIMITS.maxSelectorEntries, 128, 'i'), tags: full(TASK_LIMITS.maxSelectorEntries, 128, 't') }
  }))
  const bytes = encodeManagerMessage(signed)
  t.true(bytes.byteLength < GOSSIP_DEFAULTS.maxManagerMessageBytes, `${bytes.byteLength} bytes`)
  t.deepEqual((decodeManagerMessage(bytes).body as typeof signed.body).stages.run, commands)
})
