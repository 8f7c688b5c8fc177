/**
 * Seeded generators of malformed input for the REST fuzz test: random JSON
 * and YAML texts (wrong types, huge strings, deep nesting, prototype keys),
 * YAML alias bombs and tags, byte mutations, multipart bodies and hand-made
 * tar archives. Deterministic for a seed (xorshift32 of src/core), so a
 * failing case can be replayed. The word `assemble` is never generated, so
 * no fuzzed task can make the manager run a command.
 */
import { gzipSync } from 'node:zlib'
import { xorshift32 } from '../../src/core/index.ts'

/** A seeded source of choices. */
export class Rng {
  readonly #next: () => number
  constructor (seed: number) { this.#next = xorshift32(seed) }
  /** An integer in [0, n). */
  int (n: number): number { return this.#next() % n }
  /** `true` with probability `p`. */
  chance (p: number): boolean { return this.#next() / 0x1_0000_0000 < p }
  pick<T> (items: readonly T[]): T { return items[this.int(items.length)]! }
  /** `length` picks from `alphabet`, joined. */
  chars (length: number, alphabet: readonly string[] = ALPHABETS.ascii): string {
    let out = ''
    for (let i = 0; i < length; i++) out += this.pick(alphabet)
    return out
  }
}

const range = (from: number, to: number): string[] => Array.from({ length: to - from + 1 }, (_, i) => String.fromCharCode(from + i))

/** Characters strings are drawn from. */
export const ALPHABETS = {
  ascii: range(0x20, 0x7e),
  control: ['\0', '\x01', '\x07', '\b', '\t', '\n', '\r', '\x1b', '\x7f', '\x85'],
  unicode: ['é', 'ß', 'Ж', '日本', '🙂', '\u202e', '\ufeff', '\u2028', '\ud800', '\udfff', '\u0301', '\uffff'],
  yaml: [':', '-', '?', '[', ']', '{', '}', ',', '#', '&', '*', '!', '|', '>', "'", '"', '%', '@', '`', ' ', '\n', '\t', '<<', '---', '...']
} as const satisfies Record<string, readonly string[]>

/** Keys of random objects: the task and target fields, prototype keys, odd ones. */
const KEYS = [
  'stages', 'target', 'transfer', 'install', 'run', 'ids', 'tags', 'description', 'debug', 'restart',
  'id', 'ID', 'Tags', 'Task', 'History', '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '', ' ', 'a.b', '$ref'
]

const NUMBERS = ['0', '-0', '1', '-1', '1.5', '1e308', '-1e308', '1e-400', '1e400', '9007199254740993', '123456789012345678901234567890', '0.1']

/** A random string: mostly short, sometimes just over a schema limit. */
export function randomString (rng: Rng): string {
  const length = rng.pick([0, 1, 3, 8, 20, 64, 129, 257, 4097])
  const alphabet = rng.pick([ALPHABETS.ascii, ALPHABETS.ascii, ALPHABETS.unicode, ALPHABETS.control, ALPHABETS.yaml])
  return rng.chars(length, alphabet)
}

/** The text of a random JSON value, objects with keys from {@link KEYS} (duplicates and `__proto__` included). */
export function randomJson (rng: Rng, depth = 0): string {
  const kind = depth >= 4 ? rng.int(3) : rng.int(6)
  if (kind === 0) return rng.pick(['null', 'true', 'false'])
  if (kind === 1) return rng.pick(NUMBERS)
  if (kind === 2) return JSON.stringify(randomString(rng))
  const n = rng.int(5)
  if (kind === 3) return `[${Array.from({ length: n }, () => randomJson(rng, depth + 1)).join(',')}]`
  return `{${Array.from({ length: n + 1 }, () => `${JSON.stringify(randomKey(rng))}:${randomJson(rng, depth + 1)}`).join(',')}}`
}

function randomKey (rng: Rng): string {
  return rng.chance(0.8) ? rng.pick(KEYS) : randomString(rng).slice(0, 40)
}

/** Scalars that mean something else to YAML than they seem to, or nothing at all. */
const YAML_SCALARS = [
  '~', 'null', 'yes', 'no', 'on', 'off', 'y', '0x1F', '0o17', '0b101', '.inf', '-.inf', '.nan', '2001-12-14', '2001-12-14t21:59:43.10-05:00',
  '!!str 1', '!!int x', '!!float abc', '!!bool maybe', '!!null x', '!!js/function "function () { return 1 }"', '!!js/undefined ""',
  '!!python/object/apply:os.system ["true"]', '!ruby/object:Gem::Installer {}', '!foo bar', '!<tag:evil.com,2000:x> y', '!!binary aGVsbG8=',
  '!!timestamp 2001-12-14', '!!set {a, b}', '!!omap [a: 1]', '!!pairs [a: 1]', '&a anchored', '*a', '*undefined', '"\\x00\\ud800"', "'it''s'",
  '|\n  block', '>-\n  folded', '"unterminated', "'unterminated", '[unclosed', '{unclosed: 1', '@reserved', '`reserved', '%directive'
]

/** The text of a random YAML document: block and flow collections, nasty scalars, random keys. */
export function randomYaml (rng: Rng, indent = 0): string {
  const pad = ' '.repeat(indent)
  const lines: string[] = []
  for (let i = 0, n = 1 + rng.int(5); i < n; i++) {
    const key = rng.chance(0.8) ? rng.pick(KEYS) : rng.pick(YAML_SCALARS)
    const prefix = rng.chance(0.2) ? `${pad}- ` : `${pad}${key === '' ? '""' : key}: `
    if (indent < 8 && rng.chance(0.3)) lines.push(`${prefix.trimEnd()}\n${randomYaml(rng, indent + 2)}`)
    else if (rng.chance(0.2)) lines.push(`${prefix}${randomJson(rng, 2)}`)
    else lines.push(`${prefix}${rng.chance(0.6) ? rng.pick(YAML_SCALARS) : randomString(rng).replace(/\n/g, ' ')}`)
  }
  return lines.join('\n')
}

/** Nested collections `levels` deep, in JSON or YAML syntax. */
export function deepNesting (kind: 'json-array' | 'json-object' | 'yaml-flow' | 'yaml-dash' | 'yaml-block', levels: number): string {
  if (kind === 'json-array' || kind === 'yaml-flow') return '['.repeat(levels) + ']'.repeat(levels)
  if (kind === 'json-object') return '{"a":'.repeat(levels) + '1' + '}'.repeat(levels)
  if (kind === 'yaml-dash') return `${'- '.repeat(levels)}x`
  return Array.from({ length: levels }, (_, i) => `${' '.repeat(i)}a:`).join('\n') + ' 1'
}

/** Fixed YAML documents every parser has to survive. */
export const NASTY_YAML: readonly string[] = [
  // billion laughs: 9^7 strings if expanded
  ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    ...'bcdefg'.split('').map((c, i) => `${c}: &${c} [${Array(9).fill(`*${'abcdefg'[i]}`).join(',')}]`)].join('\n'),
  `a: &a x\nb: [${Array(1000).fill('*a').join(', ')}]`,
  '&a [*a]',
  '&a {k: *a}',
  'a: *nowhere',
  'base: &b {stages: {}}\n<<: *b\ntarget: {tags: [x]}',
  '%YAML 1.1\n---\nstages: !!js/function "function () {}"',
  '%TAG ! tag:evil.com,2000:\n---\nstages: !x {}',
  '%YAML 9.9\n---\na: 1',
  'a: 1\n---\nb: 2\n---\nc: 3',
  '---\n...\n---\n...',
  'stages:\n\tinstall: [x]',
  '\ufeffstages: {}',
  'a: 1\na: 2',
  '? [a, b]\n: complex key',
  '? {a: 1}\n: complex key',
  '[a, b]: flow key',
  'a: "\\uD800"',
  'a: |\n  x\n y',
  '- a\nb: c',
  'a:\n- b\n  - c',
  '"a\0b": c',
  ':',
  '-',
  '?',
  '!',
  '&',
  '*',
  '|',
  '>',
  '%',
  '@',
  '\0',
  ''
]

/** `count` random edits of `text`: deletions, insertions of YAML syntax, duplications, truncation. */
export function mutate (rng: Rng, text: string, count = 1 + rng.int(4)): string {
  let out = text
  for (let i = 0; i < count; i++) {
    const at = rng.int(out.length + 1)
    const op = rng.int(5)
    if (op === 0) out = out.slice(0, at) + out.slice(at + 1 + rng.int(8))
    else if (op === 1) out = out.slice(0, at) + rng.chars(1 + rng.int(3), rng.pick([ALPHABETS.yaml, ALPHABETS.control, ALPHABETS.unicode])) + out.slice(at)
    else if (op === 2) out = out.slice(0, at) + out.slice(Math.max(0, at - 16), at) + out.slice(at)
    else if (op === 3) out = out.slice(0, at)
    else out = out.slice(0, at) + rng.pick(YAML_SCALARS) + out.slice(at)
  }
  return out
}

// ── multipart ─────────────────────────────────────────────────────────

/** One part of a multipart body; `headers` replaces the usual ones when given. */
export interface MultipartPart {
  readonly name?: string
  readonly value: string | Buffer
  readonly filename?: string
  readonly contentType?: string
  readonly headers?: string
}

/** Encode parts with `boundary`; `end` is what closes the body (the final boundary by default). */
export function encodeMultipart (boundary: string, parts: readonly MultipartPart[], end = `--${boundary}--\r\n`): Buffer {
  const chunks: Buffer[] = []
  for (const part of parts) {
    const name = part.name === undefined ? '' : `; name="${part.name}"`
    const file = part.filename === undefined ? '' : `; filename="${part.filename}"`
    const type = part.contentType === undefined ? '' : `Content-Type: ${part.contentType}\r\n`
    const headers = part.headers ?? `Content-Disposition: form-data${name}${file}\r\n${type}`
    chunks.push(Buffer.from(`--${boundary}\r\n${headers}\r\n`), Buffer.from(part.value), Buffer.from('\r\n'))
  }
  chunks.push(Buffer.from(end))
  return Buffer.concat(chunks)
}

// ── tar archives ──────────────────────────────────────────────────────

/** One hand-made tar entry; the fields lie when told to. */
export interface TarEntry {
  readonly name: string
  /** ustar type flag: `0` file, `1` hard link, `2` symlink, `3` char device, `5` directory, `6` FIFO, `x` pax header. */
  readonly type?: string
  readonly body?: Buffer
  readonly linkname?: string
  /** Size field, when it should differ from the body. */
  readonly size?: string
  readonly badChecksum?: boolean
}

function field (header: Buffer, offset: number, length: number, value: string): void {
  header.write(value.slice(0, length), offset, 'utf8')
}

function octal (value: number, length: number): string {
  return value.toString(8).padStart(length - 1, '0')
}

function tarHeader (entry: TarEntry): Buffer {
  const header = Buffer.alloc(512)
  const body = entry.body ?? Buffer.alloc(0)
  field(header, 0, 100, entry.name)
  field(header, 100, 8, octal(0o644, 8))
  field(header, 108, 8, octal(0, 8))
  field(header, 116, 8, octal(0, 8))
  field(header, 124, 12, entry.size ?? octal(body.length, 12))
  field(header, 136, 12, octal(0, 12))
  header.fill(' ', 148, 156)
  field(header, 156, 1, entry.type ?? '0')
  field(header, 157, 100, entry.linkname ?? '')
  field(header, 257, 6, 'ustar\0')
  field(header, 263, 2, '00')
  let sum = 0
  for (const byte of header) sum += byte
  field(header, 148, 8, `${octal(entry.badChecksum === true ? sum + 7 : sum, 7)}\0`)
  return header
}

/** A tar of the entries, padded to 512-byte blocks and closed by two zero blocks unless `truncate`. */
export function tarOf (entries: readonly TarEntry[], truncate = false): Buffer {
  const blocks: Buffer[] = []
  for (const entry of entries) {
    const body = entry.body ?? Buffer.alloc(0)
    blocks.push(tarHeader(entry), body, Buffer.alloc((512 - body.length % 512) % 512))
  }
  if (!truncate) blocks.push(Buffer.alloc(1024))
  return Buffer.concat(blocks)
}

function paxRecord (key: string, value: string): string {
  const text = ` ${key}=${value}\n`
  let length = text.length
  while (String(length).length + text.length !== length) length = String(length).length + text.length
  return `${length}${text}`
}

/** 2 MiB of zeros in a tar.gz of about 2 kB, made once. */
let zeros: Buffer | undefined

/**
 * A package the manager must refuse with a 4xx: not an archive, a broken one,
 * an unsafe entry, or a safe archive without the `package` path the fuzzed
 * task transfers.
 */
export function badPackage (rng: Rng): { kind: string, bytes: Buffer } {
  const file = (name: string, size = rng.int(600)): TarEntry => ({ name, body: Buffer.from(rng.chars(size)) })
  const kinds: Array<[string, () => Buffer]> = [
    ['random bytes', () => Buffer.from(rng.chars(1 + rng.int(4000), ALPHABETS.ascii.concat(ALPHABETS.control)), 'latin1')],
    ['gzip of random bytes', () => gzipSync(Buffer.from(rng.chars(1 + rng.int(4000))))],
    ['truncated gzip', () => { const gz = gzipSync(tarOf([file('other.txt', 3000)])); return gz.subarray(0, 1 + rng.int(gz.length - 1)) }],
    ['truncated tar', () => { const tar = tarOf([file('other.txt', 3000)]); return tar.subarray(0, 1 + rng.int(tar.length - 1025)) }],
    ['dot-dot path', () => tarOf([file(rng.pick(['../evil', 'a/../../evil', 'package/../../evil', '..']))])],
    ['absolute path', () => tarOf([file(rng.pick(['/tmp/pollen-fuzz-evil', '/package', 'C:/evil']))])],
    ['symlink out', () => tarOf([{ name: rng.pick(['package', 'link']), type: '2', linkname: rng.pick(['/etc', '../../etc', '../']) }])],
    ['hard link out', () => tarOf([{ name: 'package', type: '1', linkname: rng.pick(['../x', '/etc/passwd']) }])],
    ['device', () => tarOf([{ name: 'package', type: rng.pick(['3', '4', '6']) }])],
    ['bad checksum', () => tarOf([{ ...file('other'), badChecksum: true }])],
    ['size lie', () => tarOf([{ ...file('other', 10), size: rng.pick(['77777777777', 'zzzzzzzzzzz', '-1', '']) }], rng.chance(0.5))],
    ['pax path', () => { const pax = Buffer.from(paxRecord('path', rng.pick(['../evil', '/evil', 'a\0b']))); return tarOf([{ name: 'PaxHeader', type: 'x', body: pax }, file('ok')]) }],
    ['nul in name', () => tarOf([file('pack\0age')])],
    ['no package path', () => tarOf([file('other.txt'), { name: 'dir/', type: '5' }, file('dir/inner')])],
    ['empty tar', () => Buffer.alloc(1024)],
    ['empty file', () => Buffer.alloc(0)],
    ['gzip of zeros', () => (zeros ??= gzipSync(tarOf([{ name: 'zeros', body: Buffer.alloc(2 * 1024 * 1024) }])))]
  ]
  const [kind, make] = rng.pick(kinds)
  return { kind, bytes: make() }
}
