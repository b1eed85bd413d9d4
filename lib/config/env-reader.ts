// Typed reads of environment variables that collect every problem instead of stopping at the
// first, so start-up can name all the variables at fault in one message. Values follow
// worker-vllm's conventions: "", "None" and "none" mean unset; booleans are
// true/false/1/0/yes/no/on/off in any case.
import { z } from 'zod';

/** Start-up configuration that cannot be used; the message names every variable at fault. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`The worker cannot start with this configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

export class EnvReader {
  readonly problems: string[] = [];

  constructor(private readonly env: Record<string, string | undefined>) {}

  /** The value as set, or undefined when unset or set to "", "None" or "none" (spaces aside). */
  raw(name: string): string | undefined {
    const value = this.env[name];
    const trimmed = value?.trim();
    if (trimmed === undefined || trimmed === '' || trimmed === 'None' || trimmed === 'none') return undefined;
    return value;
  }

  /** The value without surrounding spaces (for numbers, flags and choices). */
  private word(name: string): string | undefined {
    return this.raw(name)?.trim();
  }

  has(name: string): boolean {
    return this.raw(name) !== undefined;
  }

  problem(name: string, message: string): void {
    this.problems.push(`${name}: ${message}`);
  }

  /** A name, path, URL or token: without surrounding spaces. */
  string(name: string): string | undefined {
    return this.word(name);
  }

  /** Free text (a chat template): exactly as set. */
  text(name: string): string | undefined {
    return this.raw(name);
  }

  bool(name: string): boolean | undefined {
    const value = this.word(name);
    if (value === undefined) return undefined;
    const lower = value.toLowerCase();
    if (TRUE.has(lower)) return true;
    if (FALSE.has(lower)) return false;
    this.problem(name, `must be true or false (or 1/0, yes/no, on/off), but is ${JSON.stringify(value)}`);
    return undefined;
  }

  /** A number checked by `schema` (whose messages read "must be ..."). */
  number(name: string, schema: z.ZodType<number>): number | undefined {
    const value = this.word(name);
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isFinite(n)) {
      this.problem(name, `must be a number, but is ${JSON.stringify(value)}`);
      return undefined;
    }
    const parsed = schema.safeParse(n);
    if (!parsed.success) {
      this.problem(name, `${parsed.error.issues[0]!.message}, but is ${JSON.stringify(value)}`);
      return undefined;
    }
    return parsed.data;
  }

  int(name: string, opts: { min?: number } = {}): number | undefined {
    const min = opts.min ?? 1;
    return this.number(name, z.number().int(`must be an integer >= ${min}`).min(min, `must be an integer >= ${min}`));
  }

  oneOf<T extends string>(name: string, values: readonly T[]): T | undefined {
    const value = this.word(name);
    if (value === undefined) return undefined;
    if ((values as readonly string[]).includes(value)) return value as T;
    this.problem(name, `must be one of ${values.join(', ')}, but is ${JSON.stringify(value)}`);
    return undefined;
  }

  /**
   * A variable nodellm does not support yet: accepted only when unset or equal to one of its
   * defaults (compared as worker-vllm would parse it); otherwise start-up fails naming it.
   */
  onlyDefault(name: string, why: string, isDefault: (value: string) => boolean = () => false): void {
    const value = this.word(name);
    if (value === undefined || isDefault(value)) return;
    this.problem(name, `${why} (set to ${JSON.stringify(value)}); unset it or use the default`);
  }
}

/** Default-value predicates for onlyDefault. */
export const isFalse = (value: string) => FALSE.has(value.toLowerCase());
export const isTrue = (value: string) => TRUE.has(value.toLowerCase());
export const isNumber = (n: number) => (value: string) => Number(value) === n;
export const isOneOf = (...values: string[]) => (value: string) => values.includes(value.toLowerCase());
