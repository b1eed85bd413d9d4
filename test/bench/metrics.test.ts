// The serving metrics computed from given per-request timings: every figure by vLLM's definition,
// worked out by hand here.
import { describe, expect, it } from 'vitest';

import { computeServeMetrics } from '../../lib/bench/metrics.js';
import type { RequestOutput } from '../../lib/bench/serve-client.js';

const ok = (ttft: number, itl: number[], outputTokens: number | null, promptLen = 10, text = ''): RequestOutput => ({
  success: true,
  ttft,
  itl,
  latency: ttft + itl.reduce((a, b) => a + b, 0),
  outputTokens,
  generatedText: text,
  promptLen,
  error: '',
});
const failed = (error: string): RequestOutput => ({ success: false, ttft: 0, itl: [], latency: 0, outputTokens: null, generatedText: '', promptLen: 10, error });

describe('serving metrics', () => {
  it('computes TTFT, TPOT, ITL, E2EL, throughputs and goodput as vLLM defines them', async () => {
    const outputs = [
      ok(0.1, [0.02, 0.02, 0.02], 4), // TPOT (0.16 - 0.1) / 3 = 0.02
      ok(0.2, [0.05], 5), // a chunk may carry several tokens: TPOT 0.05 / 4 = 0.0125; ITL 0.05
      ok(0.3, [], 1), // one token: no TPOT sample (goodput counts it as TPOT 0)
      ok(0.4, [0.1, 0.1], null, 10, 'a b c'), // no usage: the tokenizer counts 3 tokens, TPOT 0.2 / 2 = 0.1
      failed('HTTP 500: boom'),
    ];
    const { metrics: m, perRequest } = await computeServeMetrics({
      outputs,
      durationS: 2,
      countTokens: async (text) => text.split(' ').length,
      goodput: { ttft: 250, tpot: 50 },
      percentiles: [50, 99],
    });
    expect(m.completed).toBe(4);
    expect(m.failed).toBe(1);
    expect(m.total_input_tokens).toBe(40); // completed requests only
    expect(m.total_output_tokens).toBe(4 + 5 + 1 + 3);
    expect(m.request_throughput).toBe(2);
    expect(m.output_throughput).toBe(6.5);
    expect(m.total_token_throughput).toBe(26.5);
    // Good: the first two (TTFT <= 250 ms, TPOT <= 50 ms); the third misses TTFT, the fourth both.
    expect(m.request_goodput).toBe(1);

    expect(m.mean_ttft_ms).toBeCloseTo(250, 9);
    expect(m.median_ttft_ms).toBeCloseTo(250, 9);
    expect(m.p99_ttft_ms).toBeCloseTo(200 + 0.97 * 100 + 100, 9); // rank 2.97 of [100, 200, 300, 400]
    expect(m.mean_tpot_ms).toBeCloseTo((20 + 12.5 + 100) / 3, 9);
    expect(m.median_tpot_ms).toBeCloseTo(20, 9);
    expect(m.mean_itl_ms).toBeCloseTo((20 * 3 + 50 + 100 * 2) / 6, 9);
    expect(m.median_itl_ms).toBeCloseTo(35, 9); // [20, 20, 20, 50, 100, 100]
    expect(m.mean_e2el_ms).toBeCloseTo((160 + 250 + 300 + 600) / 4, 9);
    expect(m.p50_e2el_ms).toBeCloseTo(275, 9);
    expect(m.std_ttft_ms).toBeCloseTo(Math.sqrt(12500), 9);

    expect(perRequest.output_lens).toEqual([4, 5, 1, 3, 0]);
    expect(perRequest.input_lens).toEqual([10, 10, 10, 10, 10]);
    expect(perRequest.errors).toEqual(['', '', '', '', 'HTTP 500: boom']);
    expect(perRequest.itls[1]).toEqual([0.05]);
  });

  it('reports zeros, not NaN, when every request failed, and no goodput unless asked', async () => {
    const { metrics: m } = await computeServeMetrics({ outputs: [failed('x'), failed('y')], durationS: 1, countTokens: async () => 0, percentiles: [99] });
    expect(m.completed).toBe(0);
    expect(m.failed).toBe(2);
    expect(m.request_goodput).toBeNull();
    expect(m.mean_ttft_ms).toBe(0);
    expect(m.p99_itl_ms).toBe(0);
    expect(Object.values(m).every((v) => v === null || Number.isFinite(v))).toBe(true);
  });
});
