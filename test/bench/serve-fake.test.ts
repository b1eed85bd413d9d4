// `bench serve` against a fake OpenAI server with scripted delays: TTFT, TPOT, ITL, E2EL and their
// percentiles come out as constructed, failures of every kind are counted (never dropped), and
// the request bodies ask for what vLLM's client asks for.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { type ServeBenchOptions, benchServe } from '../../lib/bench/serve.js';
import { mean, median } from '../../lib/bench/stats.js';
import { ensureDefaultModel } from '../../lib/models/default-model.js';
import { Tokenizer } from '../../lib/tokenizer/tokenizer.js';
import { type FakeOpenAI, type Script, startFakeOpenAI } from '../helpers/fake-openai.js';
import { useTempDirs } from '../helpers/temp-dirs.js';

const tempDir = useTempDirs();
const WORDS = [' hello', ' world', ' again', ' and', ' more'];
let tokenizerDir: string;
/** Tokens of WORDS' text, as the tokenizer counts a reply that came without usage. */
let wordsTokens: number;
let fake: FakeOpenAI | null = null;

beforeAll(async () => {
  tokenizerDir = await ensureDefaultModel();
  const tokenizer = await Tokenizer.load(tokenizerDir);
  wordsTokens = (await tokenizer.encode(WORDS.join(''), { addSpecialTokens: false })).length;
});
afterEach(async () => {
  await fake?.close();
  fake = null;
});

function options(origin: string, o: Partial<ServeBenchOptions> = {}): ServeBenchOptions & { printed: string[]; warnings: string[] } {
  const printed: string[] = [];
  const warnings: string[] = [];
  return {
    baseUrl: origin,
    endpoint: '/v1/completions',
    tokenizer: tokenizerDir,
    dataset: { name: 'random', numPrompts: 1, seed: 0, randomInputLen: 8, randomOutputLen: 5, randomRangeRatio: 0, randomPrefixLen: 0 },
    requestRate: Infinity,
    burstiness: 1,
    ignoreEos: false,
    numWarmups: 0,
    percentileMetrics: ['ttft', 'tpot', 'itl', 'e2el'],
    percentiles: [50, 99],
    sampling: { temperature: 0 },
    metadata: {},
    progress: false,
    print: (t) => printed.push(t),
    warn: (l) => warnings.push(l),
    printed,
    warnings,
    ...o,
  };
}

// Timers fire late, never early, and the client's clock starts before the server sees the
// request, so a figure is its scripted value plus a little (a few ms here; more on a busy 2-core
// CI machine): allow 25 ms over, 3 under. Scripted values are 50 ms apart or more.
const near = (actual: number, expected: number) => {
  expect(actual).toBeGreaterThanOrEqual(expected - 3);
  expect(actual).toBeLessThanOrEqual(expected + 25);
};


describe('bench serve on scripted responses', () => {
  it('measures TTFT, TPOT, ITL and E2EL as constructed, and counts failures', async () => {
    // One at a time, so each request meets its own script and no timer waits on another's.
    const scripts: Script[] = [
      { chunks: ['warm'] }, // --num-warmups 1: opens the connection and warms the code paths, not counted
      { ttftMs: 100, chunks: WORDS, gapMs: 50 },
      { status: 500 },
      { ttftMs: 200, chunks: WORDS, gapMs: 50, usage: 9 }, // chunks of several tokens: TPOT 200 / 8
      { ttftMs: 0, chunks: WORDS, gapMs: 10, errorAfter: 2 },
      { ttftMs: 300, chunks: WORDS, gapMs: 50, usage: null }, // no usage: the tokenizer counts the text
      { ttftMs: 0, chunks: WORDS, gapMs: 10, cutAfter: 2 },
      { ttftMs: 400, chunks: WORDS, gapMs: 50 },
    ];
    fake = await startFakeOpenAI(scripts);
    const resultFile = join(tempDir(), 'out', 'serve.json');
    const o = options(fake.origin, {
      maxConcurrency: 1,
      numWarmups: 1,
      ignoreEos: true,
      goodput: { ttft: 250, tpot: 60 },
      resultFile,
      metadata: { device: 'fake' },
      dataset: { name: 'random', numPrompts: 7, seed: 0, randomInputLen: 8, randomOutputLen: 5, randomRangeRatio: 0, randomPrefixLen: 0 },
    });
    const { metrics: m, perRequest } = await benchServe(o);

    expect(m.completed).toBe(4);
    expect(m.failed).toBe(3);
    expect(perRequest.errors[1]).toBe('HTTP 500: scripted failure 500');
    expect(perRequest.errors[3]).toBe('scripted error mid-stream');
    expect(perRequest.errors[5]).not.toBe('');
    expect(perRequest.output_lens).toEqual([5, 0, 9, 0, wordsTokens, 0, 5]);
    expect(m.total_output_tokens).toBe(19 + wordsTokens);
    expect(m.total_input_tokens).toBe(4 * 8);
    expect(o.warnings.join('\n')).toMatch(/3 of 7 requests failed/);

    // TTFT of the completed ones: 100, 200, 300, 400 ms.
    near(m.mean_ttft_ms!, 250);
    near(m.median_ttft_ms!, 250);
    near(m.p99_ttft_ms!, 300 + 0.97 * 100);
    near(m.p50_ttft_ms!, 250);
    // TPOT: 200 ms of gaps after the first chunk over the tokens after the first: 4 for those
    // reporting 5, 8 for the one reporting 9, and what the tokenizer counts for the one without usage.
    const tpots = [50, 25, 200 / (wordsTokens - 1), 50];
    near(m.median_tpot_ms!, median(tpots));
    near(m.mean_tpot_ms!, mean(tpots));
    // ITL: every gap between chunks, 4 per completed request (and none from the failed ones).
    expect(perRequest.itls.filter((_, i) => [0, 2, 4, 6].includes(i)).every((l) => l.length === 4)).toBe(true);
    near(m.mean_itl_ms!, 50);
    near(m.median_itl_ms!, 50);
    // E2EL: TTFT + 200 ms of gaps.
    near(m.mean_e2el_ms!, 450);
    near(m.p99_e2el_ms!, 500 + 0.97 * 100);
    // Goodput: TTFT <= 250 ms and TPOT <= 60 ms holds for the first two completed requests only.
    expect(m.request_goodput! * m.duration).toBeCloseTo(2, 9);
    expect(m.request_throughput * m.duration).toBeCloseTo(4, 9);
    expect(m.duration).toBeGreaterThan((100 + 200 + 300 + 400 + 4 * 200) / 1000);

    // What vLLM's client sends: streaming with usage, max_tokens, ignore_eos, greedy.
    for (const body of fake.bodies.slice(1)) {
      expect(body).toMatchObject({ model: 'fake-model', stream: true, stream_options: { include_usage: true }, max_tokens: 5, ignore_eos: true, temperature: 0 });
    }
    const table = o.printed.join('');
    expect(table).toMatch(/Successful requests: +4\n/);
    expect(table).toMatch(/Failed requests: +3\n/);
    expect(table).toMatch(/P99 TTFT \(ms\): +[34][0-9][0-9]\.[0-9]{2}\n/);

    const saved = JSON.parse(readFileSync(resultFile, 'utf8')) as Record<string, unknown>;
    for (const key of ['completed', 'failed', 'total_input_tokens', 'total_output_tokens', 'request_throughput', 'output_throughput', 'total_token_throughput', 'mean_ttft_ms', 'median_ttft_ms', 'p99_ttft_ms', 'mean_tpot_ms', 'median_tpot_ms', 'p99_tpot_ms', 'mean_itl_ms', 'median_itl_ms', 'p99_itl_ms', 'mean_e2el_ms', 'median_e2el_ms', 'p99_e2el_ms']) {
      expect(saved[key], key).toBe(m[key]);
    }
    expect(saved.failed_requests).toEqual([
      { index: 1, error: 'HTTP 500: scripted failure 500' },
      { index: 3, error: 'scripted error mid-stream' },
      { index: 5, error: perRequest.errors[5] },
    ]);
    expect(saved.output_lens).toBeUndefined(); // per-request lists only with --save-detailed
    expect(saved).toMatchObject({ model_id: 'fake-model', backend: 'openai', num_prompts: 7, max_concurrency: 1, device: 'fake', request_rate: 'inf' });
    expect(saved.config).toMatchObject({ endpoint: '/v1/completions', dataset_name: 'random', random_input_len: 8, ignore_eos: true, device: 'fake' });
    expect((saved.versions as { nodellm: string }).nodellm).toMatch(/^\d+\.\d+\.\d+/);
    expect(saved.date).toMatch(/^\d{8}-\d{6}$/);
  });

  it('times chat streams from the first chunk with a choice, and counts their text', async () => {
    fake = await startFakeOpenAI([{ ttftMs: 50, chunks: WORDS, gapMs: 20, usage: null }]);
    const o = options(fake.origin, { endpoint: '/v1/chat/completions' });
    const { metrics: m, perRequest } = await benchServe(o);
    expect(m.completed).toBe(1);
    expect(perRequest.generated_texts[0]).toBe(WORDS.join(''));
    expect(perRequest.output_lens[0]).toBe(wordsTokens); // no usage: the tokenizer counts the text
    near(m.mean_ttft_ms!, 50);
    // The role chunk and the first text arrive together: the first gap is ~0, then 20 ms each.
    expect(perRequest.itls[0]).toHaveLength(5);
    near(m.mean_tpot_ms!, 80 / (wordsTokens - 1));
    expect(fake.bodies[0]).toMatchObject({ messages: [{ role: 'user' }], max_completion_tokens: 5, stream: true });
  });

  it('spreads arrivals over num-prompts / request-rate seconds', async () => {
    fake = await startFakeOpenAI(Array.from({ length: 5 }, () => ({ chunks: ['a'] })));
    const o = options(fake.origin, {
      requestRate: 20,
      dataset: { name: 'random', numPrompts: 5, seed: 3, randomInputLen: 4, randomOutputLen: 1, randomRangeRatio: 0, randomPrefixLen: 0 },
    });
    const { metrics: m } = await benchServe(o);
    expect(m.completed).toBe(5);
    expect(m.duration).toBeGreaterThanOrEqual(5 / 20);
    expect(m.duration).toBeLessThan(5 / 20 + 0.2);
  });

  it('asks /v1/models for the model, warns about the fallback tokenizer, and fails every request on a dead server', async () => {
    fake = await startFakeOpenAI([{ status: 404 }, { status: 429 }]);
    const o = options(fake.origin, { tokenizer: undefined, dataset: { name: 'random', numPrompts: 2, seed: 0, randomInputLen: 4, randomOutputLen: 2, randomRangeRatio: 0, randomPrefixLen: 0 } });
    delete o.tokenizer;
    const { metrics: m, result } = await benchServe(o);
    expect(result.model_id).toBe('fake-model');
    expect(o.warnings[0]).toMatch(/embedded default model's/);
    expect(m.completed).toBe(0);
    expect(m.failed).toBe(2);
    expect(o.warnings.join('\n')).toMatch(/every request failed; the first error: HTTP 404/);
    await fake.close();
    const dead = fake.origin;
    fake = null;
    const again = options(dead, { model: 'm', dataset: { name: 'random', numPrompts: 2, seed: 0, randomInputLen: 4, randomOutputLen: 2, randomRangeRatio: 0, randomPrefixLen: 0 } });
    const { metrics: down, perRequest } = await benchServe(again);
    expect([down.completed, down.failed]).toEqual([0, 2]);
    expect(perRequest.errors[0]).toMatch(/fetch failed/);
  });
});
