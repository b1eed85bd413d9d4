// Keys that would reach an object's prototype if a parsed body were copied by assignment
// (`out[key] = value`): `__proto__` anywhere, and `constructor` holding a `prototype`. JSON.parse
// keeps them as harmless own properties, but zod's records and object copies then drop them
// silently or, worse, set a prototype. fastify refuses such HTTP bodies when it parses them
// (secure-json-parse); bodies that come another way (RunPod jobs) are checked with this, so
// every caller gets the same answer: a 400 naming the key.

/** Deepest nesting walked; deeper values are left to the schemas (which refuse them anyway). */
const MAX_DEPTH = 64;

/** The path of the first forbidden key in `value` (e.g. "sampling_params.logit_bias.__proto__"), or null. */
export function findPrototypeKey(value: unknown, path = '', depth = 0): string | null {
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item === null || typeof item !== 'object') continue;
      const found = findPrototypeKey(item, `${path}[${i}]`, depth + 1);
      if (found) return found;
    }
    return null;
  }
  for (const key of Object.keys(value)) {
    const at = path ? `${path}.${key}` : key;
    if (key === '__proto__') return at;
    const item = (value as Record<string, unknown>)[key];
    if (key === 'constructor' && item !== null && typeof item === 'object' && Object.hasOwn(item, 'prototype')) return `${at}.prototype`;
    const found = findPrototypeKey(item, at, depth + 1);
    if (found) return found;
  }
  return null;
}
