// The server under load: 64 concurrent streaming clients each get the complete, correctly ordered
// stream that the same request gives alone through the library; 100 clients that hang up
// mid-stream leave no sequence running and no KV-cache block in use, and are counted as aborts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ChatMessage } from '../../lib/chat/template.js';
import type { LLM } from '../../lib/llm.js';
import { writeRandomLlamaModel } from '../../lib/models/random-model.js';
import { type RunningServer, fetchMetrics, metricValue, parseSSE, postJSON } from '../helpers/http-server.js';
import { startServer } from '../helpers/http-server.js';
import { useTempDirs } from '../helpers/temp-dirs.js';
import { loadTestLLM, sleep } from '../helpers/test-llm.js';

let llm: LLM;
let server: RunningServer;
let labels: { model_name: string };

const tempDir = useTempDirs();

beforeAll(async () => {
  // A random model with Llama 3's 128,256-token vocabulary rather than the small trained default:
  // each token then costs a softmax over 128K logits, so the disconnect tests' requests are still
  // running when their clients hang up, even on a fast machine.
  const dir = tempDir();
  writeRandomLlamaModel(dir, { seed: 11 });
  llm = await loadTestLLM({ model: dir, maxModelLen: 512 });
  server = await startServer(llm);
  labels = { model_name: llm.modelName };
});
afterAll(async () => {
  await server?.close();
  await llm?.close();
});

interface ClientSpec {
  kind: 'chat' | 'completion';
  prompt: string;
  params: { max_tokens: number; temperature: number; seed?: number; ignore_eos: boolean };
}

/** 64 different requests: chat and completions, lengths 6..45, greedy or seeded, mostly ignore_eos. */
function specs(count: number): ClientSpec[] {
  return Array.from({ length: count }, (_, i) => {
    const greedy = i % 3 === 0;
    return {
      kind: i % 2 === 0 ? 'completion' : 'chat',
      prompt: `Client ${i} says:${' more words'.repeat(i % 11)}`,
      params: {
        max_tokens: 6 + ((i * 13) % 40),
        temperature: greedy ? 0 : 0.8 + (i % 5) * 0.1,
        ...(!greedy && { seed: 1000 + i }),
        ignore_eos: i % 8 !== 5,
      },
    };
  });
}

interface Reference {
  text: string;
  tokens: number;
  finishReason: string | null;
  promptTokens: number;
}

/** The same request alone, through the library. */
async function reference(spec: ClientSpec): Promise<Reference> {
  if (spec.kind === 'chat') {
    const messages: ChatMessage[] = [{ role: 'user', content: spec.prompt }];
    const r = await llm.chat(messages, spec.params);
    const o = r.outputs[0]!;
    return { text: o.text, tokens: o.tokenIds.length, finishReason: o.finishReason, promptTokens: (await llm.chatPromptIds(messages)).length };
  }
  const r = await llm.generate(spec.prompt, spec.params);
  const o = r.outputs[0]!;
  return { text: o.text, tokens: o.tokenIds.length, finishReason: o.finishReason, promptTokens: r.promptTokenIds.length };
}

function requestOf(spec: ClientSpec): { url: string; body: Record<string, unknown> } {
  const common = { model: llm.modelName, stream: true, stream_options: { include_usage: true }, ...spec.params };
  return spec.kind === 'chat'
    ? { url: `${server.baseURL}/chat/completions`, body: { ...common, messages: [{ role: 'user', content: spec.prompt }] } }
    : { url: `${server.baseURL}/completions`, body: { ...common, prompt: spec.prompt } };
}

interface StreamChunk {
  id: string;
  object: string;
  choices: { index: number; text?: string; delta?: { role?: string; content?: string }; finish_reason: string | null }[];
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
}

/** Streams one request to its end and checks the stream's form; returns what it carried. */
async function streamOne(spec: ClientSpec) {
  const { url, body } = requestOf(spec);
  const r = await postJSON(url, body);
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const { events, done } = parseSSE<StreamChunk>(await r.text());
  expect(done, 'the stream ends with data: [DONE]').toBe(true);
  const object = spec.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
  let text = '';
  const finishes: string[] = [];
  let finishedAt = -1;
  events.forEach((e, k) => {
    expect(e.object).toBe(object);
    expect(e.id).toBe(events[0]!.id);
    for (const c of e.choices) {
      expect(c.index).toBe(0);
      expect(finishedAt, 'no content after the finish reason').toBe(-1);
      text += spec.kind === 'chat' ? (c.delta?.content ?? '') : (c.text ?? '');
      if (c.finish_reason) {
        finishes.push(c.finish_reason);
        finishedAt = k;
      }
    }
  });
  if (spec.kind === 'chat') expect(events[0]!.choices[0]!.delta?.role).toBe('assistant');
  const last = events.at(-1)!;
  expect(last.choices).toEqual([]);
  expect(finishes).toHaveLength(1);
  // The usage chunk is the only thing after the finish reason.
  expect(finishedAt).toBe(events.length - 2);
  return { text, finishReason: finishes[0]!, usage: last.usage! };
}

async function metricsNow() {
  const text = await fetchMetrics(server.origin);
  const get = (name: string, extra: Record<string, string> = {}) => metricValue(text, name, { ...labels, ...extra }) ?? NaN;
  return {
    running: get('nodellm:num_requests_running'),
    waiting: get('nodellm:num_requests_waiting'),
    kv: get('nodellm:kv_cache_usage_perc'),
    aborts: get('nodellm:request_success_total', { finished_reason: 'abort' }),
    lengths: get('nodellm:request_success_total', { finished_reason: 'length' }),
    stops: get('nodellm:request_success_total', { finished_reason: 'stop' }),
  };
}

/** Polls /metrics until nothing runs, waits or holds KV blocks (or the time is up). */
async function settled(timeoutMs = 10_000) {
  const until = Date.now() + timeoutMs;
  let m = await metricsNow();
  while ((m.running !== 0 || m.waiting !== 0 || m.kv !== 0) && Date.now() < until) {
    await sleep(50);
    m = await metricsNow();
  }
  return m;
}

describe('64 concurrent streaming clients', () => {
  it('each gets the complete stream the same request gives alone', async () => {
    const all = specs(64);
    // References first, one request at a time.
    const expected: Reference[] = [];
    for (const spec of all) expected.push(await reference(spec));
    const before = await metricsNow();

    const t0 = performance.now();
    const results = await Promise.all(all.map((spec) => streamOne(spec)));
    const elapsed = performance.now() - t0;

    results.forEach((got, i) => {
      const want = expected[i]!;
      expect(got.text, `client ${i} (${all[i]!.kind})`).toBe(want.text);
      expect(got.finishReason, `client ${i}`).toBe(want.finishReason);
      expect(got.usage, `client ${i}`).toEqual({
        prompt_tokens: want.promptTokens,
        completion_tokens: want.tokens,
        total_tokens: want.promptTokens + want.tokens,
      });
    });
    const after = await settled();
    expect(after.running).toBe(0);
    expect(after.kv).toBe(0);
    const finished = after.lengths - before.lengths + (after.stops - before.stops);
    expect(finished).toBe(64);
    expect(after.aborts - before.aborts).toBe(0);
    // Not a benchmark; a guard against the batch serialising (64 requests, ~1,700 tokens).
    expect(elapsed).toBeLessThan(30_000);
  });
});

describe('100 clients that disconnect mid-stream', () => {
  /** Opens a stream, reads `chunks` SSE events, then hangs up. Returns the events read. */
  async function hangUpAfter(spec: ClientSpec, chunks: number): Promise<number> {
    const { url, body } = requestOf(spec);
    const controller = new AbortController();
    const r = await postJSON(url, body, { signal: controller.signal });
    expect(r.status).toBe(200);
    const reader = r.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let events = 0;
    while (events < chunks) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the stream ended before the client hung up');
      buffer += decoder.decode(value, { stream: true });
      events = buffer.split('\n\n').length - 1;
    }
    expect(buffer).not.toContain('[DONE]');
    controller.abort();
    await reader.cancel().catch(() => undefined);
    return events;
  }

  it('free every sequence and KV block, count 100 aborts, and do not disturb other clients', async () => {
    const before = await settled();
    expect(before.running).toBe(0);
    expect(before.kv).toBe(0);

    const leaving: ClientSpec[] = Array.from({ length: 100 }, (_, i) => ({
      kind: i % 2 === 0 ? 'completion' : 'chat',
      prompt: `Leaving client ${i}${' again'.repeat(i % 7)}`,
      // Long enough that none can finish before its client hangs up.
      params: { max_tokens: 400, temperature: 1, seed: i, ignore_eos: true },
    }));
    // Clients that stay, streaming alongside the ones that leave.
    const staying: ClientSpec[] = Array.from({ length: 4 }, (_, i) => ({
      kind: i % 2 === 0 ? 'chat' : 'completion',
      prompt: `Staying client ${i}`,
      params: { max_tokens: 30, temperature: i % 2 === 0 ? 0 : 1, ...(i % 2 === 1 && { seed: 7 + i }), ignore_eos: true },
    }));
    const expected = await Promise.all(staying.map((s) => reference(s)));
    const afterReferences = await settled();

    // Sample the gauges while the clients are connected: they must show the work (else the
    // zeros checked afterwards would prove nothing).
    let peakRunning = 0;
    let peakKv = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const m = await metricsNow();
        peakRunning = Math.max(peakRunning, m.running);
        peakKv = Math.max(peakKv, m.kv);
        await sleep(20);
      }
    })();
    const [read, stayed] = await Promise.all([
      Promise.all(leaving.map((spec, i) => hangUpAfter(spec, 2 + (i % 4)))),
      Promise.all(staying.map((spec) => streamOne(spec))),
    ]);
    sampling = false;
    await sampler;
    expect(peakRunning).toBeGreaterThan(0);
    expect(peakKv).toBeGreaterThan(0);
    for (const n of read) expect(n).toBeGreaterThanOrEqual(2);
    stayed.forEach((got, i) => {
      expect(got.text, `staying client ${i}`).toBe(expected[i]!.text);
      expect(got.usage.completion_tokens).toBe(30);
    });

    const after = await settled();
    expect(after.running).toBe(0);
    expect(after.waiting).toBe(0);
    expect(after.kv).toBe(0);
    expect(llm.stats().numRunning).toBe(0);
    expect(after.aborts - afterReferences.aborts).toBe(100);

    // And the server still serves a full stream.
    const again = await streamOne(staying[0]!);
    expect(again.text).toBe(expected[0]!.text);
  });

  it('non-streaming clients that disconnect are aborted too', async () => {
    const before = await settled();
    const clients = Array.from({ length: 10 }, async (_, i) => {
      const controller = new AbortController();
      const { url, body } = requestOf({
        kind: i % 2 === 0 ? 'completion' : 'chat',
        prompt: `Impatient client ${i}`,
        params: { max_tokens: 450, temperature: 1, seed: i, ignore_eos: true },
      });
      const pending = postJSON(url, { ...body, stream: false, stream_options: undefined }, { signal: controller.signal });
      // Wait until all ten requests are running, then hang up.
      const until = Date.now() + 5000;
      while ((await metricsNow()).running < 10 && Date.now() < until) await sleep(10);
      controller.abort();
      return pending.then(
        () => 'answered',
        (e: Error) => e.name,
      );
    });
    expect(await Promise.all(clients)).toEqual(Array(10).fill('AbortError'));
    const after = await settled();
    expect(after.running).toBe(0);
    expect(after.kv).toBe(0);
    expect(after.aborts - before.aborts).toBe(10);
  });
});
