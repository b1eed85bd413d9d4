// Splits an OpenAI request body into the route's own fields and the sampling parameters, which
// keep their OpenAI / vLLM names and are validated by resolveSamplingParams (so an unknown field
// is rejected there, by name). Fields of the API that nodellm does not implement are listed here
// and rejected with a message that says so, never silently ignored.
import { z } from 'zod';

import type { RequestGroup } from '../engine/admission.js';
import type { AsyncEngine } from '../engine/async-engine.js';
import { validationErrorFrom } from '../engine/sampling-params.js';
import type { SamplingParams } from '../engine/sampling-params.js';
import { OpenAIError } from './errors.js';

export const streamOptionsSchema = z
  .object({ include_usage: z.boolean().nullish(), continuous_usage_stats: z.boolean().nullish() })
  .strict()
  .nullish();

const unsupported = (why: string) =>
  z.unknown().optional().refine((v) => v === undefined || v === null, { error: `is not supported: ${why}` });

/** Fields both routes take besides sampling parameters. */
export const commonFields = {
  model: z.string().nullish(),
  stream: z.boolean().nullish(),
  stream_options: streamOptionsSchema,
  /** OpenAI's end-user id, for the caller's own abuse monitoring: accepted; it does not change the output. */
  user: z.string().nullish(),
  echo: z.boolean().nullish(),
  add_special_tokens: z.boolean().nullish(),
  truncate_prompt_tokens: z.number().int().min(1, 'must be at least 1').nullish(),
  request_id: z.string().min(1).nullish(),
  use_beam_search: z.literal(false, { error: 'is not supported: nodellm does not do beam search' }).nullish(),
  length_penalty: z.literal(1, { error: 'only applies to beam search, which nodellm does not do; omit it or use 1' }).nullish(),
  priority: z.literal(0, { error: 'is not supported: requests are served first come, first served' }).nullish(),
  response_format: z
    .object({ type: z.literal('text', { error: 'only {"type": "text"} is supported (structured output is not yet)' }) })
    .nullish(),
  guided_json: unsupported('structured output is not yet implemented'),
  guided_regex: unsupported('structured output is not yet implemented'),
  guided_choice: unsupported('structured output is not yet implemented'),
  guided_grammar: unsupported('structured output is not yet implemented'),
  structured_outputs: unsupported('structured output is not yet implemented'),
  logits_processors: unsupported('custom logits processors cannot be sent over HTTP to nodellm'),
  allowed_token_ids: unsupported('not yet implemented'),
  bad_words: unsupported('not yet implemented'),
};

/**
 * The body as an object (400 when it is not one). Prototype keys never reach here: the server's
 * JSON parser (lib/server/json-body.ts) and the worker's job input (parseJobInput) refuse them.
 */
export function requestObject(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new OpenAIError(400, 'The request body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

/** Parses `body`'s route fields with `shape`; the other fields are the sampling parameters. */
export function splitRequest<S extends z.ZodRawShape>(
  body: unknown,
  shape: S,
): { fields: z.infer<z.ZodObject<S>>; sampling: SamplingParams } {
  const own: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  // Own keys only: `key in shape` would take "constructor" or "toString" for route fields (they
  // are on every object's prototype) and drop them unseen instead of refusing them by name.
  for (const [key, value] of Object.entries(requestObject(body))) (Object.hasOwn(shape, key) ? own : rest)[key] = value;
  const parsed = z.object(shape).safeParse(own);
  if (!parsed.success) {
    const error = validationErrorFrom(parsed.error, own);
    throw new OpenAIError(400, error.message, 'invalid_request_error', error.field);
  }
  return { fields: parsed.data, sampling: rest as SamplingParams };
}

/** Checks that hold for both routes, as vLLM checks them. */
export function checkCommon(fields: { stream?: boolean | null | undefined; stream_options?: unknown }): void {
  if (fields.stream_options != null && !fields.stream) {
    throw new OpenAIError(400, 'stream_options can only be given when stream is true', 'invalid_request_error', 'stream_options');
  }
}

/** 404 unless the request names the served model (or none). */
export function checkModel(requested: string | null | undefined, served: string): void {
  if (requested && requested !== served) {
    throw new OpenAIError(404, `The model \`${requested}\` does not exist.`, 'invalid_request_error', 'model', 'model_not_found');
  }
}

/**
 * Admits a request of `prompts` prompts with n completions each, or refuses it (400 naming n,
 * or 503 when too much already waits), before anything costly is done with it. `n` is taken as
 * sent: its validation comes later, with the other sampling parameters.
 */
export function openRequestGroup(engine: AsyncEngine, prompts: number, rawN: unknown): RequestGroup {
  const n = typeof rawN === 'number' && Number.isInteger(rawN) && rawN >= 1 ? rawN : 1;
  const what = prompts > 1 ? `${prompts} prompts x n=${n} = ${prompts * n} sequences` : `n=${n} sequences`;
  return engine.openGroup(prompts * n, n > 1 ? 'n' : 'prompt', what);
}
