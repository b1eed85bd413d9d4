// Seeded randomness for tests: the same cases on every run and machine.

/** mulberry32: a small, fast 32-bit PRNG; returns uniforms in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` seeded integers in [0, n), e.g. token ids of a prompt that repeats across runs. */
export function seededInts(seed: number, count: number, n: number): number[] {
  const next = mulberry32(seed);
  return Array.from({ length: count }, () => Math.floor(next() * n));
}
