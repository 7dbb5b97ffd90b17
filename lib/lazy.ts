/**
 * Values built on first use, for the cold start: zod builds a schema eagerly (objects, closures,
 * checks) and a function imports every module's schemas, though one update needs a few. `lazy(build)`
 * returns a stand-in that builds the value the first time anything reads it and then forwards every
 * operation to it, so a module can keep `export const x = lazy(() => z.object(…))` with the same type,
 * the same uses (`x.parse`, `z.infer<typeof x>`, nesting it in another schema) and no change for callers.
 * Hand-written (20 lines): the few packages that do this wrap functions, not arbitrary objects.
 */
export function lazy<T extends object>(build: () => T): T {
  let value: T | undefined;
  const real = () => (value ??= build());
  return new Proxy({} as T, {
    get: (_t, key) => Reflect.get(real(), key),
    set: (_t, key, v) => Reflect.set(real(), key, v),
    has: (_t, key) => Reflect.has(real(), key),
    ownKeys: () => Reflect.ownKeys(real()),
    // Reported as configurable: the stand-in's own (empty) target must not contradict it.
    getOwnPropertyDescriptor: (_t, key) => {
      const d = Reflect.getOwnPropertyDescriptor(real(), key);
      return d && { ...d, configurable: true };
    },
    defineProperty: (_t, key, d) => Reflect.defineProperty(real(), key, d),
    deleteProperty: (_t, key) => Reflect.deleteProperty(real(), key),
    getPrototypeOf: () => Reflect.getPrototypeOf(real()),
  });
}

/** `{ k: () => v }` → `{ k: lazy(() => v) }`: the keys are there at once, each value built on first use. */
export function lazyValues<B extends Record<string, () => object>>(builders: B): { [K in keyof B]: ReturnType<B[K]> } {
  return Object.fromEntries(Object.entries(builders).map(([k, b]) => [k, lazy(b)])) as { [K in keyof B]: ReturnType<B[K]> };
}
