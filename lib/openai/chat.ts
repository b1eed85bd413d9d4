// POST /v1/chat/completions: messages in, an assistant message out, as JSON or an SSE stream.
import { z } from 'zod';

import type { AsyncEngine } from '../engine/async-engine.js';
import type { TokenLogprob } from '../engine/types.js';
import type { LLM } from '../llm.js';
import { OpenAIError } from './errors.js';
import { splitRequest, streamOptionsSchema } from './request-fields.js';
import { type Usage, makeId, mergeStreams, now, startAll } from './shared.js';

const contentPart = z.object({ type: z.literal('text'), text: z.string() }).strict();
const message = z
  .object({
    role: z.enum(['system', 'developer', 'user', 'assistant', 'tool'], { error: 'must be one of system, developer, user, assistant, tool' }),
    content: z.union([z.string(), z.array(contentPart)]).nullish(),
    name: z.string().nullish(),
  })
  .loose();

const schema = {
  model: z.string().nullish(),
  messages: z.array(message).min(1, 'must be a non-empty array'),
  stream: z.boolean().nullish(),
  stream_options: streamOptionsSchema,
  user: z.string().nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
  max_completion_tokens: z.number().int().min(1, 'must be at least 1').nullish(),
  response_format: z.object({ type: z.literal('text', { error: 'only {"type": "text"} is supported' }) }).nullish(),
  add_generation_prompt: z.boolean().nullish(),
  continue_final_message: z.boolean().nullish(),
  chat_template_kwargs: z.record(z.string(), z.unknown()).nullish(),
};

function chatLogprobs(engine: AsyncEngine, logprobs: TokenLogprob[] | null) {
  if (!logprobs) return null;
  const entry = (token: number, logprob: number) => {
    const text = engine.tokenizer.decodeTokens([engine.tokenizer.tokenString(token)]);
    return { token: text, logprob, bytes: [...Buffer.from(text, 'utf8')] };
  };
  return {
    content: logprobs.map((l) => ({ ...entry(l.token, l.logprob), top_logprobs: l.top.map((t) => entry(t.token, t.logprob)) })),
  };
}

export async function startChat({ llm, body, signal }: { llm: LLM; body: unknown; signal: AbortSignal }) {
  const engine = llm.engine;
  const { fields, sampling } = splitRequest(body, schema);
  if (fields.model && fields.model !== engine.modelName) {
    throw new OpenAIError(404, `The model \`${fields.model}\` does not exist.`, 'invalid_request_error', 'model', 'model_not_found');
  }
  if (fields.top_logprobs != null && !fields.logprobs) {
    throw new OpenAIError(400, 'top_logprobs requires logprobs to be true', 'invalid_request_error', 'top_logprobs');
  }
  const promptIds = await llm
    .chatPromptIds(fields.messages as Parameters<LLM['chatPromptIds']>[0], {
      ...(fields.add_generation_prompt != null && { add_generation_prompt: fields.add_generation_prompt }),
      ...(fields.continue_final_message != null && { continue_final_message: fields.continue_final_message }),
      ...(fields.chat_template_kwargs != null && { chat_template_kwargs: fields.chat_template_kwargs }),
    })
    .catch((error: Error) => {
      if (error instanceof OpenAIError || error.name === 'ValidationError') throw error;
      throw new OpenAIError(400, error.message, 'invalid_request_error', 'messages');
    });
  const params = {
    ...sampling,
    // Chat answers run to the model's length unless limited (OpenAI's default).
    max_tokens: fields.max_completion_tokens ?? sampling.max_tokens ?? null,
    logprobs: fields.logprobs ? (fields.top_logprobs ?? 0) : null,
  };
  const [started] = await startAll([engine.generate({ promptTokenIds: promptIds }, params, { signal })]);
  const id = makeId('chatcmpl');
  const created = now();
  const model = engine.modelName;
  const usage: Usage = { prompt_tokens: promptIds.length, completion_tokens: 0, total_tokens: 0 };
  const chunks = mergeStreams([started!]);

  if (fields.stream) {
    return {
      stream: (async function* () {
        const announced = new Set<number>();
        for await (const { chunk } of chunks) {
          const choices = chunk.outputs.flatMap((o) => {
            usage.completion_tokens += o.tokenIds.length;
            const out = [];
            if (!announced.has(o.index)) {
              announced.add(o.index);
              out.push({ index: o.index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null });
            }
            if (o.text || o.logprobs?.length || o.finishReason) {
              out.push({
                index: o.index,
                delta: o.text ? { content: o.text } : {},
                logprobs: chatLogprobs(engine, o.logprobs),
                finish_reason: o.finishReason,
                ...(o.finishReason && { stop_reason: o.stopReason }),
              });
            }
            return out;
          });
          for (const choice of choices) yield { id, object: 'chat.completion.chunk', created, model, choices: [choice] };
        }
        usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
        if (fields.stream_options?.include_usage) yield { id, object: 'chat.completion.chunk', created, model, choices: [], usage };
      })(),
    };
  }
  const outputs = new Map<number, { text: string; logprobs: TokenLogprob[] | null; finish: string | null; stop: string | number | null }>();
  for await (const { chunk } of chunks) {
    for (const o of chunk.outputs) {
      usage.completion_tokens += o.tokenIds.length;
      const acc = outputs.get(o.index) ?? { text: '', logprobs: o.logprobs ? [] : null, finish: null, stop: null };
      acc.text += o.text;
      if (acc.logprobs && o.logprobs) acc.logprobs.push(...o.logprobs);
      acc.finish = o.finishReason;
      acc.stop = o.stopReason;
      outputs.set(o.index, acc);
    }
  }
  usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
  const choices = [...outputs.entries()]
    .sort(([a], [b]) => a - b)
    .map(([index, o]) => ({
      index,
      message: { role: 'assistant', content: o.text },
      logprobs: chatLogprobs(engine, o.logprobs),
      finish_reason: o.finish,
      stop_reason: o.stop,
    }));
  return { json: { id, object: 'chat.completion', created, model, choices, usage } };
}
