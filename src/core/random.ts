/**
 * A seeded xorshift32 generator: deterministic test packages and benchmark
 * inputs, so a failure or a figure can be reproduced. Not for secrets.
 */
export function xorshift32 (seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    return x
  }
}

/** `length` pseudo-random bytes: the low byte of each xorshift32 step from `seed`. */
export function pseudoRandomBytes (length: number, seed = 42): Uint8Array {
  const next = xorshift32(seed)
  const bytes = new Uint8Array(length)
  for (let i = 0; i < length; i++) bytes[i] = next() & 0xff
  return bytes
}
