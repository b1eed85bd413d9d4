// Typed reads of config.json fields, each failing with the file and the key. HF configs write
// `null` for "use the default" as often as they leave a key out, so both mean the default.

export type RawConfig = Record<string, unknown>;

function present(raw: RawConfig, key: string): boolean {
  return raw[key] !== undefined && raw[key] !== null;
}

/** A number, or undefined when the key is missing or null. */
export function optNum(raw: RawConfig, key: string, file: string): number | undefined {
  if (!present(raw, key)) return undefined;
  const v = raw[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`invalid ${file}: "${key}": expected a number, got ${JSON.stringify(v)}`);
  return v;
}

/** A positive number, or undefined when the key is missing or null. */
export function optPositive(raw: RawConfig, key: string, file: string): number | undefined {
  const v = optNum(raw, key, file);
  if (v !== undefined && !(v > 0)) throw new Error(`invalid ${file}: "${key}": expected a positive number, got ${v}`);
  return v;
}

export function num(raw: RawConfig, key: string, file: string, fallback: number): number {
  return optNum(raw, key, file) ?? fallback;
}

/** A positive integer (shapes and counts). */
export function posInt(raw: RawConfig, key: string, file: string, fallback: number): number {
  const v = num(raw, key, file, fallback);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`invalid ${file}: "${key}": expected a positive integer, got ${v}`);
  return v;
}

export function bool(raw: RawConfig, key: string, file: string, fallback: boolean): boolean {
  if (!present(raw, key)) return fallback;
  const v = raw[key];
  if (typeof v !== 'boolean') throw new Error(`invalid ${file}: "${key}": expected a boolean, got ${JSON.stringify(v)}`);
  return v;
}

export function optStr(raw: RawConfig, key: string, file: string): string | undefined {
  if (!present(raw, key)) return undefined;
  const v = raw[key];
  if (typeof v !== 'string') throw new Error(`invalid ${file}: "${key}": expected a string, got ${JSON.stringify(v)}`);
  return v;
}

export function optObject(raw: RawConfig, key: string, file: string): RawConfig | undefined {
  if (!present(raw, key)) return undefined;
  const v = raw[key];
  if (typeof v !== 'object' || Array.isArray(v)) throw new Error(`invalid ${file}: "${key}": expected an object`);
  return v as RawConfig;
}
