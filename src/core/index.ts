/**
 * Pure domain types, codecs and errors. Imports nothing internal, so every
 * other module may depend on it.
 */
export * from './errors.ts'
export * from './cid.ts'
export * from './manifest.ts'
export * from './units.ts'
export * from './options.ts'
export * from './random.ts'
