// The benchmarks against nodellm itself, on the embedded tiny model: `bench serve` against the real
// server (in this process) and `bench throughput` on the engine run to completion, and every token
// count agrees with the tokenizer and with the server's own counters. The CLI runs once per mode
// (as a child process) to check the wiring of the flags and the result files.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type ServeBenchOptions, benchServe } from '../../lib/bench/serve.js';
import { benchThroughput } from '../../lib/bench/throughput.js';
import type { LLM } from '../../lib/llm.js';
import { runCli } from '../helpers/child-worker.js';
import { type RunningServer, fetchMetrics, metricValue, startServer } from '../helpers/http-server.js';
import { useTempDirs } from '../helpers/temp-dirs.js';
import { loadTestLLM } from '../helpers/test-llm.js';

const tempDir = useTempDirs();
let llm: LLM;
let server: RunningServer;

beforeAll(async () => {
  llm = await loadTestLLM({ maxModelLen: 512 });
  server = await startServer(llm);
});
afterAll(async () => {
  await server.close();
  await llm.close();
});

const count = async (text: string, addSpecialTokens: boolean) => (await llm.tokenizer.encode(text, { addSpecialTokens })).length;
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const dataset = (numPrompts: number, input: number, output: number) => ({
  name: 'random' as const,
  numPrompts,
  seed: 0,
  randomInputLen: input,
  randomOutputLen: output,
  randomRangeRatio: 0,
  randomPrefixLen: 0,
});

async function serverTokens() {
  const text = await fetchMetrics(server.origin);
  const labels = { model_name: llm.modelName };
  return { prompt: metricValue(text, 'nodellm:prompt_tokens_total', labels) ?? 0, generated: metricValue(text, 'nodellm:generation_tokens_total', labels) ?? 0 };
}

function serveOptions(o: Partial<ServeBenchOptions>): ServeBenchOptions {
  return {
    baseUrl: server.origin,
    endpoint: '/v1/completions',
    tokenizer: llm.engine.model.dir,
    dataset: dataset(4, 16, 6),
    requestRate: Infinity,
    burstiness: 1,
    ignoreEos: true,
    numWarmups: 0,
    percentileMetrics: ['ttft', 'tpot', 'itl'],
    percentiles: [99],
    sampling: { temperature: 0 },
    metadata: {},
    progress: false,
    print: () => {},
    warn: () => {},
    ...o,
  };
}

describe('bench serve against nodellm serve', () => {
  it('completes every request, with token counts the tokenizer and the server agree on', async () => {
    for (const endpoint of ['/v1/completions', '/v1/chat/completions']) {
      const before = await serverTokens();
      const { requests, metrics: m, perRequest } = await benchServe(serveOptions({ endpoint }));
      const after = await serverTokens();
      expect([m.completed, m.failed]).toEqual([4, 0]);
      expect(perRequest.output_lens).toEqual([6, 6, 6, 6]);
      expect(m.total_output_tokens).toBe(24);
      expect(after.generated - before.generated).toBe(24);
      // Input tokens as vLLM counts them: the prompt text alone, built to exactly 16 tokens.
      for (const r of requests) expect(await count(r.prompt, false)).toBe(16);
      expect(m.total_input_tokens).toBe(64);
      if (endpoint === '/v1/completions') {
        // The server adds BOS to each completion prompt.
        const withSpecial = await Promise.all(requests.map((r) => count(r.prompt, true)));
        expect(after.prompt - before.prompt).toBe(sum(withSpecial));
      }
      expect(m.mean_ttft_ms).toBeGreaterThan(0);
      expect(m.mean_tpot_ms).toBeGreaterThan(0);
      expect(m.output_throughput).toBeCloseTo(24 / m.duration, 9);
    }
  });

  it("runs from the command line, with the embedded model's own tokenizer for a server on it (no warning)", async () => {
    const file = join(tempDir(), 'serve.json');
    const run = runCli(['bench', 'serve', '--base-url', server.origin, '--num-prompts', '3', '--random-input-len', '8', '--random-output-len', '4',
      '--ignore-eos', '--request-rate', '50', '--max-concurrency', '2', '--percentile-metrics', 'ttft,tpot,itl,e2el', '--metric-percentiles', '90,99',
      '--goodput', 'ttft:60000', '--result-file', file, '--save-detailed', '--metadata', 'device=cpu']);
    expect(await run.exited, run.output()).toBe(0);
    const stdout = run.lines.filter((l) => l.stream === 'stdout').map((l) => l.text).join('\n');
    expect(stdout).toMatch(/Successful requests: +3/);
    expect(stdout).toMatch(/P90 E2EL \(ms\):/);
    expect(run.lines.filter((l) => l.stream === 'stderr').map((l) => l.text).join('\n')).not.toMatch(/no local tokenizer/);
    const saved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, number | string>;
    expect(saved).toMatchObject({ completed: 3, failed: 0, total_input_tokens: 24, total_output_tokens: 12, model_id: llm.modelName, device: 'cpu', request_rate: 50, max_concurrency: 2 });
    expect(saved.output_lens).toEqual([4, 4, 4]);
    expect(saved.failed_requests).toEqual([]);
    expect(saved.request_goodput).toBeCloseTo(saved.request_throughput as number, 9);
    for (const key of ['p90_ttft_ms', 'p99_ttft_ms', 'p90_tpot_ms', 'p90_itl_ms', 'p99_e2el_ms']) expect(saved[key], key).toBeGreaterThan(0);
  });
});

describe('bench throughput and latency on the engine in this process', () => {
  it('generates exactly the asked tokens and counts what the engine processed', async () => {
    const { requests, figures } = await benchThroughput(llm, { dataset: dataset(5, 12, 7), metadata: {}, progress: false, engineOptions: {}, print: () => {}, warn: () => {} });
    expect(figures.num_requests).toBe(5);
    expect(figures.total_output_tokens).toBe(35);
    for (const r of requests) expect(await count(r.prompt, false)).toBe(12);
    // The engine tokenizes completion prompts with special tokens (BOS), as vLLM's LLM.generate.
    expect(figures.total_prompt_tokens).toBe(sum(await Promise.all(requests.map((r) => count(r.prompt, true)))));
    expect(figures.total_num_tokens).toBe(figures.total_prompt_tokens + 35);
    expect(figures.output_tokens_per_second).toBeCloseTo(35 / figures.elapsed_time, 9);
    expect(figures.requests_per_second).toBeCloseTo(5 / figures.elapsed_time, 9);
  });

  it('runs both from the command line and writes their result files', async () => {
    const dir = tempDir();
    const latency = runCli(['bench', 'latency', '--batch-size', '2', '--input-len', '8', '--output-len', '4', '--num-iters-warmup', '1', '--num-iters', '3',
      '--max-model-len', '256', '--output-json', join(dir, 'latency.json')]);
    expect(await latency.exited, latency.output()).toBe(0);
    expect(latency.output()).toMatch(/Avg latency \(s\): +\d/);
    const lat = JSON.parse(readFileSync(join(dir, 'latency.json'), 'utf8'));
    expect(lat.latencies).toHaveLength(3);
    expect(lat.avg_latency).toBeGreaterThan(0);
    expect(Object.keys(lat.percentiles)).toEqual(['10', '25', '50', '75', '90', '99']);
    expect(lat.avg_decode_time_per_token_ms).toBeGreaterThan(0);
    expect(lat.config).toMatchObject({ device: 'cpu', batch_size: 2, input_len: 8, output_len: 4, max_model_len: 256 });

    const throughput = runCli(['bench', 'throughput', '--num-prompts', '3', '--input-len', '8', '--output-len', '5', '--result-file', join(dir, 'throughput.json')]);
    expect(await throughput.exited, throughput.output()).toBe(0);
    const thr = JSON.parse(readFileSync(join(dir, 'throughput.json'), 'utf8'));
    // Prompts of 8 tokens, plus what the tokenizer adds to each (BOS).
    const added = (await count('x', true)) - (await count('x', false));
    expect(thr).toMatchObject({ num_requests: 3, total_output_tokens: 15, total_prompt_tokens: 3 * (8 + added) });
    expect(thr.config).toMatchObject({ device: 'cpu', dataset_name: 'random', random_input_len: 8 });
  });
});
