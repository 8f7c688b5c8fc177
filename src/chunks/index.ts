/**
 * Content addressing and chunk swarming: the chunker, the chunk store, package
 * import/export, the `/pollen/chunks` exchange protocol, and the fetch
 * scheduler with its pure selection policy.
 */
export { chunkStream, chunkerForAverage, type ChunkerOptions } from './chunker.ts'
export { createChunkStore, type ChunkStore, type ChunkStoreOptions } from './store.ts'
export { importFile, importBytes, importSource, exportFile, readPackage, missingChunks, type ImportOptions, type ExportOptions, type ImportResult, type PackageProgress } from './package.ts'
export { createChunkExchange, type ChunkExchange, type ChunkExchangeOptions, type ExchangeStats, type WireTap } from './exchange.ts'
export type { FetchOptions, FetchProgress, FetchResult } from './fetcher.ts'
export { inflightBytesInProcess } from './fetcher.ts'
export { rarestFirst, type SelectionPolicy, type PolicyInput, type PolicyLimits, type PeerView, type ChunkRequest, type InflightRequest } from './policy.ts'
export { createTokenBucket, type TokenBucket, type TokenBucketOptions } from './rate-limiter.ts'
export { Bitfield } from './bitfield.ts'
