// worker-vllm's two job inputs, validated once with errors that name the field:
//   standard: {prompt | messages, apply_chat_template, sampling_params, stream,
//              max_batch_size, min_batch_size, batch_size_growth_factor}
//   OpenAI:   {openai_route, openai_input}
// An input with a truthy openai_route is an OpenAI one (as worker-vllm routes). Unknown fields
// are refused by name rather than ignored; `use_openai_format`, which worker-vllm read and
// never used, is accepted and has no effect there either.
import { z } from 'zod';

import type { ChatMessage } from '../chat/template.js';
import type { BatchSettings } from '../config/worker-config.js';
import { validationErrorFrom } from '../engine/sampling-params.js';
import { findPrototypeKey } from '../prototype-keys.js';
import { JobInputError } from './job.js';

const contentPart = z.object({ type: z.literal('text', { error: 'only text content parts are supported' }), text: z.string() }).loose();
const message = z
  .object({
    role: z.string({ error: 'must be a string' }),
    content: z.union([z.string(), z.array(contentPart)], { error: 'must be a string or a list of text parts' }).nullish(),
  })
  .loose();
const messages = z.array(message, { error: 'must be a list of messages' }).min(1, 'must be a non-empty list');
// worker-vllm treats 0 (any falsy value) as "use the default".
const batchInt = z.number({ error: 'must be a number' }).int('must be an integer').min(0, 'must be at least 1 (or 0 for the default)');

const standardSchema = z
  .object({
    prompt: z.union([z.string(), messages], { error: 'must be a string or a list of messages' }).optional(),
    messages: z.union([z.string(), messages], { error: 'must be a list of messages' }).nullable().optional(),
    apply_chat_template: z.boolean().nullish(),
    sampling_params: z.record(z.string(), z.unknown(), { error: 'must be an object' }).nullish(),
    stream: z.boolean().nullish(),
    max_batch_size: batchInt.nullish(),
    min_batch_size: batchInt.nullish(),
    batch_size_growth_factor: z.number({ error: 'must be a number' }).min(0, 'must be greater than 0').nullish(),
    use_openai_format: z.boolean().nullish(),
  })
  .strict();

const openaiSchema = z
  .object({
    openai_route: z.string({ error: 'must be a string' }),
    openai_input: z.record(z.string(), z.unknown(), { error: 'must be an object (the OpenAI request body)' }).nullish(),
  })
  .strict();

export interface StandardInput {
  kind: 'standard';
  /** A prompt string, or messages to render with the chat template. */
  prompt: string | null;
  messages: ChatMessage[] | null;
  samplingParams: Record<string, unknown>;
  stream: boolean;
  batch: BatchSettings;
}

export interface OpenAIInput {
  kind: 'openai';
  route: string;
  body: Record<string, unknown> | null;
}

function parse<T>(schema: z.ZodType<T>, input: Record<string, unknown>): T {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const error = validationErrorFrom(parsed.error, input);
  throw new JobInputError(`Invalid job input: ${error.message}`, error.field);
}

/** Reads a job's input; `defaults` are the env-level batch settings. */
export function parseJobInput(input: unknown, defaults: BatchSettings): StandardInput | OpenAIInput {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new JobInputError('The job input must be a JSON object', 'input');
  }
  // JSON.parse keeps `__proto__` as an own key, which zod's records would drop unseen: refuse it.
  const forbidden = findPrototypeKey(input);
  if (forbidden) throw new JobInputError(`Invalid job input: ${forbidden} is not allowed (a prototype key)`, forbidden);
  const fields = input as Record<string, unknown>;
  if (fields.openai_route) {
    const { openai_route, openai_input } = parse(openaiSchema, fields);
    return { kind: 'openai', route: openai_route, body: openai_input ?? null };
  }
  if (fields.openai_input !== undefined) {
    throw new JobInputError('openai_input was given without openai_route (e.g. "/v1/chat/completions")', 'openai_route');
  }
  const f = parse(standardSchema, fields);
  // As worker-vllm: a `messages` key wins over `prompt`, even when its value is null.
  const key = 'messages' in fields ? 'messages' : 'prompt';
  const value = key === 'messages' ? f.messages : f.prompt;
  if (value === undefined || value === null) {
    throw new JobInputError(
      key === 'messages' ? 'messages must be a non-empty list of messages' : 'The job input needs a prompt (a string) or messages (a list)',
      key,
    );
  }
  let prompt: string | null = null;
  let chat: ChatMessage[] | null = null;
  if (typeof value === 'string') {
    if (f.apply_chat_template) chat = [{ role: 'user', content: value }];
    else prompt = value;
  } else {
    chat = value as ChatMessage[];
  }
  return {
    kind: 'standard',
    prompt,
    messages: chat,
    samplingParams: f.sampling_params ?? {},
    stream: f.stream ?? false,
    batch: {
      max: f.max_batch_size || defaults.max,
      min: f.min_batch_size || defaults.min,
      growth: f.batch_size_growth_factor || defaults.growth,
    },
  };
}
