// The OpenAI-compatible server driven by the official `openai` client.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { LLM } from '../../lib/llm.js';
import { createServer } from '../../lib/server/app.js';
import { loadTestLLM } from '../helpers/test-llm.js';

type OpenAIErrorBody = { error: { message: string; code: string | null } };

let llm: LLM;
let app: ReturnType<typeof createServer>;
let client: OpenAI;
let baseURL: string;
let model: string;

beforeAll(async () => {
  llm = await loadTestLLM({ maxModelLen: 512 });
  app = createServer(llm);
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  baseURL = `${address}/v1`;
  client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0 });
  model = llm.modelName;
});
afterAll(async () => {
  await app.close();
  await llm.close();
});

describe('models', () => {
  it('lists the served model', async () => {
    const list = await client.models.list();
    expect(list.data.map((m) => m.id)).toEqual([model]);
  });
});

describe('completions', () => {
  it('completes, with usage counted by the tokenizer', async () => {
    const r = await client.completions.create({ model, prompt: 'Hello there', max_tokens: 7, temperature: 0, ignore_eos: true } as never);
    expect(r.object).toBe('text_completion');
    expect(r.choices).toHaveLength(1);
    expect(r.choices[0]!.finish_reason).toBe('length');
    const promptIds = await llm.tokenizer.encode('Hello there');
    expect(r.usage).toEqual({ prompt_tokens: promptIds.length, completion_tokens: 7, total_tokens: promptIds.length + 7 });
    const direct = await llm.generate('Hello there', { max_tokens: 7, temperature: 0, ignore_eos: true });
    expect(r.choices[0]!.text).toBe(direct.outputs[0]!.text);
  });

  it('streams the same text, and usage when asked', async () => {
    const body = { model, prompt: 'Stream this', max_tokens: 12, temperature: 0.8, seed: 5, ignore_eos: true };
    const whole = await client.completions.create(body as never);
    const stream = await client.completions.create({ ...body, stream: true, stream_options: { include_usage: true } } as never);
    let text = '';
    let usage;
    let finish;
    for await (const chunk of stream as unknown as AsyncIterable<OpenAI.Completion>) {
      text += chunk.choices[0]?.text ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe((whole as OpenAI.Completion).choices[0]!.text);
    expect(finish).toBe('length');
    expect(usage?.completion_tokens).toBe(12);
  });

  it('takes several prompts and n, indexing choices prompt-major', async () => {
    const r = await client.completions.create({ model, prompt: ['A', 'B'], n: 2, max_tokens: 3, seed: 1, ignore_eos: true } as never);
    expect((r as OpenAI.Completion).choices.map((c) => c.index)).toEqual([0, 1, 2, 3]);
  });

  it('returns logprobs in the completions format', async () => {
    const r = (await client.completions.create({ model, prompt: 'Hi', max_tokens: 3, logprobs: 2, temperature: 0, ignore_eos: true } as never)) as OpenAI.Completion;
    const lp = r.choices[0]!.logprobs!;
    expect(lp.tokens).toHaveLength(3);
    expect(lp.token_logprobs).toHaveLength(3);
    expect(Object.keys(lp.top_logprobs![0]!).length).toBeLessThanOrEqual(2);
    expect(lp.tokens!.join('')).toBe(r.choices[0]!.text);
  });
});

describe('chat completions', () => {
  it('answers with an assistant message', async () => {
    const r = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5, temperature: 0 });
    expect(r.object).toBe('chat.completion');
    expect(r.choices[0]!.message.role).toBe('assistant');
    const ids = await llm.chatPromptIds([{ role: 'user', content: 'Hi' }]);
    expect(r.usage!.prompt_tokens).toBe(ids.length);
  });

  it('streams the role first, then content, then the finish reason', async () => {
    const stream = await client.chat.completions.create({
      model, messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }], max_tokens: 6, temperature: 0, stream: true,
      ignore_eos: true,
    } as never);
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const c of stream as unknown as AsyncIterable<OpenAI.ChatCompletionChunk>) chunks.push(c);
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('length');
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    const whole = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 6, temperature: 0, ignore_eos: true } as never);
    expect(text).toBe((whole as OpenAI.ChatCompletion).choices[0]!.message.content);
  });

  it('is reproducible with a seed', async () => {
    const body = { model, messages: [{ role: 'user' as const, content: 'Tell me' }], max_tokens: 8, temperature: 1, seed: 42 };
    const a = await client.chat.completions.create(body);
    const b = await client.chat.completions.create(body);
    expect(a.choices[0]!.message.content).toBe(b.choices[0]!.message.content);
  });
});

describe('errors', () => {
  it('a bad field is a 400 that names it', async () => {
    const error = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hi' }], top_p: 5 }).catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.status).toBe(400);
    expect(error.param).toBe('top_p');
    expect(error.message).toMatch(/top_p/);
  });

  it('an unknown model is a 404', async () => {
    const error = await client.completions.create({ model: 'nope', prompt: 'Hi' }).catch((e) => e);
    expect(error.status).toBe(404);
  });

  it('malformed JSON and unknown routes get OpenAI error objects', async () => {
    const bad = await fetch(`${baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as OpenAIErrorBody).error.message).toBeTruthy();
    const missing = await fetch(`${baseURL}/nothing-here`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as OpenAIErrorBody).error.code).toBe('not_found');
  });

  it('a prompt too long for the model is a 400', async () => {
    const error = await client.completions.create({ model, prompt: 'word '.repeat(600) }).catch((e) => e);
    expect(error.status).toBe(400);
    expect(error.message).toMatch(/maximum context length is 512/);
  });
});
