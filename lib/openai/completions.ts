// POST /v1/completions: prompt(s) in, text out, as one JSON response or an SSE stream, with
// vLLM's extras (echo, token-id prompts, prompt_logprobs, add_special_tokens, truncation).
import { setMaxListeners } from 'node:events';

import { z } from 'zod';

import type { RequestGroup } from '../engine/admission.js';
import type { AsyncEngine } from '../engine/async-engine.js';
import type { RequestChunk, TokenLogprob } from '../engine/types.js';
import { OpenAIError } from './errors.js';
import { type CompletionLogprobs, appendCompletionLogprobs, completionLogprobs, nextTextOffset } from './logprobs.js';
import { checkCommon, checkModel, commonFields, openRequestGroup, requestObject, splitRequest } from './request-fields.js';
import { SYSTEM_FINGERPRINT, type Usage, makeId, mergeStreams, now, startAll } from './shared.js';

const tokenIds = z.array(z.number().int().min(0, 'must be token ids (integers >= 0)'));
const shape = {
  ...commonFields,
  prompt: z.union([z.string(), z.array(z.string()).min(1), tokenIds.min(1), z.array(tokenIds.min(1)).min(1)], {
    error: 'must be a string, a list of strings, a list of token ids or a list of token-id lists',
  }),
  logprobs: z.number().int().min(0, 'must be at least 0').nullish(),
  suffix: z.unknown().optional().refine((v) => v === undefined || v === null, { error: 'is not supported' }),
  return_tokens_as_token_ids: z.boolean().nullish(),
};
type Fields = z.infer<z.ZodObject<typeof shape>>;

interface Prompt {
  ids: number[];
  text: string;
}

/** How many prompts `prompt` holds as sent (one string, one token-id list, or a list of them). */
function promptCount(prompt: unknown): number {
  return Array.isArray(prompt) && prompt.length > 0 && typeof prompt[0] !== 'number' ? prompt.length : 1;
}

/** Refuses prompts larger than the engine takes, before they are validated or tokenized. */
function checkPromptSizes(engine: AsyncEngine, prompt: unknown): void {
  const check = (item: unknown, field: string) => {
    if (typeof item === 'string') engine.checkPromptText(item, field);
    else if (Array.isArray(item)) engine.checkTokenCount(item.length, field);
  };
  if (promptCount(prompt) === 1) check(prompt, 'prompt');
  else (prompt as unknown[]).forEach((item, i) => check(item, `prompt[${i}]`));
}

async function preparePrompts(engine: AsyncEngine, fields: Fields): Promise<Prompt[]> {
  const p = fields.prompt;
  const raw: (string | number[])[] =
    typeof p === 'string' ? [p] : typeof p[0] === 'number' ? [p as number[]] : (p as (string | number[])[]);
  const addSpecialTokens = fields.add_special_tokens ?? true;
  return Promise.all(
    raw.map(async (item, i) => {
      const field = raw.length > 1 ? `prompt[${i}]` : 'prompt';
      let ids = typeof item === 'string' ? await engine.encodePrompt(item, { addSpecialTokens, field }) : item;
      if (fields.truncate_prompt_tokens != null) ids = ids.slice(-fields.truncate_prompt_tokens);
      const text = typeof item === 'string' && fields.truncate_prompt_tokens == null ? item : await engine.tokenizer.decode(ids);
      return { ids, text };
    }),
  );
}

interface Choice {
  index: number;
  text: string;
  logprobs: CompletionLogprobs | null;
  finish_reason: string | null;
  stop_reason: string | number | null;
}

export async function startCompletion({ engine, body, signal }: { engine: AsyncEngine; body: unknown; signal: AbortSignal }) {
  const raw = requestObject(body);
  // Admitted (prompts x n) and measured before the body is validated in depth or tokenized.
  const group = openRequestGroup(engine, promptCount(raw.prompt), raw.n);
  try {
    checkPromptSizes(engine, raw.prompt);
    return await startAdmitted(engine, raw, signal, group);
  } finally {
    group.release();
  }
}

async function startAdmitted(engine: AsyncEngine, body: Record<string, unknown>, signal: AbortSignal, group: RequestGroup) {
  const { fields, sampling } = splitRequest(body, shape);
  checkModel(fields.model, engine.modelName);
  checkCommon(fields);
  if (fields.stream && sampling.prompt_logprobs != null) {
    throw new OpenAIError(400, 'prompt_logprobs is not available when stream is true', 'invalid_request_error', 'prompt_logprobs');
  }
  // echo with max_tokens 0 returns only the prompt (the engine still runs one token, as vLLM).
  const echoOnly = fields.echo === true && sampling.max_tokens === 0;
  const logprobs = fields.logprobs ?? null;
  const params = {
    ...sampling,
    ...(echoOnly && { max_tokens: 1 }),
    logprobs,
    ...(fields.echo && logprobs !== null && sampling.prompt_logprobs == null && { prompt_logprobs: logprobs }),
  };
  const prompts = await preparePrompts(engine, fields);
  // Each prompt's request listens to the one signal: as many listeners as prompts is by design.
  setMaxListeners(0, signal);
  const streams = await startAll(prompts.map((p) => engine.generate({ promptTokenIds: p.ids }, params, { signal, group })));

  const n = typeof sampling.n === 'number' ? sampling.n : 1;
  const asIds = fields.return_tokens_as_token_ids ?? false;
  const id = fields.request_id ? `cmpl-${fields.request_id}` : makeId('cmpl');
  const created = now();
  const model = engine.modelName;
  const usage: Usage = { prompt_tokens: prompts.reduce((s, p) => s + p.ids.length, 0), completion_tokens: 0, total_tokens: 0 };
  // Per choice: whether it has started, and where its next token's text_offset begins.
  const tokenOffsets = new Map<number, number>();
  const promptLogprobs = new Map<number, (TokenLogprob | null)[]>();
  const k = logprobs ?? 0;

  // One step's news for prompt `i` as OpenAI choices (the echoed prompt goes first).
  const toChoices = (i: number, chunk: RequestChunk): Choice[] => {
    if (chunk.promptLogprobs) promptLogprobs.set(i, chunk.promptLogprobs);
    return chunk.outputs.map((o) => {
      const index = i * n + o.index;
      const first = !tokenOffsets.has(index);
      let offset = tokenOffsets.get(index) ?? 0;
      let text = '';
      let lp: CompletionLogprobs | null = logprobs === null ? null : { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
      if (first && fields.echo) {
        text = prompts[i]!.text;
        if (lp) {
          lp = completionLogprobs(engine.tokenizer, promptLogprobs.get(i) ?? [], prompts[i]!.ids, 0, k, asIds);
          offset = nextTextOffset(lp, 0);
        }
      }
      if (!echoOnly) {
        text += o.text;
        usage.completion_tokens += o.tokenIds.length;
        if (lp) {
          const generated = completionLogprobs(engine.tokenizer, o.logprobs ?? [], o.tokenIds, offset, k, asIds);
          appendCompletionLogprobs(lp, generated);
          offset = nextTextOffset(generated, offset);
        }
      }
      tokenOffsets.set(index, offset);
      return { index, text, logprobs: lp, finish_reason: o.finishReason, stop_reason: o.stopReason };
    });
  };
  const total = () => ({ ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens });
  const chunks = mergeStreams(streams);

  if (fields.stream) {
    const base = { id, object: 'text_completion', created, model, system_fingerprint: SYSTEM_FINGERPRINT };
    return {
      stream: (async function* () {
        for await (const { index, chunk } of chunks) {
          const choices = toChoices(index, chunk);
          if (choices.length === 0) continue;
          yield { ...base, choices, ...(fields.stream_options?.continuous_usage_stats && { usage: total() }) };
        }
        if (fields.stream_options?.include_usage) yield { ...base, choices: [], usage: total() };
      })(),
    };
  }
  const merged = new Map<number, Choice>();
  for await (const { index, chunk } of chunks) {
    for (const c of toChoices(index, chunk)) {
      const m = merged.get(c.index);
      if (!m) {
        merged.set(c.index, c);
        continue;
      }
      m.text += c.text;
      m.finish_reason = c.finish_reason;
      m.stop_reason = c.stop_reason;
      if (m.logprobs && c.logprobs) appendCompletionLogprobs(m.logprobs, c.logprobs);
    }
  }
  const choices = [...merged.values()].sort((a, b) => a.index - b.index);
  return { json: { id, object: 'text_completion', created, model, system_fingerprint: SYSTEM_FINGERPRINT, choices, usage: total() } };
}
