// Parsers for command-line values, shared by every subcommand, so a bad value is refused the same
// way everywhere, with the flag named.
import { InvalidArgumentError } from 'commander';

/** A value as an error message quotes it: an empty one said so, rather than left blank. */
export const received = (value: string) => (value === '' ? 'an empty string' : value);

export const integer = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
  return n;
};

export const nonNegativeInteger = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
  return n;
};

/** A number above zero (and `inf` where allowInf, e.g. --request-rate: all at once). */
export const positiveNumber =
  (name: string, { allowInf = false }: { allowInf?: boolean } = {}) =>
  (value: string) => {
    if (allowInf && value === 'inf') return Infinity;
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0)
      throw new InvalidArgumentError(`${name} must be a positive number${allowInf ? ' or inf' : ''}, but received ${received(value)}`);
    return n;
  };

/** A finite number within [min, max) (max exclusive when `maxExclusive`). */
export const number =
  (name: string, { min = -Infinity, max = Infinity, maxExclusive = false }: { min?: number; max?: number; maxExclusive?: boolean } = {}) =>
  (value: string) => {
    const n = Number(value);
    const tooBig = maxExclusive ? n >= max : n > max;
    if (value.trim() === '' || !Number.isFinite(n) || n < min || tooBig) {
      const range = `${min === -Infinity ? '(-inf' : `[${min}`}, ${max === Infinity ? 'inf)' : `${max}${maxExclusive ? ')' : ']'}`}`;
      throw new InvalidArgumentError(`${name} must be a number in ${range}, but received ${received(value)}`);
    }
    return n;
  };

/** A JSON list of strings, as vLLM takes its CORS flags: `--allowed-origins '["https://a.example"]'`. */
export const jsonStringList = (name: string) => (value: string) => {
  let list: unknown;
  try {
    list = JSON.parse(value);
  } catch {
    list = undefined;
  }
  if (!Array.isArray(list) || !list.every((item) => typeof item === 'string' && item !== '')) {
    throw new InvalidArgumentError(`${name} must be a JSON list of strings, e.g. '["*"]', but received ${received(value)}`);
  }
  return list as string[];
};
