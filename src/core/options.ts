/**
 * Merge caller options over defaults, ignoring keys the caller set to
 * `undefined` (so `{ rate: undefined }` keeps the default rather than erasing it).
 */
export function withDefaults<D extends object, O extends object> (defaults: D, options: O): D & O {
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined))
  return { ...defaults, ...defined } as D & O
}
