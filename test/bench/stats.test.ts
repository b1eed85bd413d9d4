// The statistics, parsers and arrival schedule of the benchmarks, against values worked out by
// hand (numpy gives the same: np.percentile, np.std with ddof=0).
import { describe, expect, it } from 'vitest';

import { Semaphore, arrivalOffsets } from '../../lib/bench/arrivals.js';
import { parseGoodput, parsePercentileMetrics, parsePercentiles } from '../../lib/bench/metrics.js';
import { Rng } from '../../lib/bench/rng.js';
import { mean, median, percentile, std } from '../../lib/bench/stats.js';

describe('statistics with numpy conventions', () => {
  it('interpolates percentiles linearly between ranks', () => {
    expect(percentile([4, 1, 3, 2], 99)).toBeCloseTo(3.97, 12); // rank 2.97
    expect(percentile([15, 20, 35, 40, 50], 40)).toBeCloseTo(29, 12); // rank 1.6: 20 + 0.6 * 15
    expect(percentile([7], 90)).toBe(7);
    expect(percentile([1, 2], 0)).toBe(1);
    expect(percentile([1, 2], 100)).toBe(2);
  });

  it('takes the median, mean and population std', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(mean([1, 2, 3, 4])).toBe(2.5);
    expect(std([2, 4, 4, 4, 5, 5, 7, 9])).toBe(2);
  });

  it('gives 0 for an empty list, as vLLM does', () => {
    expect([mean([]), median([]), std([]), percentile([], 99)]).toEqual([0, 0, 0, 0]);
  });
});

describe('flag parsers', () => {
  it('parses --goodput SLOs in milliseconds', () => {
    expect(parseGoodput(['ttft:500', 'tpot:50'])).toEqual({ ttft: 500, tpot: 50 });
    expect(parseGoodput(['e2el:1500.5'])).toEqual({ e2el: 1500.5 });
    expect(() => parseGoodput(['itl:5'])).toThrow(/ttft, tpot, e2el/);
    expect(() => parseGoodput(['ttft'])).toThrow(/NAME:MILLISECONDS/);
    expect(() => parseGoodput(['ttft:-1'])).toThrow(/non-negative/);
  });

  it('parses --percentile-metrics and --metric-percentiles', () => {
    expect(parsePercentileMetrics('ttft,tpot,itl,e2el')).toEqual(['ttft', 'tpot', 'itl', 'e2el']);
    expect(() => parsePercentileMetrics('ttft,foo')).toThrow(/unknown metric "foo"/);
    expect(parsePercentiles('50,90,99.9')).toEqual([50, 90, 99.9]);
    expect(() => parsePercentiles('101')).toThrow(/\[0, 100\]/);
  });
});

describe('arrival schedule', () => {
  it('sends everything at once when the rate is inf', () => {
    expect(arrivalOffsets(4, Infinity, 1, new Rng(0))).toEqual([0, 0, 0, 0]);
  });

  it('spreads N requests over N / rate seconds, the same for the same seed', () => {
    const a = arrivalOffsets(50, 10, 1, new Rng(3));
    expect(a.at(-1)).toBeCloseTo(5, 9);
    for (let i = 1; i < a.length; i++) expect(a[i]!).toBeGreaterThanOrEqual(a[i - 1]!);
    expect(arrivalOffsets(50, 10, 1, new Rng(3))).toEqual(a);
    expect(arrivalOffsets(50, 10, 1, new Rng(4))).not.toEqual(a);
  });

  it('draws gamma gaps with the asked mean and shape (burstiness)', () => {
    const rng = new Rng(11);
    for (const shape of [0.5, 1, 4]) {
      const xs = Array.from({ length: 20_000 }, () => rng.gamma(shape, 2));
      // Gamma(k, θ): mean kθ, variance kθ².
      expect(mean(xs)).toBeCloseTo(shape * 2, 0);
      expect(std(xs) ** 2 / (shape * 4)).toBeGreaterThan(0.9);
      expect(std(xs) ** 2 / (shape * 4)).toBeLessThan(1.1);
    }
  });

  it('caps requests in flight with the semaphore', async () => {
    const semaphore = new Semaphore(2);
    let inFlight = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        await semaphore.acquire();
        peak = Math.max(peak, ++inFlight);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
        semaphore.release();
      }),
    );
    expect(peak).toBe(2);
  });
});
