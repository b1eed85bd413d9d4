// Sampling parameters with the OpenAI / vLLM names, so one object works in-process and over
// HTTP. Validated once here, with errors that name the field, the allowed range and what was
// received; the native core then trusts them.
import { z } from 'zod';

import { ValidationError, describeEmpty } from '../errors.js';
import type { GenerationConfig } from '../models/hf-config.js';
import type { NativeSamplingParams } from './native.js';

export interface SamplingParams {
  /** Number of completions to generate for the prompt. Default 1. */
  n?: number;
  /** Accepted for compatibility; must equal n when given (beam-free best-of is not supported). */
  best_of?: number | null;
  /** 0 means greedy. Default 1 (or the model's generation_config.json). */
  temperature?: number;
  /** Nucleus sampling: keep the most probable tokens whose mass reaches top_p. In (0, 1]. */
  top_p?: number;
  /** Keep the k most probable tokens; 0 or -1 turns it off. */
  top_k?: number;
  /** Drop tokens less probable than min_p times the most probable one. In [0, 1]. */
  min_p?: number;
  /** In [-2, 2]: subtracted once from the logit of every token already generated. */
  presence_penalty?: number;
  /** In [-2, 2]: subtracted from a token's logit once per time it was generated. */
  frequency_penalty?: number;
  /** > 0: divides positive (multiplies negative) logits of tokens in the prompt or output. */
  repetition_penalty?: number;
  /** Token id (as a string or number key) to a bias in [-100, 100] added to its logit. */
  logit_bias?: Record<string, number> | null;
  /** Same seed and same request give the same output, whatever else is in the batch. */
  seed?: number | bigint | null;
  /** Most tokens to generate. Default 16 (as vLLM); null: up to the model's length. */
  max_tokens?: number | null;
  /** Tokens to generate before EOS or stop_token_ids may end the output. */
  min_tokens?: number;
  /** Strings that end the output; not included unless include_stop_str_in_output. */
  stop?: string | string[] | null;
  stop_token_ids?: number[] | null;
  include_stop_str_in_output?: boolean;
  /** Keep generating after EOS. */
  ignore_eos?: boolean;
  skip_special_tokens?: boolean;
  spaces_between_special_tokens?: boolean;
  /** Logprobs of each generated token and of the top `logprobs` alternatives. */
  logprobs?: number | null;
  /** Logprobs of each prompt token and of the top `prompt_logprobs` alternatives. */
  prompt_logprobs?: number | null;
}

/** The parameters after validation and defaults. */
export interface ResolvedSamplingParams {
  n: number;
  temperature: number;
  top_p: number;
  top_k: number;
  min_p: number;
  presence_penalty: number;
  frequency_penalty: number;
  repetition_penalty: number;
  logit_bias: [number, number][];
  seed: bigint | null;
  max_tokens: number | null;
  min_tokens: number;
  stop: string[];
  stop_token_ids: number[];
  include_stop_str_in_output: boolean;
  ignore_eos: boolean;
  skip_special_tokens: boolean;
  spaces_between_special_tokens: boolean;
  logprobs: number | null;
  prompt_logprobs: number | null;
}

/** Defaults a model's generation_config.json gives (vLLM applies them to omitted fields). */
export type SamplingDefaults = GenerationConfig['defaults'];

const int = z.number().int();
// Lists the engine checks on every step of every sequence: bounded, so that one request cannot
// make each step slow for everyone (OpenAI allows 4 stop strings; these are generous).
export const MAX_STOP_STRINGS = 128;
export const MAX_STOP_STRING_CHARS = 1024;
export const MAX_STOP_TOKEN_IDS = 1024;
export const MAX_LOGIT_BIAS_ENTRIES = 1024;
const stopString = z.string().max(MAX_STOP_STRING_CHARS, `must be at most ${MAX_STOP_STRING_CHARS} characters`);
const finite = z.number().finite();
const optional = <T extends z.ZodType>(schema: T) => schema.nullish();

const schema = z
  .object({
    n: optional(int.min(1, 'must be at least 1').max(128, 'must be at most 128')),
    best_of: optional(int.min(1, 'must be at least 1')),
    temperature: optional(finite.min(0, 'must be at least 0')),
    top_p: optional(finite.gt(0, 'must be in (0, 1]').max(1, 'must be in (0, 1]')),
    top_k: optional(int.min(-1, 'must be -1, 0 (off) or a positive integer')),
    min_p: optional(finite.min(0, 'must be in [0, 1]').max(1, 'must be in [0, 1]')),
    presence_penalty: optional(finite.min(-2, 'must be in [-2, 2]').max(2, 'must be in [-2, 2]')),
    frequency_penalty: optional(finite.min(-2, 'must be in [-2, 2]').max(2, 'must be in [-2, 2]')),
    repetition_penalty: optional(finite.gt(0, 'must be greater than 0')),
    logit_bias: optional(z.record(z.string(), finite.min(-100, 'must be in [-100, 100]').max(100, 'must be in [-100, 100]'))),
    seed: optional(z.union([int, z.bigint()], { error: 'must be an integer' })),
    max_tokens: optional(int.min(1, 'must be at least 1')),
    min_tokens: optional(int.min(0, 'must be at least 0')),
    stop: optional(z.union([stopString, z.array(stopString)])),
    stop_token_ids: optional(z.array(int.min(0, 'must be token ids (integers >= 0)'))),
    include_stop_str_in_output: optional(z.boolean()),
    ignore_eos: optional(z.boolean()),
    skip_special_tokens: optional(z.boolean()),
    spaces_between_special_tokens: optional(z.boolean()),
    logprobs: optional(int.min(0, 'must be at least 0')),
    prompt_logprobs: optional(int.min(0, 'must be at least 0')),
  })
  .strict();

/** zod's expected types as a message says them ("must be an array", not "a array"). */
const EXPECTED: Partial<Record<string, string>> = { int: 'an integer', array: 'an array', object: 'an object', record: 'an object' };

function describe(value: unknown): string {
  const empty = describeEmpty(value);
  if (empty) return empty;
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  let v: unknown = input;
  for (const key of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[key] : undefined;
  return v;
}

/** Turns the first zod issue into a ValidationError that names the field. */
export function validationErrorFrom(error: z.ZodError, input: unknown, prefix = ''): ValidationError {
  const issue = error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const field = prefix + [...issue.path.map(String), issue.keys[0]!].join('.');
    return new ValidationError(field, `Unknown or unsupported parameter: ${field}`);
  }
  const field = prefix + issue.path.map(String).join('.');
  const received = describe(valueAt(input, issue.path));
  let message = issue.message;
  if (issue.code === 'invalid_type') message = `must be ${EXPECTED[issue.expected] ?? `a ${issue.expected}`}`;
  return new ValidationError(field || 'params', `Invalid value for ${field || 'params'}: ${message}, but received ${received}`);
}

/** The bounds on lists' lengths, checked before the schema: validating each item of a huge list is the cost they prevent. */
function checkListSizes(input: Record<string, unknown>): void {
  const tooLong = (field: string, length: number, max: number, what: string) => {
    if (length > max) throw new ValidationError(field, `Invalid value for ${field}: must be at most ${max} ${what}, but received ${length}`);
  };
  if (Array.isArray(input.stop)) tooLong('stop', input.stop.length, MAX_STOP_STRINGS, 'strings');
  if (Array.isArray(input.stop_token_ids)) tooLong('stop_token_ids', input.stop_token_ids.length, MAX_STOP_TOKEN_IDS, 'token ids');
  const bias = input.logit_bias;
  if (bias !== null && typeof bias === 'object') tooLong('logit_bias', Object.keys(bias).length, MAX_LOGIT_BIAS_ENTRIES, 'entries');
}

/**
 * Validates user parameters, fills defaults (the model's generation_config.json first, then
 * vLLM's), and checks the limits that depend on the engine (vocabulary, max logprobs).
 */
export function resolveSamplingParams(
  params: SamplingParams | undefined,
  limits: { vocabSize: number; maxLogprobs: number; defaults?: SamplingDefaults },
): ResolvedSamplingParams {
  const input = params ?? {};
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new ValidationError('params', 'Sampling parameters must be an object');
  }
  checkListSizes(input as Record<string, unknown>);
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw validationErrorFrom(parsed.error, input);
  const p = parsed.data;
  const d = limits.defaults ?? {};

  const n = p.n ?? 1;
  if (p.best_of != null && p.best_of !== n) {
    throw new ValidationError('best_of', `best_of (${p.best_of}) different from n (${n}) is not supported; omit it or set it to n`);
  }
  const maxTokens = p.max_tokens === undefined ? (d.max_new_tokens ?? 16) : p.max_tokens;
  const minTokens = p.min_tokens ?? 0;
  if (maxTokens !== null && minTokens > maxTokens) {
    throw new ValidationError('min_tokens', `min_tokens (${minTokens}) must not exceed max_tokens (${maxTokens})`);
  }
  for (const [field, value] of [['logprobs', p.logprobs], ['prompt_logprobs', p.prompt_logprobs]] as const) {
    if (value != null && value > limits.maxLogprobs) {
      throw new ValidationError(field, `${field} must be at most ${limits.maxLogprobs}, but received ${value}`);
    }
  }
  const checkToken = (field: string, id: number) => {
    if (!Number.isInteger(id) || id < 0 || id >= limits.vocabSize) {
      throw new ValidationError(field, `Invalid token id ${id} in ${field}: must be an integer in [0, ${limits.vocabSize - 1}]`);
    }
  };
  const logitBias: [number, number][] = [];
  for (const [key, bias] of Object.entries(p.logit_bias ?? {})) {
    const id = /^\d+$/.test(key) ? Number(key) : NaN;
    if (!Number.isInteger(id) || id >= limits.vocabSize) {
      throw new ValidationError('logit_bias', `Invalid logit_bias key ${JSON.stringify(key)}: keys must be token ids in [0, ${limits.vocabSize - 1}]`);
    }
    logitBias.push([id, bias]);
  }
  for (const id of p.stop_token_ids ?? []) checkToken('stop_token_ids', id);
  const stop = p.stop == null ? [] : typeof p.stop === 'string' ? [p.stop] : p.stop;
  if (stop.some((s) => s.length === 0)) throw new ValidationError('stop', 'stop strings must not be empty');
  const seed = p.seed == null ? null : BigInt(p.seed);
  if (seed !== null && (seed < -(2n ** 63n) || seed >= 2n ** 64n)) {
    throw new ValidationError('seed', `seed must fit in 64 bits, but received ${seed}`);
  }
  return {
    n,
    temperature: p.temperature ?? d.temperature ?? 1,
    top_p: p.top_p ?? d.top_p ?? 1,
    // Keeping at least the whole vocabulary keeps everything: off (and within the native int range).
    top_k: clampTopK(p.top_k ?? d.top_k ?? 0, limits.vocabSize),
    min_p: p.min_p ?? d.min_p ?? 0,
    presence_penalty: p.presence_penalty ?? 0,
    frequency_penalty: p.frequency_penalty ?? 0,
    repetition_penalty: p.repetition_penalty ?? d.repetition_penalty ?? 1,
    logit_bias: logitBias,
    seed,
    max_tokens: maxTokens,
    min_tokens: minTokens,
    stop,
    stop_token_ids: p.stop_token_ids ?? [],
    include_stop_str_in_output: p.include_stop_str_in_output ?? false,
    ignore_eos: p.ignore_eos ?? false,
    skip_special_tokens: p.skip_special_tokens ?? true,
    spaces_between_special_tokens: p.spaces_between_special_tokens ?? true,
    logprobs: p.logprobs ?? null,
    prompt_logprobs: p.prompt_logprobs ?? null,
  };
}

function clampTopK(topK: number, vocabSize: number): number {
  return topK >= vocabSize ? 0 : topK;
}

/** The native form of one sequence's parameters (sequence `index` of the request's n). */
export function toNativeParams(p: ResolvedSamplingParams, maxTokens: number, index: number): NativeSamplingParams {
  // As vLLM does for n > 1, each sequence draws from its own stream: seed + index.
  const seed = p.seed === null ? null : BigInt.asUintN(64, p.seed + BigInt(index));
  return {
    temperature: p.temperature,
    topP: p.top_p,
    topK: p.top_k,
    minP: p.min_p,
    repetitionPenalty: p.repetition_penalty,
    frequencyPenalty: p.frequency_penalty,
    presencePenalty: p.presence_penalty,
    logitBias: p.logit_bias,
    seed,
    maxTokens,
    minTokens: p.min_tokens,
    stopTokenIds: p.stop_token_ids,
    ignoreEos: p.ignore_eos,
    logprobs: p.logprobs ?? -1,
    promptLogprobs: index === 0 ? (p.prompt_logprobs ?? -1) : -1,
  };
}
