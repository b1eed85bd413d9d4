// The OpenAI passthrough ({"openai_route", "openai_input"}) through the real job loop: streamed
// jobs give raw SSE strings grouped 1, 3, 9, ... (RAW_OPENAI_OUTPUT=1) or lists of chunk
// objects (0); non-streamed ones give the response object; /v1/models lists the model.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { LLM } from '../../lib/llm.js';
import { FakeRunpod } from '../helpers/fake-runpod.js';
import { parseSSE } from '../helpers/http-server.js';
import { startTestWorker } from '../helpers/runpod-worker.js';
import { loadTestLLM } from '../helpers/test-llm.js';

const API_KEY = 'rp-key-openai-0123456789';
let llm: LLM;

beforeAll(async () => {
  // Below the default model's 512, so /v1/models shows the engine's setting, not the config's.
  llm = await loadTestLLM({ maxModelLen: 384 });
});
afterAll(async () => {
  await llm.close();
});

async function run(input: unknown, env: Record<string, string> = {}) {
  const fake = await FakeRunpod.start({ apiKey: API_KEY });
  const worker = startTestWorker(llm, fake, env);
  const id = fake.addJob(input);
  await fake.waitForResults([id]);
  expect(await worker.stop()).toBe(0);
  await fake.close();
  const results = fake.results.get(id)!;
  expect(results).toHaveLength(1);
  const streamed = (fake.streams.get(id) ?? []).map((b) => (b as { output: unknown }).output);
  return { result: results[0] as { output?: unknown[]; error?: string }, streamed };
}

interface ChatChunk {
  object: string;
  model: string;
  choices: { index: number; delta: { role?: string; content?: string }; finish_reason: string | null }[];
  usage?: { completion_tokens: number };
}

describe('chat completions', () => {
  const messages = [{ role: 'user', content: 'Tell me a story' }];
  const params = { max_tokens: 60, temperature: 0, ignore_eos: true };
  const body = { messages, ...params };

  it('streamed, RAW_OPENAI_OUTPUT=1 (default): SSE strings of 1, 3, 9, 27 ... events, [DONE] in the last', async () => {
    const { result, streamed } = await run({ openai_route: '/v1/chat/completions', openai_input: { ...body, stream: true } });
    expect(result.output).toEqual(streamed);
    const items = streamed as string[];
    for (const item of items) expect(typeof item).toBe('string');
    const events = items.map((s) => parseSSE<ChatChunk>(s));
    // role chunk + 60 content chunks (the last with the finish reason) + [DONE] = 62 events
    expect(events.map((e) => e.raw.length)).toEqual([1, 3, 9, 27, 22]);
    expect(events.at(-1)!.raw.at(-1)).toBe('[DONE]');
    expect(events.slice(0, -1).every((e) => !e.raw.includes('[DONE]'))).toBe(true);
    const chunks = events.flatMap((e) => e.events);
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === llm.modelName)).toBe(true);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('length');
    const direct = await llm.chat(messages, params);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(direct.outputs[0]!.text);
  });

  it('streamed, RAW_OPENAI_OUTPUT=0: lists of chunk objects without [DONE]', async () => {
    const { result } = await run({ openai_route: '/v1/chat/completions', openai_input: { ...body, stream: true } }, { RAW_OPENAI_OUTPUT: '0' });
    const items = result.output as ChatChunk[][];
    expect(items.map((i) => i.length)).toEqual([1, 3, 9, 27, 21]);
    expect(items.flat().every((c) => c.object === 'chat.completion.chunk')).toBe(true);
  });

  it('not streamed: the chat.completion object, once', async () => {
    const { result } = await run({ openai_route: '/v1/chat/completions', openai_input: body });
    const [completion] = result.output as { object: string; choices: { message: { role: string; content: string }; finish_reason: string }[]; usage: { completion_tokens: number } }[];
    expect(result.output).toHaveLength(1);
    expect(completion!.object).toBe('chat.completion');
    expect(completion!.choices[0]!.finish_reason).toBe('length');
    expect(completion!.usage.completion_tokens).toBe(60);
    const direct = await llm.chat(messages, params);
    expect(completion!.choices[0]!.message).toEqual({ role: 'assistant', content: direct.outputs[0]!.text });
  });

  it('OPENAI_RESPONSE_ROLE and ENABLE_FORCE_INCLUDE_USAGE apply', async () => {
    const env = { OPENAI_RESPONSE_ROLE: 'narrator', ENABLE_FORCE_INCLUDE_USAGE: 'true', RAW_OPENAI_OUTPUT: '0' };
    const { result } = await run({ openai_route: '/v1/chat/completions', openai_input: { ...body, max_tokens: 3, stream: true } }, env);
    const chunks = (result.output as ChatChunk[][]).flat();
    expect(chunks[0]!.choices[0]!.delta.role).toBe('narrator');
    expect(chunks.at(-1)!.usage?.completion_tokens).toBe(3);
  });
});

describe('completions and models', () => {
  it('completions, streamed and not', async () => {
    const body = { prompt: 'Once upon a time', max_tokens: 5, temperature: 0, ignore_eos: true };
    const whole = await run({ openai_route: '/v1/completions', openai_input: body });
    const completion = (whole.result.output as { object: string; choices: { text: string }[] }[])[0]!;
    expect(completion.object).toBe('text_completion');
    const streamed = await run({ openai_route: '/v1/completions', openai_input: { ...body, stream: true } });
    const events = (streamed.result.output as string[]).map((s) => parseSSE<{ choices: { text: string }[] }>(s));
    expect(events.map((e) => e.raw.length)).toEqual([1, 3, 2]); // 5 chunks + [DONE]
    expect(events.flatMap((e) => e.events).map((c) => c.choices[0]!.text).join('')).toBe(completion.choices[0]!.text);
  });

  it('/v1/models lists the served model (openai_input may be absent)', async () => {
    const { result } = await run({ openai_route: '/v1/models' });
    const list = result.output![0] as { object: string; data: { id: string; object: string; max_model_len: number }[] };
    expect(list.object).toBe('list');
    expect(list.data.map((m) => [m.id, m.object, m.max_model_len])).toEqual([[llm.modelName, 'model', 384]]);
  });
});
