/**
 * The client-server baseline (the Mender / Salt / original-tool model): one
 * HTTP server, the manager, with the same upload cap as Pollen's manager,
 * and every agent downloads the whole package from it at once.
 */
import { createHash } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { createTokenBucket } from '../src/chunks/index.ts'

/** Outcome of one baseline run. */
export interface HttpRunResult {
  /** Seconds from the common start to each client's verified download. */
  readonly times: number[]
  readonly originUploadBytes: number
  readonly allVerified: boolean
}

/** Piece size in which the server takes tokens and writes. */
const PIECE = 64 * 1024

/** Serve `data` to `clients` concurrent downloaders from one capped server; all run in this process. */
export async function runHttpBaseline (data: Uint8Array, clients: number, originUp: number, timeoutMs: number): Promise<HttpRunResult> {
  const bucket = createTokenBucket({ bytesPerSecond: originUp })
  let uploaded = 0
  const server: Server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': data.byteLength })
    void (async () => {
      for (let offset = 0; offset < data.byteLength; offset += PIECE) {
        const piece = data.subarray(offset, offset + PIECE)
        await bucket.take(piece.byteLength)
        uploaded += piece.byteLength
        if (!res.write(piece)) await new Promise(resolve => res.once('drain', resolve))
      }
      res.end()
    })().catch(() => { res.destroy() })
  })
  server.maxConnections = clients + 8
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  const expected = createHash('sha256').update(data).digest('hex')
  const start = performance.now()
  try {
    const signal = AbortSignal.timeout(timeoutMs)
    const results = await Promise.all(Array.from({ length: clients }, async () => {
      const res = await fetch(`http://127.0.0.1:${port}/package`, { signal })
      const hash = createHash('sha256')
      for await (const chunk of res.body!) hash.update(chunk as Uint8Array)
      return { seconds: (performance.now() - start) / 1000, ok: hash.digest('hex') === expected }
    }))
    return { times: results.map(r => r.seconds), originUploadBytes: uploaded, allVerified: results.every(r => r.ok) }
  } finally {
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  }
}
