// POST /v1/chat/completions: messages in, an assistant message out, as JSON or an SSE stream.
import { z } from 'zod';

import type { ChatMessage } from '../chat/template.js';
import { ValidationError } from '../errors.js';
import type { RequestGroup } from '../engine/admission.js';
import type { TokenLogprob } from '../engine/types.js';
import type { LLM } from '../llm.js';
import { OpenAIError } from './errors.js';
import { chatLogprobs } from './logprobs.js';
import { checkCommon, checkModel, commonFields, openRequestGroup, requestObject, splitRequest } from './request-fields.js';
import { SYSTEM_FINGERPRINT, type Usage, makeId, mergeStreams, now, startAll } from './shared.js';

// Image and audio parts are refused by their type: nodellm serves the language model of
// multimodal checkpoints (Gemma 3, Mistral 3), text only.
const contentPart = z
  .object({
    type: z.literal('text', {
      error: (issue) =>
        typeof issue.input === 'string'
          ? `"${issue.input}" content parts are not supported: nodellm serves text only (of a multimodal model, its language model)`
          : 'must be "text"',
    }),
    text: z.string(),
  })
  .strict();
const message = z
  .object({
    role: z.enum(['system', 'developer', 'user', 'assistant', 'tool'], {
      error: 'must be one of system, developer, user, assistant, tool',
    }),
    content: z.union([z.string(), z.array(z.unknown())], { error: 'must be a string or a list of text parts' }).nullish(),
    name: z.string().nullish(),
  })
  .loose()
  // Parts are checked one by one so that the error names the part and its type (a union of the
  // two forms would only say that neither matched).
  .superRefine((m, ctx) => {
    if (!Array.isArray(m.content)) return;
    m.content.forEach((part, i) => {
      const r = contentPart.safeParse(part);
      const issue = r.success ? undefined : r.error.issues[0];
      if (issue) ctx.addIssue({ code: 'custom', path: ['content', i, ...issue.path.map(String)], message: issue.message });
    });
  })
  .transform((m) => m as typeof m & { content?: string | z.infer<typeof contentPart>[] | null });

const shape = {
  ...commonFields,
  messages: z.array(message, { error: 'must be a list of messages' }).min(1, 'must be a non-empty list'),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0, 'must be in [0, 20]').max(20, 'must be in [0, 20]').nullish(),
  max_completion_tokens: z.number().int().min(1, 'must be at least 1').nullish(),
  add_generation_prompt: z.boolean().nullish(),
  continue_final_message: z.boolean().nullish(),
  chat_template_kwargs: z.record(z.string(), z.unknown()).nullish(),
  tools: z.array(z.unknown()).max(0, { error: 'is not supported yet (tool calling)' }).nullish(),
  tool_choice: z.literal('none', { error: 'is not supported yet (tool calling); only "none"' }).nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  return_tokens_as_token_ids: z.boolean().nullish(),
  reasoning_effort: z.unknown().optional().refine((v) => v === undefined || v === null, { error: 'is not supported' }),
};

interface Choice {
  text: string;
  logprobs: TokenLogprob[] | null;
  finish: string | null;
  stop: string | number | null;
}

export async function startChat({ llm, body, signal }: { llm: LLM; body: unknown; signal: AbortSignal }) {
  const raw = requestObject(body);
  // Admitted (n) and measured before the body is validated in depth or rendered.
  const group = openRequestGroup(llm.engine, 1, raw.n);
  try {
    if (Array.isArray(raw.messages)) llm.engine.checkMessages(raw.messages);
    return await startAdmitted(llm, raw, signal, group);
  } finally {
    group.release();
  }
}

async function startAdmitted(llm: LLM, body: Record<string, unknown>, signal: AbortSignal, group: RequestGroup) {
  const engine = llm.engine;
  const { fields, sampling } = splitRequest(body, shape);
  checkModel(fields.model, engine.modelName);
  checkCommon(fields);
  if (fields.top_logprobs != null && !fields.logprobs) {
    throw new OpenAIError(400, 'top_logprobs requires logprobs to be true', 'invalid_request_error', 'top_logprobs');
  }
  if (fields.stream && sampling.prompt_logprobs != null) {
    throw new OpenAIError(400, 'prompt_logprobs is not available when stream is true', 'invalid_request_error', 'prompt_logprobs');
  }
  const messages = fields.messages as ChatMessage[];
  let prompt: string;
  try {
    prompt = llm.renderChat(messages, {
      ...(fields.add_generation_prompt != null && { add_generation_prompt: fields.add_generation_prompt }),
      ...(fields.continue_final_message != null && { continue_final_message: fields.continue_final_message }),
      ...(fields.chat_template_kwargs != null && { chat_template_kwargs: fields.chat_template_kwargs }),
    });
  } catch (error) {
    if (error instanceof ValidationError || error instanceof OpenAIError) throw error;
    throw new OpenAIError(400, (error as Error).message, 'invalid_request_error', 'messages');
  }
  // The template writes special tokens such as BOS itself; the tokenizer adds its own only if asked.
  let promptIds = await engine.tokenizer.encode(prompt, { addSpecialTokens: fields.add_special_tokens ?? false });
  if (fields.truncate_prompt_tokens != null) promptIds = promptIds.slice(-fields.truncate_prompt_tokens);
  const params = {
    ...sampling,
    // Chat answers run to the model's length unless limited (OpenAI's default).
    max_tokens: fields.max_completion_tokens ?? sampling.max_tokens ?? null,
    logprobs: fields.logprobs ? (fields.top_logprobs ?? 0) : null,
  };
  const [started] = await startAll([engine.generate({ promptTokenIds: promptIds }, params, { signal, group })]);

  const asIds = fields.return_tokens_as_token_ids ?? false;
  const id = fields.request_id ? `chatcmpl-${fields.request_id}` : makeId('chatcmpl');
  const created = now();
  const model = engine.modelName;
  const usage: Usage = { prompt_tokens: promptIds.length, completion_tokens: 0, total_tokens: 0 };
  const total = () => ({ ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens });
  // vLLM's echo: the last message's content comes first when it is the assistant's own.
  const last = messages.at(-1)!;
  const echoed =
    fields.echo && last.role === 'assistant'
      ? typeof last.content === 'string'
        ? last.content
        : (last.content ?? []).map((p) => p.text).join('\n')
      : '';
  const lp = (l: TokenLogprob[] | null) => (l ? chatLogprobs(engine.tokenizer, l, asIds) : null);
  const chunks = mergeStreams([started!]);

  if (fields.stream) {
    const base = { id, object: 'chat.completion.chunk', created, model, system_fingerprint: SYSTEM_FINGERPRINT };
    return {
      stream: (async function* () {
        const announced = new Set<number>();
        for await (const { chunk } of chunks) {
          for (const o of chunk.outputs) {
            usage.completion_tokens += o.tokenIds.length;
            const usageField = fields.stream_options?.continuous_usage_stats ? { usage: total() } : {};
            if (!announced.has(o.index)) {
              announced.add(o.index);
              const delta = { role: 'assistant', content: echoed };
              yield { ...base, choices: [{ index: o.index, delta, logprobs: null, finish_reason: null }], ...usageField };
            }
            if (o.text || o.logprobs?.length || o.finishReason) {
              const choice = {
                index: o.index,
                delta: o.text ? { content: o.text } : {},
                logprobs: lp(o.logprobs),
                finish_reason: o.finishReason,
                ...(o.finishReason && { stop_reason: o.stopReason }),
              };
              yield { ...base, choices: [choice], ...usageField };
            }
          }
        }
        if (fields.stream_options?.include_usage) yield { ...base, choices: [], usage: total() };
      })(),
    };
  }
  const outputs = new Map<number, Choice>();
  for await (const { chunk } of chunks) {
    for (const o of chunk.outputs) {
      usage.completion_tokens += o.tokenIds.length;
      const acc = outputs.get(o.index) ?? { text: echoed, logprobs: o.logprobs ? [] : null, finish: null, stop: null };
      acc.text += o.text;
      if (acc.logprobs && o.logprobs) acc.logprobs.push(...o.logprobs);
      acc.finish = o.finishReason;
      acc.stop = o.stopReason;
      outputs.set(o.index, acc);
    }
  }
  const choices = [...outputs.entries()]
    .sort(([a], [b]) => a - b)
    .map(([index, o]) => ({
      index,
      message: { role: 'assistant', content: o.text },
      logprobs: lp(o.logprobs),
      finish_reason: o.finish,
      stop_reason: o.stop,
    }));
  return { json: { id, object: 'chat.completion', created, model, system_fingerprint: SYSTEM_FINGERPRINT, choices, usage: total() } };
}
