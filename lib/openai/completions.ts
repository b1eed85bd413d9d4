// POST /v1/completions: prompt(s) in, text out, as one JSON response or an SSE stream.
import { z } from 'zod';

import type { AsyncEngine, PromptInput } from '../engine/async-engine.js';
import type { RequestChunk, TokenLogprob } from '../engine/types.js';
import { OpenAIError } from './errors.js';
import { splitRequest, streamOptionsSchema } from './request-fields.js';
import { type Usage, makeId, mergeStreams, now, startAll } from './shared.js';

const tokenIds = z.array(z.number().int());
const schema = {
  model: z.string().nullish(),
  prompt: z.union([z.string(), z.array(z.string()).min(1), tokenIds.min(1), z.array(tokenIds.min(1)).min(1)], {
    error: 'must be a string, a list of strings, a list of token ids or a list of token-id lists',
  }),
  stream: z.boolean().nullish(),
  stream_options: streamOptionsSchema,
  user: z.string().nullish(),
  logprobs: z.number().int().min(0).nullish(),
};

export interface CompletionRequest {
  engine: AsyncEngine;
  body: unknown;
  signal: AbortSignal;
}

function prompts(prompt: z.infer<typeof schema.prompt>): PromptInput[] {
  if (typeof prompt === 'string') return [prompt];
  if (prompt.length > 0 && typeof prompt[0] === 'number') return [{ promptTokenIds: prompt as number[] }];
  if (typeof prompt[0] === 'string') return prompt as string[];
  return (prompt as number[][]).map((ids) => ({ promptTokenIds: ids }));
}

function completionLogprobs(engine: AsyncEngine, logprobs: TokenLogprob[] | null, offset: number) {
  if (!logprobs) return null;
  const text = (id: number) => engine.tokenizer.decodeTokens([engine.tokenizer.tokenString(id)]);
  const tokens = logprobs.map((l) => text(l.token));
  const textOffset: number[] = [];
  let at = offset;
  for (const t of tokens) {
    textOffset.push(at);
    at += t.length;
  }
  return {
    tokens,
    token_logprobs: logprobs.map((l) => l.logprob),
    top_logprobs: logprobs.map((l) => Object.fromEntries(l.top.map((t) => [text(t.token), t.logprob]))),
    text_offset: textOffset,
  };
}

export async function startCompletion({ engine, body, signal }: CompletionRequest) {
  const { fields, sampling } = splitRequest(body, schema);
  if (fields.model && fields.model !== engine.modelName) {
    throw new OpenAIError(404, `The model \`${fields.model}\` does not exist.`, 'invalid_request_error', 'model', 'model_not_found');
  }
  const params = { ...sampling, logprobs: fields.logprobs ?? null };
  const n = typeof sampling.n === 'number' ? sampling.n : 1;
  // Start every prompt's stream; validation errors surface before any byte is sent.
  const streams = await startAll(prompts(fields.prompt).map((p) => engine.generate(p, params, { signal })));
  const id = makeId('cmpl');
  const created = now();
  const model = engine.modelName;
  const usage: Usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
  const offsets = new Map<number, number>();
  const toChoices = (promptIndex: number, chunk: RequestChunk) =>
    chunk.outputs.map((o) => {
      const index = promptIndex * n + o.index;
      const offset = offsets.get(index) ?? 0;
      offsets.set(index, offset + o.text.length);
      usage.completion_tokens += o.tokenIds.length;
      return {
        index,
        text: o.text,
        logprobs: completionLogprobs(engine, o.logprobs, offset),
        finish_reason: o.finishReason,
        stop_reason: o.stopReason,
      };
    });
  for (const s of streams) if (!s.first.done) usage.prompt_tokens += s.first.value.promptTokenIds.length;

  const chunks = mergeStreams(streams);
  if (fields.stream) {
    return {
      stream: (async function* () {
        for await (const { index, chunk } of chunks) {
          const choices = toChoices(index, chunk);
          if (choices.length) yield { id, object: 'text_completion', created, model, choices };
        }
        usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
        if (fields.stream_options?.include_usage) yield { id, object: 'text_completion', created, model, choices: [], usage };
      })(),
    };
  }
  const merged = new Map<number, ReturnType<typeof toChoices>[number]>();
  for await (const { index, chunk } of chunks) {
    for (const c of toChoices(index, chunk)) {
      const m = merged.get(c.index);
      if (!m) merged.set(c.index, c);
      else {
        m.text += c.text;
        m.finish_reason = c.finish_reason;
        m.stop_reason = c.stop_reason;
        if (m.logprobs && c.logprobs) {
          m.logprobs.tokens.push(...c.logprobs.tokens);
          m.logprobs.token_logprobs.push(...c.logprobs.token_logprobs);
          m.logprobs.top_logprobs.push(...c.logprobs.top_logprobs);
          m.logprobs.text_offset.push(...c.logprobs.text_offset);
        }
      }
    }
  }
  usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
  const choices = [...merged.values()].sort((a, b) => a.index - b.index);
  return { json: { id, object: 'text_completion', created, model, choices, usage } };
}
