/**
 * A multipart task upload: one `task` part (a field or a file, YAML or JSON)
 * and at most one `package` file part under a byte limit, streamed to the
 * manager's unpacking as it arrives where the manager offers that
 * (`receivePackage`), else to a private temporary directory. The caller
 * disposes of the one and removes the other.
 */
import { createWriteStream } from 'node:fs'
import { mkdtemp, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Multipart, MultipartValue } from '@fastify/multipart'
import type { FastifyRequest } from 'fastify'
import { InvalidOptionError, MessageTooLargeError, parseTaskDocument, validateTaskSpec, type TaskSpec } from '../core/index.ts'
import { InvalidRequestError } from './errors.ts'
import type { ManagerService, ReceivedPackage } from './service.ts'

/** Limits and location of an upload. */
export interface UploadOptions {
  /** Largest `task` part. */
  readonly taskLimit: number
  /** Largest `package` part. */
  readonly packageLimit: number
  /** Directory the temporary package directory is created in. */
  readonly uploadDir: string
  /** The manager's unpacking of a package as it arrives, if it has one. */
  readonly receive?: ManagerService['receivePackage']
  readonly signal?: AbortSignal
}

/** What a multipart task upload carried. */
export interface Upload {
  spec?: TaskSpec
  /** The package file, inside {@link Upload.tempDir}. */
  packagePath?: string
  /** Temporary directory to remove once the task is created (or not). */
  tempDir?: string
  /** Or the package as the manager unpacked it, to dispose of once the task is created (or not). */
  received?: ReceivedPackage
}

/**
 * Check at start-up that uploads have somewhere to go.
 * @throws {InvalidOptionError} `dir` is not an existing directory.
 */
export async function checkUploadDir (dir: string): Promise<void> {
  const info = await stat(dir).catch(() => undefined)
  if (info?.isDirectory() !== true) throw new InvalidOptionError(`uploadDir ${JSON.stringify(dir)} is not an existing directory`)
}

/**
 * Read every part of a multipart task upload into `upload` (filled in as
 * parts arrive, so the caller can clean up a half-read upload).
 * @throws {InvalidRequestError} a part is missing, repeated or unknown.
 * @throws {InvalidTaskError} the task part is not a valid task.
 * @throws {MessageTooLargeError} a part is over its limit.
 */
export async function readUpload (request: FastifyRequest, options: UploadOptions, upload: Upload): Promise<Required<Pick<Upload, 'spec'>> & Upload> {
  const seen = new Set<string>()
  for await (const part of partsOf(request)) {
    if (part.fieldname !== 'task' && part.fieldname !== 'package') {
      discard(part)
      const name = shorten(part.fieldname ?? '')
      throw new InvalidRequestError(`unknown part ${JSON.stringify(name)}: send a "task" part and optionally a "package" file`, { field: name })
    }
    if (seen.has(part.fieldname)) {
      discard(part)
      throw new InvalidRequestError(`two "${part.fieldname}" parts: send one`, { field: part.fieldname })
    }
    seen.add(part.fieldname)
    if (part.fieldname === 'task') upload.spec = await readTask(part, options.taskLimit)
    else await savePackage(part, options, upload)
  }
  if (upload.spec === undefined) throw new InvalidRequestError('no "task" part: send the task description as a "task" part', { field: 'task' })
  return upload as Required<Pick<Upload, 'spec'>> & Upload
}

/**
 * The parts of a multipart body. What the parser throws on a malformed body
 * (no final boundary, a part ended early) is the client's fault: a 400.
 */
async function * partsOf (request: FastifyRequest): AsyncGenerator<Multipart> {
  try {
    for await (const part of request.parts()) yield part
  } catch (err) {
    throw malformed(err)
  }
}

/**
 * The multipart parser (busboy) fails with plain `Error`s; those become an
 * {@link InvalidRequestError}. Named errors (Pollen's, the plugin's 413s) and
 * system errors (`syscall`: writing the package failed) stay as they are.
 */
function malformed (err: unknown): unknown {
  if (!(err instanceof Error) || err.constructor !== Error || 'syscall' in err) return err
  return new InvalidRequestError(`malformed multipart body: ${shorten(err.message)}`, { cause: err })
}

/** A client-given name or message, cut for an error message. */
function shorten (text: string, max = 100): string {
  return text.length > max ? `${text.slice(0, max)}…` : text
}

function discard (part: Multipart): void {
  if (part.type === 'file') part.file.resume()
}

async function readTask (part: Multipart, limit: number): Promise<TaskSpec> {
  if (part.type === 'field') return taskOfField(part, limit)
  const chunks: Buffer[] = []
  await pipeline(part.file, limitBytes(limit, 'the task part'), async function * (source: AsyncIterable<Buffer>) {
    for await (const chunk of source) chunks.push(chunk)
  }).catch((err: unknown) => { throw malformed(err) })
  if (part.file.truncated) throw tooLarge('the task part', limit)
  return parseTaskDocument(Buffer.concat(chunks).toString('utf8'))
}

function taskOfField (part: MultipartValue, limit: number): TaskSpec {
  if (part.valueTruncated) throw tooLarge('the task part', limit)
  // @fastify/multipart has already parsed a field sent as application/json.
  return typeof part.value === 'string' ? parseTaskDocument(part.value) : validateTaskSpec(part.value)
}

async function savePackage (part: Multipart, options: UploadOptions, upload: Upload): Promise<void> {
  if (part.type !== 'file') throw new InvalidRequestError('the "package" part must be a file (.tar or .tar.gz)', { field: 'package' })
  if (options.receive !== undefined) {
    upload.received = await options.receive(packageBytes(part, options.packageLimit), { signal: options.signal })
    if (part.file.truncated) throw tooLarge('the package', options.packageLimit)
    return
  }
  upload.tempDir = await mkdtemp(join(options.uploadDir, 'pollen-upload-'))
  const path = join(upload.tempDir, 'package')
  upload.packagePath = path
  await pipeline(part.file, limitBytes(options.packageLimit, 'the package'), createWriteStream(path, { flags: 'wx', mode: 0o600 }))
    .catch((err: unknown) => { throw malformed(err) })
  if (part.file.truncated) throw tooLarge('the package', options.packageLimit)
}

/** The bytes of a package part, failing once over `limit`; the parser's errors are the client's (a 400). */
async function * packageBytes (part: Multipart & { type: 'file' }, limit: number): AsyncGenerator<Uint8Array> {
  let seen = 0
  try {
    for await (const chunk of part.file as AsyncIterable<Buffer>) {
      seen += chunk.length
      if (seen > limit) throw tooLarge('the package', limit)
      yield chunk
    }
  } catch (err) {
    throw malformed(err)
  }
  if (part.file.truncated) throw tooLarge('the package', limit)
}

/** Passes bytes through until more than `limit` have gone by, then fails. */
function limitBytes (limit: number, what: string): Transform {
  let seen = 0
  return new Transform({
    transform (chunk: Buffer, _encoding, callback) {
      seen += chunk.length
      callback(seen > limit ? tooLarge(what, limit) : null, seen > limit ? undefined : chunk)
    }
  })
}

function tooLarge (what: string, limit: number): MessageTooLargeError {
  return new MessageTooLargeError(`${what} is larger than the limit of ${limit} bytes`)
}
