// Every route of the OpenAI-compatible server, driven by the official `openai` client (raw fetch
// for the routes it does not cover), checked against independent references: the tokenizer for
// usage counts, the library API (llm.generate / llm.chat) for the expected text, token ids and
// logprobs, and OpenAI's / vLLM's documented response shapes.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ChatMessage } from '../../lib/chat/template.js';
import type { LLM } from '../../lib/llm.js';
import {
  type OpenAIErrorBody,
  type RunningServer,
  fetchMetrics,
  metricValue,
  postJSON,
  startServer,
} from '../helpers/http-server.js';
import { loadTestLLM } from '../helpers/test-llm.js';

// vLLM's extra request fields (ignore_eos, stop_token_ids, ...) travel in the same body.
type Extra = Record<string, unknown>;
type CompletionBody = OpenAI.CompletionCreateParamsNonStreaming & Extra;
type ChatBody = OpenAI.ChatCompletionCreateParamsNonStreaming & Extra;
// vLLM adds stop_reason to every choice.
type WithStopReason = { stop_reason?: string | number | null };

let llm: LLM;
let server: RunningServer;
let client: OpenAI;
let model: string;

beforeAll(async () => {
  llm = await loadTestLLM({ maxModelLen: 512 });
  server = await startServer(llm);
  client = new OpenAI({ baseURL: server.baseURL, apiKey: 'unused', maxRetries: 0 });
  model = llm.modelName;
});
afterAll(async () => {
  await server?.close();
  await llm?.close();
});

const complete = (body: CompletionBody) => client.completions.create(body);
const chat = (body: ChatBody) => client.chat.completions.create(body);

async function completeStream(body: CompletionBody & { stream_options?: { include_usage?: boolean } }) {
  const stream = await client.completions.create({ ...body, stream: true } as OpenAI.CompletionCreateParamsStreaming);
  const chunks: OpenAI.Completion[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

async function chatStream(body: ChatBody & { stream_options?: { include_usage?: boolean } }) {
  const stream = await client.chat.completions.create({ ...body, stream: true } as OpenAI.ChatCompletionCreateParamsStreaming);
  const chunks: OpenAI.ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

/** Per choice index: the joined text of a completions stream, and the finish reasons seen. */
function joinCompletionChunks(chunks: OpenAI.Completion[]) {
  const text = new Map<number, string>();
  const finish = new Map<number, string[]>();
  for (const c of chunks) {
    for (const choice of c.choices) {
      text.set(choice.index, (text.get(choice.index) ?? '') + choice.text);
      if (choice.finish_reason) finish.set(choice.index, [...(finish.get(choice.index) ?? []), choice.finish_reason]);
    }
  }
  return { text, finish };
}

function joinChatChunks(chunks: OpenAI.ChatCompletionChunk[]) {
  const text = new Map<number, string>();
  const finish = new Map<number, string[]>();
  const roles = new Map<number, string[]>();
  for (const c of chunks) {
    for (const choice of c.choices) {
      text.set(choice.index, (text.get(choice.index) ?? '') + (choice.delta.content ?? ''));
      if (choice.delta.role) roles.set(choice.index, [...(roles.get(choice.index) ?? []), choice.delta.role]);
      if (choice.finish_reason) finish.set(choice.index, [...(finish.get(choice.index) ?? []), choice.finish_reason]);
    }
  }
  return { text, finish, roles };
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

function expectCommonShape(r: { id: string; created: number; model: string; system_fingerprint?: string | undefined }, prefix: string, t0: number) {
  expect(r.id).toMatch(new RegExp(`^${prefix}-[A-Za-z0-9_-]+$`));
  expect(Number.isInteger(r.created)).toBe(true);
  expect(r.created).toBeGreaterThanOrEqual(t0 - 1);
  expect(r.created).toBeLessThanOrEqual(nowSeconds() + 1);
  expect(r.model).toBe(model);
  expect(typeof r.system_fingerprint).toBe('string');
  expect(r.system_fingerprint!.length).toBeGreaterThan(0);
}

describe('GET /health, /version, /v1/models', () => {
  it('/health answers 200', async () => {
    const r = await fetch(`${server.origin}/health`);
    expect(r.status).toBe(200);
  });

  it('/version reports a version string', async () => {
    const r = await fetch(`${server.origin}/version`);
    expect(r.status).toBe(200);
    const body = (await r.json()) as { version: unknown };
    expect(body.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('/v1/models lists the served model as a model card', async () => {
    const t0 = nowSeconds();
    const list = await client.models.list();
    expect(list.data).toHaveLength(1);
    const card = list.data[0]!;
    expect(card.id).toBe(model);
    expect(card.object).toBe('model');
    expect(typeof card.owned_by).toBe('string');
    expect(card.created).toBeGreaterThanOrEqual(t0 - 1);
    expect(card.created).toBeLessThanOrEqual(nowSeconds() + 1);
    // vLLM's extra fields, read raw.
    const raw = (await (await fetch(`${server.baseURL}/models`)).json()) as { object: string; data: Record<string, unknown>[] };
    expect(raw.object).toBe('list');
    expect(raw.data[0]!.max_model_len).toBe(512);
    expect(raw.data[0]).toHaveProperty('root');
    expect(raw.data[0]).toHaveProperty('parent');
    expect(Array.isArray(raw.data[0]!.permission)).toBe(true);
  });
});

describe('POST /v1/completions', () => {
  const prompt = 'The capital of France is';

  it('has the completions shape, the library text, and usage from the tokenizer', async () => {
    const t0 = nowSeconds();
    const r = await complete({ model, prompt, max_tokens: 9, temperature: 0, ignore_eos: true });
    expectCommonShape(r, 'cmpl', t0);
    expect(r.object).toBe('text_completion');
    expect(r.choices).toHaveLength(1);
    const choice = r.choices[0]!;
    expect(choice.index).toBe(0);
    expect(choice.finish_reason).toBe('length');
    expect(choice.logprobs).toBeNull();
    const direct = await llm.generate(prompt, { max_tokens: 9, temperature: 0, ignore_eos: true });
    expect(choice.text).toBe(direct.outputs[0]!.text);
    const promptIds = await llm.tokenizer.encode(prompt);
    expect(r.usage).toEqual({ prompt_tokens: promptIds.length, completion_tokens: 9, total_tokens: promptIds.length + 9 });
  });

  it('generates 16 tokens by default (vLLM default max_tokens)', async () => {
    const r = await complete({ model, prompt, temperature: 0, ignore_eos: true });
    expect(r.usage!.completion_tokens).toBe(16);
    expect(r.choices[0]!.finish_reason).toBe('length');
  });

  it('counts completion tokens as the generated token ids (sampled, EOS allowed)', async () => {
    const params = { max_tokens: 40, temperature: 1, seed: 11 };
    const r = await complete({ model, prompt, ...params });
    const direct = await llm.generate(prompt, params);
    const out = direct.outputs[0]!;
    expect(r.choices[0]!.text).toBe(out.text);
    expect(r.choices[0]!.finish_reason).toBe(out.finishReason);
    expect(r.usage!.completion_tokens).toBe(out.tokenIds.length);
    expect(r.usage!.prompt_tokens).toBe((await llm.tokenizer.encode(prompt)).length);
  });

  it('streams the same text, in chunks of the same id, ending with the finish reason', async () => {
    const body = { model, prompt, max_tokens: 14, temperature: 0.9, seed: 5, ignore_eos: true };
    const whole = await complete(body);
    const t0 = nowSeconds();
    const chunks = await completeStream(body);
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks) {
      expectCommonShape(c, 'cmpl', t0);
      expect(c.object).toBe('text_completion');
      expect(c.id).toBe(chunks[0]!.id);
      expect(c.usage ?? null).toBeNull();
    }
    const { text, finish } = joinCompletionChunks(chunks);
    expect(text.get(0)).toBe(whole.choices[0]!.text);
    expect(finish.get(0)).toEqual(['length']);
    // The finish reason comes on the last chunk only.
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('length');
  });

  it('stream_options.include_usage adds a final chunk with no choices and the usage', async () => {
    const body = { model, prompt, max_tokens: 10, temperature: 0, ignore_eos: true };
    const whole = await complete(body);
    const chunks = await completeStream({ ...body, stream_options: { include_usage: true } });
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual(whole.usage);
    expect(last.usage).toEqual({ prompt_tokens: whole.usage!.prompt_tokens, completion_tokens: 10, total_tokens: whole.usage!.prompt_tokens + 10 });
    for (const c of chunks.slice(0, -1)) {
      expect(c.choices.length).toBeGreaterThan(0);
      expect(c.usage ?? null).toBeNull();
    }
  });

  it('n > 1 gives n seeded choices equal to the library with the same n and seed', async () => {
    const params = { max_tokens: 8, temperature: 1, seed: 21, n: 3, ignore_eos: true };
    const r = await complete({ model, prompt, ...params });
    expect(r.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    const direct = await llm.generate(prompt, params);
    expect(r.choices.map((c) => c.text)).toEqual(direct.outputs.map((o) => o.text));
    expect(new Set(r.choices.map((c) => c.text)).size).toBeGreaterThan(1);
    const promptLen = (await llm.tokenizer.encode(prompt)).length;
    // The prompt is counted once, every choice's tokens are counted.
    expect(r.usage).toEqual({ prompt_tokens: promptLen, completion_tokens: 24, total_tokens: promptLen + 24 });

    const chunks = await completeStream({ model, prompt, ...params });
    const { text, finish } = joinCompletionChunks(chunks);
    expect([...text.keys()].sort()).toEqual([0, 1, 2]);
    for (const c of r.choices) {
      expect(text.get(c.index)).toBe(c.text);
      expect(finish.get(c.index)).toEqual(['length']);
    }
  });

  it('a list of prompts with n = 2 indexes choices prompt-major', async () => {
    const prompts = ['Alpha beta', 'Gamma delta epsilon'];
    const params = { max_tokens: 5, temperature: 1, seed: 3, n: 2, ignore_eos: true };
    const r = await complete({ model, prompt: prompts, ...params });
    expect(r.choices.map((c) => c.index)).toEqual([0, 1, 2, 3]);
    const direct = await llm.generate(prompts, params);
    expect(r.choices.map((c) => c.text)).toEqual(direct.flatMap((d) => d.outputs.map((o) => o.text)));
    const promptTokens = (await llm.tokenizer.encode(prompts[0]!)).length + (await llm.tokenizer.encode(prompts[1]!)).length;
    expect(r.usage).toEqual({ prompt_tokens: promptTokens, completion_tokens: 20, total_tokens: promptTokens + 20 });
  });

  it('takes a token-id prompt and a list of them', async () => {
    const ids = await llm.tokenizer.encode('Hello world');
    const other = await llm.tokenizer.encode('Something else entirely', { addSpecialTokens: false });
    const params = { max_tokens: 6, temperature: 0, ignore_eos: true };
    const fromIds = await complete({ model, prompt: ids, ...params });
    const fromText = await complete({ model, prompt: 'Hello world', ...params });
    expect(fromIds.choices[0]!.text).toBe(fromText.choices[0]!.text);
    expect(fromIds.usage!.prompt_tokens).toBe(ids.length);

    const both = await complete({ model, prompt: [ids, other], ...params });
    expect(both.choices.map((c) => c.index)).toEqual([0, 1]);
    const direct = await llm.generate([{ promptTokenIds: ids }, { promptTokenIds: other }], params);
    expect(both.choices.map((c) => c.text)).toEqual(direct.map((d) => d.outputs[0]!.text));
    expect(both.usage).toEqual({ prompt_tokens: ids.length + other.length, completion_tokens: 12, total_tokens: ids.length + other.length + 12 });
  });

  it('echo puts the prompt first; echo with max_tokens 0 returns only the prompt', async () => {
    const params = { max_tokens: 6, temperature: 0, ignore_eos: true };
    const r = await complete({ model, prompt, echo: true, ...params });
    const direct = await llm.generate(prompt, params);
    expect(r.choices[0]!.text.startsWith(prompt)).toBe(true);
    expect(r.choices[0]!.text).toBe(prompt + direct.outputs[0]!.text);

    const promptLen = (await llm.tokenizer.encode(prompt)).length;
    const only = await complete({ model, prompt, echo: true, max_tokens: 0 });
    expect(only.choices).toHaveLength(1);
    expect(only.choices[0]!.text).toBe(prompt);
    expect(only.usage).toEqual({ prompt_tokens: promptLen, completion_tokens: 0, total_tokens: promptLen });

    const streamed = joinCompletionChunks(await completeStream({ model, prompt, echo: true, ...params }));
    expect(streamed.text.get(0)).toBe(r.choices[0]!.text);
  });

  it('logprobs: the library logprobs, top alternatives, offsets into the text (greedy)', async () => {
    const p = 'Hi';
    const params = { max_tokens: 6, temperature: 0, ignore_eos: true };
    const r = await complete({ model, prompt: p, logprobs: 3, ...params });
    const choice = r.choices[0]!;
    const lp = choice.logprobs!;
    const direct = (await llm.generate(p, { ...params, logprobs: 3 })).outputs[0]!;
    expect(lp.tokens).toHaveLength(6);
    expect(lp.token_logprobs).toHaveLength(6);
    expect(lp.top_logprobs).toHaveLength(6);
    expect(lp.text_offset).toHaveLength(6);
    expect(lp.tokens!.join('')).toBe(choice.text);
    lp.token_logprobs!.forEach((logprob, i) => {
      expect(logprob).toBeCloseTo(direct.logprobs![i]!.logprob, 5);
      expect(logprob).toBeLessThanOrEqual(0);
      const top = lp.top_logprobs![i]!;
      const values = Object.values(top);
      // logprobs alternatives, plus the sampled token if it is not among them (OpenAI: up to logprobs + 1).
      expect(values.length).toBeGreaterThanOrEqual(3);
      expect(values.length).toBeLessThanOrEqual(4);
      // Greedy: the chosen token is the most likely one.
      expect(top[lp.tokens![i]!]).toBeCloseTo(logprob, 6);
      for (const v of values) expect(v).toBeLessThanOrEqual(logprob + 1e-6);
      // The alternatives are the library's top 3 (decoded).
      const want = direct.logprobs![i]!.top;
      expect(want).toHaveLength(3);
      for (const t of want) expect(top[llm.tokenizer.decodeTokens([llm.tokenizer.tokenString(t.token)])]).toBeCloseTo(t.logprob, 5);
    });
    // Offsets: each token starts where the previous one ended.
    let at = 0;
    lp.tokens!.forEach((t, i) => {
      expect(lp.text_offset![i]).toBe(at);
      at += t.length;
    });
  });

  it('logprobs: the sampled token is always among top_logprobs (sampling, logprobs 1)', async () => {
    // OpenAI: "The API will always return the logprob of the sampled token, so there may be up to
    // logprobs+1 elements in the response"; vLLM does the same.
    const r = await complete({ model, prompt: 'The quick brown fox', max_tokens: 12, logprobs: 1, temperature: 1, seed: 3, ignore_eos: true });
    const lp = r.choices[0]!.logprobs!;
    lp.tokens!.forEach((token, i) => {
      const top = lp.top_logprobs![i]!;
      expect(Object.keys(top).length).toBeLessThanOrEqual(2);
      expect(Object.keys(top), `position ${i}: sampled ${JSON.stringify(token)} missing from ${JSON.stringify(top)}`).toContain(token);
    });
  });

  it('logprobs stream: the chunks join to the non-streamed logprobs', async () => {
    const body = { model, prompt: 'Hi', max_tokens: 7, logprobs: 2, temperature: 0, ignore_eos: true };
    const whole = (await complete(body)).choices[0]!.logprobs!;
    const joined = { tokens: [] as string[], token_logprobs: [] as number[], text_offset: [] as number[] };
    for (const c of await completeStream(body)) {
      for (const choice of c.choices) {
        joined.tokens.push(...(choice.logprobs?.tokens ?? []));
        joined.token_logprobs.push(...(choice.logprobs?.token_logprobs ?? []));
        joined.text_offset.push(...(choice.logprobs?.text_offset ?? []));
      }
    }
    expect(joined.tokens).toEqual(whole.tokens);
    expect(joined.token_logprobs).toEqual(whole.token_logprobs);
    expect(joined.text_offset).toEqual(whole.text_offset);
  });

  it('echo with logprobs covers prompt and output, with text offsets that never go back', async () => {
    const p = 'Hi there';
    const promptIds = await llm.tokenizer.encode(p);
    const r = await complete({ model, prompt: p, echo: true, logprobs: 1, max_tokens: 3, temperature: 0, ignore_eos: true });
    const lp = r.choices[0]!.logprobs!;
    expect(lp.tokens).toHaveLength(promptIds.length + 3);
    // The first prompt token has no logprob.
    expect(lp.token_logprobs![0]).toBeNull();
    expect(lp.top_logprobs![0]).toBeNull();
    for (const v of lp.token_logprobs!.slice(1)) expect(v).toBeLessThanOrEqual(0);
    const offsets = lp.text_offset!;
    for (let i = 1; i < offsets.length; i++) {
      expect(offsets[i], `text_offset ${JSON.stringify(offsets)} goes back at ${i}`).toBeGreaterThanOrEqual(offsets[i - 1]!);
    }
  });

  describe('stop strings', () => {
    const p = 'Write a poem';
    const params = { max_tokens: 40, temperature: 0, ignore_eos: true };
    let full: string;
    let stop: string;
    beforeAll(async () => {
      full = (await llm.generate(p, params)).outputs[0]!.text;
      // A stop string taken from the middle of the greedy output: two words that occur in it.
      const words = [...full.matchAll(/ [A-Za-z]{3,}/g)];
      const pick = words[Math.floor(words.length / 2)]!;
      stop = pick[0].slice(0, 4);
      expect(full.indexOf(stop)).toBeGreaterThan(0);
    });

    it('cut the output before the stop string, streamed or not', async () => {
      const expected = full.slice(0, full.indexOf(stop));
      const r = await complete({ model, prompt: p, ...params, stop: [stop, 'zzzzqqqq'] });
      const choice = r.choices[0]! as OpenAI.CompletionChoice & WithStopReason;
      expect(choice.text).toBe(expected);
      expect(choice.finish_reason).toBe('stop');
      expect(choice.stop_reason).toBe(stop);

      const chunks = await completeStream({ model, prompt: p, ...params, stop });
      const streamed = joinCompletionChunks(chunks).text.get(0)!;
      expect(streamed).toBe(expected);
      expect(streamed).not.toContain(stop);
      for (const c of chunks) for (const ch of c.choices) expect(ch.text).not.toContain(stop);
      expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('stop');
    });

    it('include_stop_str_in_output keeps it', async () => {
      const expected = full.slice(0, full.indexOf(stop) + stop.length);
      const body = { model, prompt: p, ...params, stop, include_stop_str_in_output: true };
      const r = await complete(body);
      expect(r.choices[0]!.text).toBe(expected);
      expect(r.choices[0]!.finish_reason).toBe('stop');
      expect(joinCompletionChunks(await completeStream(body)).text.get(0)).toBe(expected);
    });

    it('the earliest of several stop strings wins', async () => {
      const later = full.slice(full.indexOf(stop) + stop.length + 2, full.indexOf(stop) + stop.length + 5);
      const r = await complete({ model, prompt: p, ...params, stop: [later, stop] });
      expect(r.choices[0]!.text).toBe(full.slice(0, Math.min(full.indexOf(stop), full.indexOf(later))));
    });

    it('chat: the stream never contains the stop string', async () => {
      const messages: ChatMessage[] = [{ role: 'user', content: p }];
      const fullChat = (await llm.chat(messages, params)).outputs[0]!.text;
      const chatStop = fullChat.slice(10, 13);
      const expected = fullChat.slice(0, fullChat.indexOf(chatStop));
      const chunks = await chatStream({ model, messages: [{ role: 'user', content: p }], ...params, stop: chatStop });
      const streamed = joinChatChunks(chunks);
      expect(streamed.text.get(0)).toBe(expected);
      expect(streamed.text.get(0)).not.toContain(chatStop);
      expect(streamed.finish.get(0)).toEqual(['stop']);
      const whole = await chat({ model, messages: [{ role: 'user', content: p }], ...params, stop: chatStop });
      expect(whole.choices[0]!.message.content).toBe(expected);
    });
  });

  it('stop_token_ids end the output there; the stop token is not in the text (vLLM)', async () => {
    const p = 'Hello';
    const params = { max_tokens: 12, temperature: 0, ignore_eos: true };
    const ids = (await llm.generate(p, params)).outputs[0]!.tokenIds;
    const stopId = ids[4]!;
    const firstAt = ids.indexOf(stopId);
    const r = await complete({ model, prompt: p, ...params, stop_token_ids: [stopId] });
    const choice = r.choices[0]! as OpenAI.CompletionChoice & WithStopReason;
    expect(choice.finish_reason).toBe('stop');
    expect(choice.stop_reason).toBe(stopId);
    // The stop token is generated (and counted) but, unless include_stop_str_in_output, not shown.
    expect(r.usage!.completion_tokens).toBe(firstAt + 1);
    expect(choice.text).toBe(await llm.tokenizer.decode(ids.slice(0, firstAt)));
    const kept = await complete({ model, prompt: p, ...params, stop_token_ids: [stopId], include_stop_str_in_output: true });
    expect(kept.choices[0]!.text).toBe(await llm.tokenizer.decode(ids.slice(0, firstAt + 1)));
  });

  it('a seed reproduces the output, streamed or not; different seeds differ', async () => {
    const body = { model, prompt, max_tokens: 16, temperature: 1, ignore_eos: true };
    const a = await complete({ ...body, seed: 1234 });
    const b = await complete({ ...body, seed: 1234 });
    const c = await complete({ ...body, seed: 4321 });
    expect(a.choices[0]!.text).toBe(b.choices[0]!.text);
    expect(c.choices[0]!.text).not.toBe(a.choices[0]!.text);
    const streamed = joinCompletionChunks(await completeStream({ ...body, seed: 1234 }));
    expect(streamed.text.get(0)).toBe(a.choices[0]!.text);
  });
});

describe('POST /v1/chat/completions', () => {
  const messages: ChatMessage[] = [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Name three colours.' },
  ];
  const msgs = messages as OpenAI.ChatCompletionMessageParam[];

  it('has the chat shape, an assistant message equal to llm.chat, and usage from chatPromptIds', async () => {
    const t0 = nowSeconds();
    const params = { max_tokens: 9, temperature: 0, ignore_eos: true };
    const r = await chat({ model, messages: msgs, ...params });
    expectCommonShape(r, 'chatcmpl', t0);
    expect(r.object).toBe('chat.completion');
    expect(r.choices).toHaveLength(1);
    const choice = r.choices[0]!;
    expect(choice.index).toBe(0);
    expect(choice.message.role).toBe('assistant');
    expect(choice.finish_reason).toBe('length');
    expect(choice.logprobs ?? null).toBeNull();
    const direct = await llm.chat(messages, params);
    expect(choice.message.content).toBe(direct.outputs[0]!.text);
    const promptIds = await llm.chatPromptIds(messages);
    expect(r.usage).toEqual({ prompt_tokens: promptIds.length, completion_tokens: 9, total_tokens: promptIds.length + 9 });
  });

  it('max_completion_tokens limits like max_tokens; completion tokens are the generated ids', async () => {
    const r = await chat({ model, messages: msgs, max_completion_tokens: 7, temperature: 0, ignore_eos: true });
    expect(r.usage!.completion_tokens).toBe(7);
    const params = { max_tokens: 30, temperature: 1, seed: 77 };
    const sampled = await chat({ model, messages: msgs, ...params });
    const direct = (await llm.chat(messages, params)).outputs[0]!;
    expect(sampled.choices[0]!.message.content).toBe(direct.text);
    expect(sampled.usage!.completion_tokens).toBe(direct.tokenIds.length);
    expect(sampled.choices[0]!.finish_reason).toBe(direct.finishReason);
  });

  it('streams the role first, then the same content, then the finish reason and usage', async () => {
    const body = { model, messages: msgs, max_tokens: 12, temperature: 0.7, seed: 8, ignore_eos: true };
    const whole = await chat(body);
    const t0 = nowSeconds();
    const chunks = await chatStream({ ...body, stream_options: { include_usage: true } });
    for (const c of chunks) {
      expectCommonShape(c, 'chatcmpl', t0);
      expect(c.object).toBe('chat.completion.chunk');
      expect(c.id).toBe(chunks[0]!.id);
    }
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    const { text, finish, roles } = joinChatChunks(chunks);
    expect(roles.get(0)).toEqual(['assistant']);
    expect(text.get(0)).toBe(whole.choices[0]!.message.content);
    expect(finish.get(0)).toEqual(['length']);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual(whole.usage);
    for (const c of chunks.slice(0, -1)) expect(c.usage ?? null).toBeNull();
    // The finish reason is on the last chunk that has a choice.
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('length');
  });

  it('streams without a usage chunk unless asked', async () => {
    const chunks = await chatStream({ model, messages: msgs, max_tokens: 4, temperature: 0, ignore_eos: true });
    for (const c of chunks) {
      expect(c.choices.length).toBeGreaterThan(0);
      expect(c.usage ?? null).toBeNull();
    }
  });

  it('n > 1 gives n choices equal to llm.chat with the same n and seed, streamed or not', async () => {
    const params = { max_tokens: 6, temperature: 1, seed: 99, n: 2, ignore_eos: true };
    const r = await chat({ model, messages: msgs, ...params });
    expect(r.choices.map((c) => c.index)).toEqual([0, 1]);
    for (const c of r.choices) expect(c.message.role).toBe('assistant');
    const direct = await llm.chat(messages, params);
    expect(r.choices.map((c) => c.message.content)).toEqual(direct.outputs.map((o) => o.text));
    expect(r.choices[0]!.message.content).not.toBe(r.choices[1]!.message.content);
    const promptLen = (await llm.chatPromptIds(messages)).length;
    expect(r.usage).toEqual({ prompt_tokens: promptLen, completion_tokens: 12, total_tokens: promptLen + 12 });

    const { text, finish, roles } = joinChatChunks(await chatStream({ model, messages: msgs, ...params }));
    for (const c of r.choices) {
      expect(text.get(c.index)).toBe(c.message.content);
      expect(finish.get(c.index)).toEqual(['length']);
      expect(roles.get(c.index)).toEqual(['assistant']);
    }
  });

  it('logprobs + top_logprobs: the library logprobs; greedy tokens join to the content', async () => {
    const params = { max_tokens: 8, temperature: 0, ignore_eos: true };
    const r = await chat({ model, messages: [{ role: 'user', content: 'Hello' }], logprobs: true, top_logprobs: 3, ...params });
    const choice = r.choices[0]!;
    const content = choice.logprobs!.content!;
    expect(content).toHaveLength(8);
    expect(content.map((e) => e.token).join('')).toBe(choice.message.content);
    const direct = (await llm.chat([{ role: 'user', content: 'Hello' }], { ...params, logprobs: 3 })).outputs[0]!;
    content.forEach((entry, i) => {
      expect(entry.logprob).toBeCloseTo(direct.logprobs![i]!.logprob, 5);
      expect(entry.bytes).toEqual([...Buffer.from(entry.token, 'utf8')]);
      expect(entry.top_logprobs).toHaveLength(3);
      // Sorted, most likely first; greedy picks the first.
      for (let j = 1; j < 3; j++) expect(entry.top_logprobs[j]!.logprob).toBeLessThanOrEqual(entry.top_logprobs[j - 1]!.logprob);
      expect(entry.top_logprobs[0]!.token).toBe(entry.token);
      expect(entry.top_logprobs[0]!.logprob).toBeCloseTo(entry.logprob, 6);
      expect(entry.top_logprobs.map((t) => t.logprob)).toEqual(direct.logprobs![i]!.top.map((t) => expect.closeTo(t.logprob, 5)));
      for (const t of entry.top_logprobs) expect(t.bytes).toEqual([...Buffer.from(t.token, 'utf8')]);
    });
  });

  it('logprobs without top_logprobs gives empty alternative lists; streamed logprobs join to the same', async () => {
    const body = { model, messages: msgs, logprobs: true, max_tokens: 5, temperature: 0, ignore_eos: true };
    const r = await chat(body);
    const content = r.choices[0]!.logprobs!.content!;
    expect(content).toHaveLength(5);
    for (const e of content) expect(e.top_logprobs).toEqual([]);
    const streamed: OpenAI.ChatCompletionTokenLogprob[] = [];
    for (const c of await chatStream(body)) for (const ch of c.choices) streamed.push(...(ch.logprobs?.content ?? []));
    expect(streamed).toEqual(content);
  });

  it('a seed reproduces the answer; different seeds differ', async () => {
    const body = { model, messages: msgs, max_tokens: 16, temperature: 1, ignore_eos: true };
    const a = await chat({ ...body, seed: 42 });
    const b = await chat({ ...body, seed: 42 });
    const c = await chat({ ...body, seed: 43 });
    expect(a.choices[0]!.message.content).toBe(b.choices[0]!.message.content);
    expect(c.choices[0]!.message.content).not.toBe(a.choices[0]!.message.content);
    const streamed = joinChatChunks(await chatStream({ ...body, seed: 42 }));
    expect(streamed.text.get(0)).toBe(a.choices[0]!.message.content);
  });
});

describe('POST /tokenize and /detokenize', () => {
  const text = 'Hello, wörld! 你好 🙂 tabs\tand\nnewlines';

  it('tokenize a prompt as the tokenizer does (special tokens by default)', async () => {
    const r = await postJSON(`${server.origin}/tokenize`, { model, prompt: text });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { tokens: number[]; count: number; max_model_len: number };
    const expected = await llm.tokenizer.encode(text);
    expect(body.tokens).toEqual(expected);
    expect(body.count).toBe(expected.length);
    expect(body.max_model_len).toBe(512);
    const plain = (await (await postJSON(`${server.origin}/tokenize`, { prompt: text, add_special_tokens: false })).json()) as { tokens: number[] };
    expect(plain.tokens).toEqual(await llm.tokenizer.encode(text, { addSpecialTokens: false }));
    expect(plain.tokens).toEqual(expected.slice(1));
  });

  it('tokenize messages as the chat prompt', async () => {
    const messages: ChatMessage[] = [{ role: 'user', content: text }];
    const r = await postJSON(`${server.origin}/tokenize`, { messages });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { tokens: number[]; count: number };
    expect(body.tokens).toEqual(await llm.chatPromptIds(messages));
    expect(body.count).toBe(body.tokens.length);
  });

  it('return_token_strs gives each token string', async () => {
    const body = (await (await postJSON(`${server.origin}/tokenize`, { prompt: 'Hi there', return_token_strs: true })).json()) as {
      tokens: number[];
      token_strs: string[];
    };
    expect(body.token_strs).toEqual(body.tokens.map((t) => llm.tokenizer.tokenString(t)));
  });

  it('tokenize then detokenize round-trips the text', async () => {
    const tok = (await (await postJSON(`${server.origin}/tokenize`, { prompt: text, add_special_tokens: false })).json()) as { tokens: number[] };
    const r = await postJSON(`${server.origin}/detokenize`, { model, tokens: tok.tokens });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { prompt: string }).prompt).toBe(text);
    // With the BOS the tokenizer adds, detokenize shows it (vLLM decodes special tokens too).
    const withBos = (await (await postJSON(`${server.origin}/tokenize`, { prompt: text })).json()) as { tokens: number[] };
    const back = (await (await postJSON(`${server.origin}/detokenize`, { tokens: withBos.tokens })).json()) as { prompt: string };
    expect(back.prompt).toBe(`<|begin_of_text|>${text}`);
  });
});

describe('GET /metrics', () => {
  it('exposes the vLLM-named series labelled with model_name', async () => {
    const r = await fetch(`${server.origin}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await r.text();
    const labels = { model_name: model };
    for (const name of ['nodellm:num_requests_running', 'nodellm:num_requests_waiting', 'nodellm:kv_cache_usage_perc', 'nodellm:prompt_tokens_total', 'nodellm:generation_tokens_total']) {
      expect(metricValue(text, name, labels), name).toBeDefined();
    }
    for (const reason of ['stop', 'length', 'abort']) {
      expect(metricValue(text, 'nodellm:request_success_total', { ...labels, finished_reason: reason }), reason).toBeDefined();
    }
    for (const h of ['nodellm:time_to_first_token_seconds', 'nodellm:inter_token_latency_seconds', 'nodellm:e2e_request_latency_seconds']) {
      expect(metricValue(text, `${h}_count`, labels), h).toBeDefined();
      expect(metricValue(text, `${h}_bucket`, { ...labels, le: '+Inf' }), h).toBeDefined();
    }
    // Idle between tests: nothing running, no KV blocks held.
    expect(metricValue(text, 'nodellm:num_requests_running', labels)).toBe(0);
    expect(metricValue(text, 'nodellm:kv_cache_usage_perc', labels)).toBe(0);
  });

  it('counts a finished request: tokens, finish reason and latencies', async () => {
    const labels = { model_name: model };
    const read = async () => {
      const text = await fetchMetrics(server.origin);
      const get = (name: string, extra: Record<string, string> = {}) => metricValue(text, name, { ...labels, ...extra }) ?? NaN;
      return {
        prompt: get('nodellm:prompt_tokens_total'),
        generation: get('nodellm:generation_tokens_total'),
        length: get('nodellm:request_success_total', { finished_reason: 'length' }),
        stop: get('nodellm:request_success_total', { finished_reason: 'stop' }),
        ttft: get('nodellm:time_to_first_token_seconds_count'),
        itl: get('nodellm:inter_token_latency_seconds_count'),
        e2e: get('nodellm:e2e_request_latency_seconds_count'),
      };
    };
    const before = await read();
    const p = 'Count these tokens please';
    await complete({ model, prompt: p, max_tokens: 11, temperature: 0, ignore_eos: true });
    const after = await read();
    const promptLen = (await llm.tokenizer.encode(p)).length;
    expect(after.prompt - before.prompt).toBe(promptLen);
    expect(after.generation - before.generation).toBe(11);
    expect(after.length - before.length).toBe(1);
    expect(after.stop - before.stop).toBe(0);
    expect(after.ttft - before.ttft).toBe(1);
    expect(after.e2e - before.e2e).toBe(1);
    expect(after.itl - before.itl).toBe(10);
  });
});

describe('API key', () => {
  let secured: RunningServer;
  const key = 'sk-test-0123456789';
  beforeAll(async () => {
    // Put last in the file: a second server on the same LLM takes over its metrics observer.
    secured = await startServer(llm, { apiKey: key });
  });
  afterAll(async () => {
    await secured?.close();
  });

  it('rejects a missing or wrong key with a 401 OpenAI error', async () => {
    const none = await fetch(`${secured.baseURL}/models`);
    expect(none.status).toBe(401);
    const body = (await none.json()) as OpenAIErrorBody;
    expect(body.error.message).toMatch(/api key/i);
    expect(body.error).toHaveProperty('type');
    expect(body.error).toHaveProperty('param');
    expect(body.error).toHaveProperty('code');

    const wrong = new OpenAI({ baseURL: secured.baseURL, apiKey: 'sk-wrong', maxRetries: 0 });
    const error = await wrong.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((error as InstanceType<typeof OpenAI.AuthenticationError>).status).toBe(401);
    const wrongCompletion = await wrong.completions.create({ model, prompt: 'Hi', max_tokens: 2 }).catch((e: unknown) => e);
    expect(wrongCompletion).toBeInstanceOf(OpenAI.AuthenticationError);
    // A key that only shares a prefix with the right one is wrong too.
    const prefix = await fetch(`${secured.baseURL}/models`, { headers: { authorization: `Bearer ${key.slice(0, -1)}` } });
    expect(prefix.status).toBe(401);
  });

  it('serves the right key', async () => {
    const ok = new OpenAI({ baseURL: secured.baseURL, apiKey: key, maxRetries: 0 });
    expect((await ok.models.list()).data[0]!.id).toBe(model);
    const r = await ok.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 3, temperature: 0, ignore_eos: true } as ChatBody);
    expect(r.usage!.completion_tokens).toBe(3);
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const c of await ok.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 3, stream: true })) chunks.push(c);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBeTruthy();
  });

  it('leaves /health open', async () => {
    expect((await fetch(`${secured.origin}/health`)).status).toBe(200);
  });
});
