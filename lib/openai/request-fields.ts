// Splits an OpenAI request body into the route's own fields and the sampling parameters, which
// keep their OpenAI / vLLM names and are validated by resolveSamplingParams (so an unknown or
// unsupported field is rejected there, by name).
import { z } from 'zod';

import { validationErrorFrom } from '../engine/sampling-params.js';
import type { SamplingParams } from '../engine/sampling-params.js';
import { OpenAIError } from './errors.js';

export const streamOptionsSchema = z
  .object({ include_usage: z.boolean().nullish(), continuous_usage_stats: z.boolean().nullish() })
  .strict()
  .nullish();

/** Parses `body` with `schema` (the route's fields) and returns them with the rest as sampling. */
export function splitRequest<S extends z.ZodRawShape>(
  body: unknown,
  shape: S,
): { fields: z.infer<z.ZodObject<S>>; sampling: SamplingParams } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new OpenAIError(400, 'The request body must be a JSON object');
  }
  const own: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) (key in shape ? own : rest)[key] = value;
  const parsed = z.object(shape).safeParse(own);
  if (!parsed.success) {
    const error = validationErrorFrom(parsed.error, own);
    throw new OpenAIError(400, error.message, 'invalid_request_error', error.field);
  }
  return { fields: parsed.data, sampling: rest as SamplingParams };
}
