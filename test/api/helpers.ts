/**
 * Shared set-up of the API tests: an API over a fresh fake service, closed
 * when the test ends; auth headers; a multipart body builder; a sample task.
 */
import { randomBytes } from 'node:crypto'
import type { ExecutionContext } from 'ava'
import type { FastifyInstance } from 'fastify'
import { createApi, type ApiOptions } from '../../src/api/index.ts'
import { createFakeService, TOKENS, type FakeService } from './fake-service.ts'

/** An API and the fake behind it. */
export interface Harness {
  readonly app: FastifyInstance
  readonly fake: FakeService
}

/** Build an API over a fresh fake; closed at the end of the test. */
export async function startApi (t: ExecutionContext, options: Partial<Omit<ApiOptions, 'service'>> = {}): Promise<Harness> {
  const fake = createFakeService()
  const app = await createApi({ processMetrics: false, ...options, service: fake })
  t.teardown(async () => { await app.close() })
  return { app, fake }
}

/** `Authorization` header of a token (`deploy` by default). */
export function auth (token: string = TOKENS.deploy): { authorization: string } {
  return { authorization: `Bearer ${token}` }
}

/** The Appendix A sample task, in YAML. */
export const SAMPLE_YAML = `stages:
  transfer:
    - package
  install:
    - mv package/* .
    - chmod +x emergencyStop
  run:
    - python -u controller.py
    - ./emergencyStop

target:
  tags:
    - hanger
`

/** The same task as an object. */
export const SAMPLE_TASK = {
  stages: { transfer: ['package'], install: ['mv package/* .', 'chmod +x emergencyStop'], run: ['python -u controller.py', './emergencyStop'] },
  target: { tags: ['hanger'] }
}

/** One part of a multipart body: a field, or a file when `filename` is given. */
export interface Part {
  readonly name: string
  readonly value: string | Buffer
  readonly filename?: string
  readonly contentType?: string
}

/** Encode a `multipart/form-data` body. */
export function multipart (parts: readonly Part[]): { payload: Buffer, headers: { 'content-type': string } } {
  const boundary = `----pollen${randomBytes(12).toString('hex')}`
  const chunks: Buffer[] = []
  for (const part of parts) {
    const disposition = `form-data; name="${part.name}"${part.filename === undefined ? '' : `; filename="${part.filename}"`}`
    const type = part.contentType ?? (part.filename === undefined ? undefined : 'application/octet-stream')
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${type === undefined ? '' : `Content-Type: ${type}\r\n`}\r\n`))
    chunks.push(Buffer.isBuffer(part.value) ? part.value : Buffer.from(part.value))
    chunks.push(Buffer.from('\r\n'))
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`))
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } }
}
