// worker-vllm's OpenAI passthrough: {"openai_route", "openai_input"} served by nodellm's own
// OpenAI layer (the server's request validation and response shapes). A non-streamed request
// yields the response object once; a streamed one yields its SSE events grouped 1, 3, 9, 27,
// 50, ... at a time (the env-level batch settings only, as worker-vllm): with RAW_OPENAI_OUTPUT
// (default) each item is one string of concatenated `data: {...}\n\n` events, the last one
// ending with `data: [DONE]\n\n`, which the platform forwards to the client as they are;
// without it each item is a list of chunk objects and [DONE] is left out.
import type { HandlerSettings } from '../config/worker-config.js';
import type { LLM } from '../llm.js';
import { modelList } from '../openai/models.js';
import { startChat } from '../openai/chat.js';
import { startCompletion } from '../openai/completions.js';
import { toOpenAIError } from '../openai/errors.js';
import { ValidationError } from '../errors.js';
import { BatchSize } from './batch-size.js';
import { JobInputError } from './job.js';
import type { OpenAIInput } from './job-input.js';

export const OPENAI_ROUTES = ['/v1/chat/completions', '/v1/completions', '/v1/models'] as const;

const DONE = Symbol('done');

/** The request as the worker's settings shape it (RETURN_TOKENS_AS_TOKEN_IDS, ...). */
function withSettings(body: Record<string, unknown>, settings: HandlerSettings): Record<string, unknown> {
  const out = { ...body };
  if (settings.returnTokensAsTokenIds && out.return_tokens_as_token_ids === undefined) out.return_tokens_as_token_ids = true;
  if (settings.excludeToolsWhenToolChoiceNone && out.tool_choice === 'none') delete out.tools;
  if (settings.forceIncludeUsage && out.stream === true) {
    const options = out.stream_options && typeof out.stream_options === 'object' ? out.stream_options : {};
    out.stream_options = { ...options, include_usage: true };
  }
  return out;
}

/** OPENAI_RESPONSE_ROLE: the role of chat answers (message.role, and delta.role in streams). */
function withRole(value: unknown, role: string): unknown {
  if (role === 'assistant' || value === null || typeof value !== 'object') return value;
  const choices = (value as { choices?: unknown }).choices;
  if (!Array.isArray(choices)) return value;
  return {
    ...value,
    choices: choices.map((c: Record<string, unknown>) => {
      const out = { ...c };
      for (const key of ['message', 'delta'] as const) {
        const m = out[key] as Record<string, unknown> | undefined;
        if (m && typeof m === 'object' && 'role' in m) out[key] = { ...m, role };
      }
      return out;
    }),
  };
}

export async function* runOpenAIJob(
  llm: LLM,
  input: OpenAIInput,
  settings: HandlerSettings,
  signal: AbortSignal,
): AsyncGenerator<unknown> {
  const route = input.route;
  if (route === '/v1/models') {
    yield modelList(llm);
    return;
  }
  if (route !== '/v1/chat/completions' && route !== '/v1/completions') {
    throw new JobInputError(`Unknown openai_route ${JSON.stringify(route)}: nodellm serves ${OPENAI_ROUTES.join(', ')}`, 'openai_route');
  }
  if (!input.body) throw new JobInputError(`openai_input (the request body) is required for ${route}`, 'openai_input');
  const body = withSettings(input.body, settings);
  let started;
  try {
    started =
      route === '/v1/chat/completions'
        ? await startChat({ llm, body, signal })
        : await startCompletion({ engine: llm.engine, body, signal });
  } catch (error) {
    // As the server answers: invalid fields are 400s (BadRequestError) naming the field.
    throw error instanceof ValidationError ? toOpenAIError(error) : error;
  }
  if ('json' in started) {
    yield withRole(started.json, settings.responseRole);
    return;
  }

  const events = async function* () {
    for await (const chunk of started.stream) yield withRole(chunk, settings.responseRole);
    yield DONE;
  };
  const batchSize = new BatchSize(settings.batch);
  let batch: unknown[] = [];
  const flush = () => {
    const out = settings.rawOpenAIOutput ? (batch as string[]).join('') : batch;
    batch = [];
    return out;
  };
  for await (const event of events()) {
    if (settings.rawOpenAIOutput) batch.push(event === DONE ? 'data: [DONE]\n\n' : `data: ${JSON.stringify(event)}\n\n`);
    else if (event !== DONE) batch.push(event);
    else continue;
    if (batchSize.isFull(batch.length)) {
      yield flush();
      batchSize.grow();
    }
  }
  if (batch.length > 0) yield flush();
}
