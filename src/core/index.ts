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
export * from './canonical.ts'
export * from './task.ts'
export * from './status.ts'
export * from './signing.ts'
export * from './swarm.ts'
export * from './task-schema.ts'
export * from './archive.ts'
export * from './enrollment.ts'
