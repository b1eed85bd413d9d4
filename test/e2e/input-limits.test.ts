// Input cost bounded before work (issue 16): prompts, conversations and token lists larger than
// the engine takes are refused with a 400 naming the field before anything tokenizes, renders or
// validates them one by one; the tokenizer's memory does not grow across requests; and one
// request cannot queue more than --max-seqs-per-request sequences.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import type { LLM } from '../../lib/llm.js';
import { type OpenAIErrorBody, type RunningServer, fetchMetrics, metricValue, postJSON, startServer } from '../helpers/http-server.js';
import { loadTestLLM } from '../helpers/test-llm.js';

const MAX_MODEL_LEN = 512;
const MAX_PROMPT_CHARS = 16 * MAX_MODEL_LEN; // the default: 16 characters a token of max_model_len
const TEN_MB = 'x'.repeat(10 * 1024 * 1024);

let llm: LLM;
let server: RunningServer;

beforeAll(async () => {
  llm = await loadTestLLM({ maxModelLen: MAX_MODEL_LEN });
  server = await startServer(llm);
});
afterAll(async () => {
  await server?.close();
  await llm?.close();
});

async function expectError(r: Response, status: number, param: string | RegExp, message: RegExp): Promise<void> {
  const text = await r.text();
  expect(r.status, text).toBe(status);
  const { error } = JSON.parse(text) as OpenAIErrorBody;
  if (typeof param === 'string') expect(error.param).toBe(param);
  else expect(error.param ?? '').toMatch(param);
  expect(error.message).toMatch(message);
}

const rssMB = () => process.memoryUsage().rss / 2 ** 20;
/** Resident memory outside the JavaScript heap (whose size the garbage collector decides). */
const nativeMB = () => {
  const m = process.memoryUsage();
  return (m.rss - m.heapTotal) / 2 ** 20;
};

describe('input size, before any work', () => {
  it('a 10 MB prompt is refused (400 naming prompt) without tokenizing a character of it, on every route that takes one', async () => {
    const encode = vi.spyOn(llm.tokenizer, 'encode');
    try {
      const cap = new RegExp(`10485760 characters, more than the ${MAX_PROMPT_CHARS}`);
      await expectError(await postJSON(`${server.origin}/v1/completions`, { prompt: TEN_MB }), 400, 'prompt', cap);
      await expectError(await postJSON(`${server.origin}/v1/completions`, { prompt: ['hi', TEN_MB] }), 400, 'prompt[1]', cap);
      await expectError(await postJSON(`${server.origin}/v1/completions`, { prompt: TEN_MB, stream: true }), 400, 'prompt', cap);
      await expectError(await postJSON(`${server.origin}/tokenize`, { prompt: TEN_MB }), 400, 'prompt', cap);
      const messages = [{ role: 'user', content: TEN_MB }];
      await expectError(await postJSON(`${server.origin}/v1/chat/completions`, { messages }), 400, 'messages', /10485760 characters together/);
      await expectError(await postJSON(`${server.origin}/tokenize`, { messages }), 400, 'messages', /10485760 characters together/);
      expect(encode).not.toHaveBeenCalled();
    } finally {
      encode.mockRestore();
    }
  });

  it('message contents count summed, text parts included; the number of messages is bounded by max_model_len', async () => {
    const half = 'y'.repeat(MAX_PROMPT_CHARS / 2 + 1);
    const parts = [{ role: 'system', content: half }, { role: 'user', content: [{ type: 'text', text: half }] }];
    await expectError(await postJSON(`${server.origin}/v1/chat/completions`, { messages: parts }), 400, 'messages', /characters together/);
    const many = Array.from({ length: MAX_MODEL_LEN + 1 }, () => ({ role: 'user', content: '' }));
    await expectError(await postJSON(`${server.origin}/v1/chat/completions`, { messages: many }), 400, 'messages', /513 messages/);
  });

  it('token-id lists longer than max_model_len are refused before their ids are checked', async () => {
    const ids = Array.from({ length: 2_000_000 }, () => 1);
    const context = /2000000 token ids, but this model's maximum context length is 512/;
    await expectError(await postJSON(`${server.origin}/v1/completions`, { prompt: ids }), 400, 'prompt', context);
    await expectError(await postJSON(`${server.origin}/v1/completions`, { prompt: [[1, 2], ids] }), 400, 'prompt[1]', context);
    await expectError(await postJSON(`${server.origin}/detokenize`, { tokens: ids }), 400, 'tokens', context);
  });

  it('a prompt at the cap is taken (refused only for its tokens, as before), one past it is not', async () => {
    const r = await postJSON(`${server.origin}/tokenize`, { prompt: 'ab '.repeat(MAX_PROMPT_CHARS / 3).slice(0, MAX_PROMPT_CHARS) });
    expect(r.status).toBe(200);
    await expectError(await postJSON(`${server.origin}/tokenize`, { prompt: 'a'.repeat(MAX_PROMPT_CHARS + 1) }), 400, 'prompt', /characters/);
  });

  it('RSS grows less than 50 MB over 100 refused 10 MB prompts', async () => {
    const body = JSON.stringify({ prompt: TEN_MB });
    for (let i = 0; i < 5; i++) await (await postJSON(`${server.origin}/v1/completions`, body)).text();
    const before = rssMB();
    for (let i = 0; i < 100; i++) {
      const r = await postJSON(`${server.origin}/v1/completions`, body);
      expect(r.status).toBe(400);
      await r.text();
    }
    expect(rssMB() - before).toBeLessThan(50);
  });

  it("the tokenizer's memory does not grow over 1,000 maximum-size valid prompts", async () => {
    // Prompts at the character cap, each different (no cache can help), through /tokenize.
    const prompt = (i: number) => `${i} `.padEnd(MAX_PROMPT_CHARS, ` word${i % 97} and more`).slice(0, MAX_PROMPT_CHARS);
    const send = async (i: number) => {
      const r = await postJSON(`${server.origin}/tokenize`, { prompt: prompt(i) });
      expect(r.status).toBe(200);
      return ((await r.json()) as { count: number }).count;
    };
    // Warm up first: the allocator's per-thread arenas and the tokenizer's word cache fill once.
    for (let i = 0; i < 500; i++) await send(i);
    const before = nativeMB();
    for (let i = 500; i < 1500; i++) await send(i);
    // Memory outside the JavaScript heap (the tokenizer's) stays flat; measured: +1 to +6 MB.
    expect(nativeMB() - before).toBeLessThan(20);
  });

  it('metrics count the refusals', async () => {
    const metrics = await fetchMetrics(server.origin);
    expect(metricValue(metrics, 'nodellm:request_refused_total', { reason: 'input_too_large' })).toBeGreaterThanOrEqual(100);
  });
});

describe('sequences per request', () => {
  it('200 prompts x n=128 is refused in one 400 naming n, before any prompt is tokenized', async () => {
    const encode = vi.spyOn(llm.tokenizer, 'encode');
    try {
      const prompt = Array.from({ length: 200 }, (_, i) => `prompt ${i}`);
      const r = await postJSON(`${server.origin}/v1/completions`, { prompt, n: 128, max_tokens: 1 });
      await expectError(r, 400, 'n', /200 prompts x n=128 = 25600 sequences, more than the 256/);
      expect(encode).not.toHaveBeenCalled();
    } finally {
      encode.mockRestore();
    }
    const metrics = await fetchMetrics(server.origin);
    expect(metricValue(metrics, 'nodellm:request_refused_total', { reason: 'too_many_sequences' })).toBe(1);
  });

  it('exactly the bound is taken', async () => {
    const prompt = Array.from({ length: 2 }, (_, i) => `prompt ${i}`);
    const r = await postJSON(`${server.origin}/v1/completions`, { prompt, n: 128, max_tokens: 1 });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { choices: unknown[] }).choices).toHaveLength(256);
  });

  it('nothing is left behind', () => {
    const s = llm.stats();
    expect([s.numRunning, s.numWaiting, s.numFreeBlocks]).toEqual([0, 0, s.numBlocks]);
    expect(llm.engine.admission.reservedSequences).toBe(0);
  });
});
