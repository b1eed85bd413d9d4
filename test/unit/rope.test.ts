import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseRope, ropeFrequencies, rotaryDimOf, type RopeConfig } from '../../lib/models/rope.js';

// Expected values below are derived by hand from the formulas of transformers'
// modeling_rope_utils.py, step by step in the comments, not by running lib/models/rope.ts.
// Most cases use dim 16 and theta 10000, where the default frequencies are round:
//   inv_freq[i] = 1 / 10000 ** (2i / 16) = 10 ** (-i / 2)  ->  1, 10^-0.5, 0.1, 10^-1.5, 0.01, ...
const DIM = 16;
const THETA = 10000;
const DEFAULT16 = Array.from({ length: 8 }, (_, i) => 10 ** (-i / 2));

/** Element-wise closeness, relative to each expected value (frequencies span several decades). */
function expectClose(actual: number[], expected: number[], rel = 1e-12): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((a, i) => {
    const e = expected[i]!;
    if (Math.abs(a - e) > rel * Math.abs(e)) {
      throw new Error(`entry ${i}: got ${a}, expected ${e} (relative error ${Math.abs(a - e) / Math.abs(e)})`);
    }
  });
}

const rope = (raw: Record<string, unknown> | null, theta = THETA): RopeConfig => parseRope(raw, theta, 'config.json');

describe('ropeFrequencies', () => {
  it('default: 1 / theta ** (2i / dim), attention factor 1', () => {
    const r = ropeFrequencies(rope(null), DIM, 128, 128);
    expectClose(r.invFreq, DEFAULT16);
    expect(r.attentionFactor).toBe(1);
    // Another base and dim: theta 500000, dim 8 -> 500000 ** (-i / 4).
    const r2 = ropeFrequencies({ theta: 500000, scaling: null }, 8, 2048, 4096);
    expectClose(r2.invFreq, [1, 500000 ** -0.25, 500000 ** -0.5, 500000 ** -0.75]);
  });

  it('rotary dimension: int(head_dim * partial_rotary_factor)', () => {
    expect(rotaryDimOf(128)).toBe(128);
    expect(rotaryDimOf(80, 0.4)).toBe(32); // 80 * 0.4 = 32.00000000000001 in float64; int() -> 32
    expect(rotaryDimOf(96, 0.75)).toBe(72);
    expect(rotaryDimOf(128, 0.3)).toBe(38); // 38.4 truncated
    // Frequencies use the rotary dimension as `dim`: dim 12 -> 10000 ** (-2i / 12), 6 of them.
    const r = ropeFrequencies(rope(null), rotaryDimOf(16, 0.75), 128, 128);
    expectClose(r.invFreq, [0, 1, 2, 3, 4, 5].map((i) => 10000 ** (-(2 * i) / 12)));
  });

  it('refuses an odd or non-positive rotary dimension', () => {
    expect(() => ropeFrequencies(rope(null), 15, 128, 128)).toThrow(/rotary dimension must be a positive even integer/);
    expect(() => ropeFrequencies(rope(null), 0, 128, 128)).toThrow(/rotary dimension/);
  });

  it('linear: the default frequencies divided by factor', () => {
    const r = ropeFrequencies(rope({ rope_type: 'linear', factor: 4 }), DIM, 128, 512);
    expectClose(r.invFreq, DEFAULT16.map((f) => f / 4));
    expect(r.attentionFactor).toBe(1);
  });

  it('llama3: keeps high frequencies, divides low ones by factor, blends the band between', () => {
    // factor 8, low_freq_factor 1, high_freq_factor 4, original 64:
    //   low_freq_wavelen = 64 / 1 = 64, high_freq_wavelen = 64 / 4 = 16.
    //   wavelen[i] = 2*pi / inv[i] = 2*pi * 10^(i/2): 6.283, 19.869, 62.832, 198.69, ...
    //   i = 0: 6.283 < 16          -> kept: 1
    //   i = 1: 16 <= 19.869 <= 64  -> smooth = (64 / 19.869 - 1) / (4 - 1) = 0.7403565248957235
    //                                 inv = (1 - smooth) * inv / 8 + smooth * inv
    //   i = 2: 16 <= 62.832 <= 64  -> smooth = (64 / 62.832 - 1) / 3 = 0.0061972119293767225
    //   i >= 3: > 64               -> inv / 8
    const r = ropeFrequencies(
      rope({ rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 }),
      DIM,
      128,
      128,
    );
    const s1 = 0.7403565248957235;
    const s2 = 0.0061972119293767225;
    const e1 = 10 ** -0.5;
    expectClose(r.invFreq, [
      1,
      ((1 - s1) * e1) / 8 + s1 * e1,
      ((1 - s2) * 0.1) / 8 + s2 * 0.1,
      ...DEFAULT16.slice(3).map((f) => f / 8),
    ]);
    expect(r.attentionFactor).toBe(1);
  });

  describe('yarn', () => {
    // dim 16, theta 10000, factor 4, original_max_position_embeddings 64, beta_fast 32, beta_slow 1.
    // find_correction_dim(r) = dim * ln(original / (r * 2*pi)) / (2 * ln(theta))
    //                        = 8 * ln(64 / (2*pi*r)) / 9.210340371976184
    //   beta_fast 32: 8 * ln(1/pi) / 9.2103 = -0.9942997453882676 -> floor -1 -> max(-1, 0) = 0
    //   beta_slow 1:  8 * ln(10.18592) / 9.2103 = 2.0160002112515443 -> ceil 3 -> min(3, 15) = 3
    // ramp[i] = clamp((i - 0) / (3 - 0), 0, 1) = 0, 1/3, 2/3, 1, 1, 1, 1, 1 over the 8 entries;
    // inv = inv_interpolation * ramp + inv_extrapolation * (1 - ramp), interpolation = extrapolation / 4:
    //   i = 0: 1
    //   i = 1: 10^-0.5 * (2/3 + 1/3 * 1/4) = 0.75 * 10^-0.5 = 0.23717082451262844
    //   i = 2: 0.1 * (1/3 + 2/3 * 1/4) = 0.05
    //   i >= 3: 10^(-i/2) / 4, e.g. i = 3: 0.007905694150420948
    // attention factor: 0.1 * ln(4) + 1 = 1.138629436111989
    const YARN = { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 64 };

    it('blends interpolation and extrapolation over the truncated correction range', () => {
      const r = ropeFrequencies(rope(YARN), DIM, 256, 256);
      expectClose(r.invFreq, [1, 0.23717082451262844, 0.05, 0.007905694150420948, ...DEFAULT16.slice(4).map((f) => f / 4)]);
      expect(r.attentionFactor).toBeCloseTo(1.138629436111989, 15);
    });

    it('is static: the max model length does not change it', () => {
      const a = ropeFrequencies(rope(YARN), DIM, 256, 16);
      const b = ropeFrequencies(rope(YARN), DIM, 256, 100000);
      expect(a).toEqual(b);
    });

    it('original_max_position_embeddings defaults to max_position_embeddings', () => {
      const withDefault = ropeFrequencies(rope({ rope_type: 'yarn', factor: 4 }), DIM, 64, 256);
      expect(withDefault).toEqual(ropeFrequencies(rope(YARN), DIM, 64, 256));
      expectClose(withDefault.invFreq.slice(0, 3), [1, 0.23717082451262844, 0.05]);
    });

    it('truncate: false keeps the unrounded correction range', () => {
      // low = max(-0.99430, 0) = 0, high = min(2.0160002112515443, 15) = 2.0160002112515443
      //   ramp[1] = 1 / 2.016 = 0.4960316940538386, ramp[2] = 2 / 2.016 = 0.9920633881076772, ramp[3..] = 1
      const r = ropeFrequencies(rope({ ...YARN, truncate: false }), DIM, 256, 256);
      const r1 = 0.4960316940538386;
      const r2 = 0.9920633881076772;
      const e1 = 10 ** -0.5;
      expectClose(r.invFreq, [
        1,
        (e1 / 4) * r1 + e1 * (1 - r1),
        (0.1 / 4) * r2 + 0.1 * (1 - r2),
        ...DEFAULT16.slice(3).map((f) => f / 4),
      ]);
    });

    it('beta_fast and beta_slow move the range; an explicit attention_factor is used as is', () => {
      // factor 8, beta_fast 16, beta_slow 2 (the rope.json fixture's "yarn-betas" case):
      //   beta_fast 16: 8 * ln(64 / (32*pi)) / 9.2103 = -0.3922397540603052 -> floor -1 -> 0
      //   beta_slow 2:  8 * ln(64 / (4*pi)) / 9.2103 = 1.4139402199235818 -> ceil 2
      //   ramp = 0, 1/2, 1, 1, ...: i = 1: 10^-0.5 * (1/2 + 1/2 * 1/8) = 0.5625 * 10^-0.5
      const r = ropeFrequencies(
        rope({ ...YARN, factor: 8, beta_fast: 16, beta_slow: 2, attention_factor: 1.3 }),
        DIM,
        128,
        128,
      );
      expectClose(r.invFreq, [1, 0.5625 * 10 ** -0.5, ...DEFAULT16.slice(2).map((f) => f / 8)]);
      expect(r.attentionFactor).toBe(1.3);
    });

    it('a zero-width ramp gets transformers\' 0.001 guard instead of dividing by zero', () => {
      // truncate false, beta_fast = beta_slow = 1: low = high = 2.0160002112515443, high += 0.001.
      //   i = 2: (2 - 2.016) / 0.001 < 0 -> ramp 0 -> extrapolation 0.1; i = 3: ramp 1 -> 10^-1.5 / 4
      const r = ropeFrequencies(rope({ ...YARN, truncate: false, beta_fast: 1, beta_slow: 1 }), DIM, 256, 256);
      expectClose(r.invFreq, [1, 10 ** -0.5, 0.1, ...DEFAULT16.slice(3).map((f) => f / 4)]);
    });

    it('attention factor from mscale / mscale_all_dim, as get_mscale does', () => {
      // get_mscale(s, m) = 0.1 * m * ln(s) + 1 for s > 1.
      // factor 40, mscale 0.707, mscale_all_dim 1: (0.0707 * ln 40 + 1) / (0.1 * ln 40 + 1) = 0.9210423553163399
      const ds = (extra: Record<string, unknown>) =>
        ropeFrequencies(rope({ rope_type: 'yarn', factor: 40, original_max_position_embeddings: 4096, ...extra }), 64, 163840, 163840)
          .attentionFactor;
      expect(ds({ mscale: 0.707, mscale_all_dim: 1 })).toBeCloseTo(0.9210423553163399, 15);
      // DeepSeek-V3: mscale = mscale_all_dim = 1 -> exactly 1.
      expect(ds({ mscale: 1, mscale_all_dim: 1 })).toBe(1);
      // Only one of the two (or a zero): the plain 0.1 * ln(40) + 1 = 1.3688879454113936.
      expect(ds({ mscale: 0.707 })).toBeCloseTo(1.3688879454113936, 15);
      expect(ds({ mscale: 0.707, mscale_all_dim: 0 })).toBeCloseTo(1.3688879454113936, 15);
      // attention_factor wins over both.
      expect(ds({ mscale: 0.707, mscale_all_dim: 1, attention_factor: 1.5 })).toBe(1.5);
    });

    it('factor <= 1 gives attention factor 1 (get_mscale)', () => {
      expect(ropeFrequencies(rope({ rope_type: 'yarn', factor: 1 }), DIM, 64, 64).attentionFactor).toBe(1);
    });

    it('uses the explicit factor even when max_position_embeddings / original says otherwise', () => {
      // max 1024 / original 64 = 16, but factor 4: transformers 5 keeps 4 (and only warns).
      expect(ropeFrequencies(rope(YARN), DIM, 1024, 1024)).toEqual(ropeFrequencies(rope(YARN), DIM, 256, 256));
    });
  });

  describe('dynamic', () => {
    const DYN = rope({ rope_type: 'dynamic', factor: 2 });

    it('at or below max_position_embeddings: the default frequencies', () => {
      for (const len of [1, 100, 128]) {
        const r = ropeFrequencies(DYN, DIM, 128, len);
        expectClose(r.invFreq, DEFAULT16);
        expect(r.attentionFactor).toBe(1);
      }
    });

    it('above: the base transformers computes at seq_len = max model length', () => {
      // factor 2, max_position_embeddings 128, seq_len 256, dim 16:
      //   base = 10000 * ((2 * 256 / 128) - (2 - 1)) ** (16 / 14) = 10000 * 3 ** (8/7) = 35097.924382760604
      //   inv[1] = base ** (-2/16) = 0.2702961256924036, inv[7] = base ** (-14/16) = 0.00010540925533894598
      const r = ropeFrequencies(DYN, DIM, 128, 256);
      expect(r.invFreq[0]).toBe(1);
      expect(r.invFreq[1]).toBeCloseTo(0.2702961256924036, 14);
      expect(r.invFreq[7]! / 0.00010540925533894598).toBeCloseTo(1, 12);
      expectClose(r.invFreq, Array.from({ length: 8 }, (_, i) => 35097.924382760604 ** (-(2 * i) / 16)), 1e-12);
      expect(r.attentionFactor).toBe(1);
    });

    it('parseRope leaves the trained length to max_position_embeddings, as transformers does', () => {
      const parsed = rope({ rope_type: 'dynamic', factor: 2, original_max_position_embeddings: 64 });
      expect(parsed.scaling).toEqual({ type: 'dynamic', factor: 2 });
      expect(ropeFrequencies(parsed, DIM, 128, 128).invFreq).toEqual(ropeFrequencies(rope(null), DIM, 128, 128).invFreq);
    });

    it('a caller-set originalMaxPositionEmbeddings is the trained length', () => {
      // trained 64, served 256: base = 10000 * (2 * 256 / 64 - 1) ** (8/7) = 10000 * 7 ** (8/7)
      const r = ropeFrequencies({ theta: THETA, scaling: { type: 'dynamic', factor: 2, originalMaxPositionEmbeddings: 64 } }, DIM, 128, 256);
      const base = 10000 * 7 ** (8 / 7);
      expectClose(r.invFreq, Array.from({ length: 8 }, (_, i) => base ** (-(2 * i) / 16)));
    });
  });

  describe('longrope', () => {
    // dim 16, theta 10000, original 32, max_position_embeddings 128 (the rope.json fixture's case).
    const SHORT = [1.0, 1.1, 1.3, 1.6, 2.0, 2.5, 3.0, 3.5];
    const LONG = [1.0, 1.5, 2.5, 4.0, 6.0, 9.0, 12.0, 16.0];
    const LR = { rope_type: 'longrope', original_max_position_embeddings: 32, short_factor: SHORT, long_factor: LONG };

    it('short_factor while the max model length fits the original context, long_factor beyond', () => {
      // inv[i] = 1 / (ext[i] * 10000 ** (2i/16))
      const short = ropeFrequencies(rope(LR), DIM, 128, 16);
      expectClose(short.invFreq, DEFAULT16.map((f, i) => f / SHORT[i]!));
      expect(ropeFrequencies(rope(LR), DIM, 128, 32)).toEqual(short); // 32 is not > 32
      const long = ropeFrequencies(rope(LR), DIM, 128, 100);
      expectClose(long.invFreq, DEFAULT16.map((f, i) => f / LONG[i]!));
      // Attention factor does not depend on the choice: factor = 128 / 32 = 4,
      //   sqrt(1 + ln 4 / ln 32) = sqrt(1 + 2/5) = sqrt(1.4) = 1.1832159566199232
      expect(short.attentionFactor).toBeCloseTo(1.1832159566199232, 15);
      expect(long.attentionFactor).toBe(short.attentionFactor);
    });

    it('attention factor: explicit factor, explicit attention_factor, factor <= 1', () => {
      // factor 8 given: sqrt(1 + ln 8 / ln 32) = sqrt(1 + 3/5) = sqrt(1.6)
      expect(ropeFrequencies(rope({ ...LR, factor: 8 }), DIM, 128, 100).attentionFactor).toBeCloseTo(Math.sqrt(1.6), 15);
      expect(ropeFrequencies(rope({ ...LR, attention_factor: 1.25 }), DIM, 128, 100).attentionFactor).toBe(1.25);
      // max_position_embeddings == original: factor 1 -> 1.
      expect(ropeFrequencies(rope(LR), DIM, 32, 32).attentionFactor).toBe(1);
    });

    it('original_max_position_embeddings defaults to max_position_embeddings', () => {
      const { original_max_position_embeddings: _omit, ...noOriginal } = LR;
      const r = ropeFrequencies(rope(noOriginal), DIM, 32, 100);
      expectClose(r.invFreq, DEFAULT16.map((f, i) => f / LONG[i]!));
      expect(r.attentionFactor).toBe(1);
    });

    it('refuses factor lists that do not have rotary_dim / 2 entries', () => {
      expect(() => ropeFrequencies(rope(LR), 12, 128, 100)).toThrow(/rotary_dim \/ 2 = 6 entries, got 8 and 8/);
    });
  });
});

describe('parseRope', () => {
  it('null, undefined, {} and "default" mean no scaling, with the fallback theta', () => {
    expect(parseRope(null, 10000, 'c.json')).toEqual({ theta: 10000, scaling: null });
    expect(parseRope(undefined, 500000, 'c.json')).toEqual({ theta: 500000, scaling: null });
    expect(parseRope({}, 10000, 'c.json')).toEqual({ theta: 10000, scaling: null });
    expect(parseRope({ rope_type: 'default' }, 10000, 'c.json')).toEqual({ theta: 10000, scaling: null });
    expect(parseRope({ type: 'default', mrope_section: [16, 24, 24] }, 1e6, 'c.json')).toEqual({ theta: 1e6, scaling: null });
  });

  it('reads classic rope_scaling with `type` or `rope_type`', () => {
    expect(parseRope({ type: 'linear', factor: 2 }, 10000, 'c.json')).toEqual({ theta: 10000, scaling: { type: 'linear', factor: 2 } });
    expect(parseRope({ rope_type: 'linear', factor: 2 }, 10000, 'c.json').scaling).toEqual({ type: 'linear', factor: 2 });
    // rope_type wins over type when both are there, as transformers' get("rope_type", get("type")).
    expect(parseRope({ rope_type: 'dynamic', type: 'linear', factor: 2 }, 10000, 'c.json').scaling).toEqual({ type: 'dynamic', factor: 2 });
  });

  it('reads transformers 5 rope_parameters, whose rope_theta wins over the fallback', () => {
    expect(parseRope({ rope_type: 'default', rope_theta: 1e6 }, 10000, 'c.json')).toEqual({ theta: 1e6, scaling: null });
    expect(parseRope({ rope_type: 'linear', factor: 8, rope_theta: 1e6 }, 10000, 'c.json')).toEqual({
      theta: 1e6,
      scaling: { type: 'linear', factor: 8 },
    });
    expect(parseRope({ rope_type: 'default', rope_theta: null }, 10000, 'c.json').theta).toBe(10000);
  });

  it('reads Llama 3.1 rope_scaling', () => {
    expect(
      parseRope(
        { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
        500000,
        'c.json',
      ),
    ).toEqual({
      theta: 500000,
      scaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
    });
  });

  it('yarn defaults: beta_fast 32, beta_slow 1, truncate true; optional keys kept', () => {
    // Qwen2.5-7B-Instruct's suggested long-context rope_scaling.
    expect(parseRope({ factor: 4.0, original_max_position_embeddings: 32768, type: 'yarn' }, 1e6, 'c.json').scaling).toEqual({
      type: 'yarn',
      factor: 4,
      originalMaxPositionEmbeddings: 32768,
      betaFast: 32,
      betaSlow: 1,
      truncate: true,
    });
    // DeepSeek-V3-style keys, and `or 32` / `or 1`: 0 and null mean the default.
    expect(
      parseRope(
        { type: 'yarn', factor: 40, beta_fast: 0, beta_slow: null, mscale: 1.0, mscale_all_dim: 1.0, original_max_position_embeddings: 4096 },
        10000,
        'c.json',
      ).scaling,
    ).toEqual({
      type: 'yarn',
      factor: 40,
      originalMaxPositionEmbeddings: 4096,
      betaFast: 32,
      betaSlow: 1,
      mscale: 1,
      mscaleAllDim: 1,
      truncate: true,
    });
    // gpt-oss writes truncate: false.
    const gptOss = parseRope(
      { rope_type: 'yarn', factor: 32.0, beta_fast: 32.0, beta_slow: 1.0, truncate: false, original_max_position_embeddings: 4096 },
      150000,
      'c.json',
    );
    expect(gptOss.scaling).toMatchObject({ type: 'yarn', truncate: false, betaFast: 32, betaSlow: 1 });
    // transformers reads `get("truncate", True)`: an explicit null is falsy there, so no truncation.
    expect(parseRope({ rope_type: 'yarn', factor: 4, truncate: null }, 10000, 'c.json').scaling).toMatchObject({ truncate: false });
    expect(parseRope({ rope_type: 'yarn', factor: 4, attention_factor: 1.2 }, 10000, 'c.json').scaling).toMatchObject({
      attentionFactor: 1.2,
    });
  });

  it('longrope, and "su" as its legacy name', () => {
    const raw = { short_factor: [1, 1.5], long_factor: [2, 3], original_max_position_embeddings: 4096 };
    const expected = { type: 'longrope', shortFactor: [1, 1.5], longFactor: [2, 3], originalMaxPositionEmbeddings: 4096 };
    expect(parseRope({ type: 'longrope', ...raw }, 10000, 'c.json').scaling).toEqual(expected);
    expect(parseRope({ type: 'su', ...raw }, 10000, 'c.json').scaling).toEqual(expected);
    expect(parseRope({ rope_type: 'longrope', ...raw, factor: 32, attention_factor: 1.19 }, 10000, 'c.json').scaling).toEqual({
      ...expected,
      factor: 32,
      attentionFactor: 1.19,
    });
  });

  describe('errors name the file and the key', () => {
    const f = '/models/x/config.json';
    it.each([
      ['linear without factor', { rope_type: 'linear' }, `${f}: rope_scaling of type "linear" needs "factor"`],
      ['dynamic without factor', { type: 'dynamic' }, `${f}: rope_scaling of type "dynamic" needs "factor"`],
      ['yarn with null factor', { rope_type: 'yarn', factor: null }, `${f}: rope_scaling of type "yarn" needs "factor"`],
      [
        'llama3 without original_max_position_embeddings',
        { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4 },
        `${f}: rope_scaling of type "llama3" needs "original_max_position_embeddings"`,
      ],
      ['llama3 without low_freq_factor', { rope_type: 'llama3', factor: 8 }, `${f}: rope_scaling of type "llama3" needs "low_freq_factor"`],
      ['longrope without long_factor', { type: 'longrope', short_factor: [1] }, `${f}: rope_scaling of type "longrope" needs "long_factor"`],
      ['su without short_factor', { type: 'su', long_factor: [1] }, `${f}: rope_scaling of type "su" needs "short_factor"`],
    ])('%s', (_label, raw, message) => {
      expect(() => parseRope(raw, 10000, f)).toThrow(message);
    });

    it.each([
      ['a string factor', { rope_type: 'linear', factor: '2' }, /rope_scaling of type "linear": "factor" must be a positive number, got "2"/],
      ['a zero factor', { rope_type: 'dynamic', factor: 0 }, /"factor" must be a positive number, got 0/],
      ['a negative original', { rope_type: 'yarn', factor: 4, original_max_position_embeddings: -1 }, /"original_max_position_embeddings" must be a positive number/],
      ['a string truncate', { rope_type: 'yarn', factor: 4, truncate: 'no' }, /"truncate" must be true or false, got "no"/],
      ['a negative beta_fast', { rope_type: 'yarn', factor: 4, beta_fast: -32 }, /"beta_fast" must not be negative/],
      ['a string mscale', { rope_type: 'yarn', factor: 4, mscale: 'x' }, /"mscale" must be a number/],
      ['a non-list short_factor', { rope_type: 'longrope', short_factor: 1, long_factor: [1] }, /"short_factor" must be a non-empty list of positive numbers/],
      ['a list with a string', { rope_type: 'longrope', short_factor: [1], long_factor: ['1'] }, /"long_factor" must be a non-empty list/],
      ['high_freq_factor <= low_freq_factor', { rope_type: 'llama3', factor: 8, low_freq_factor: 4, high_freq_factor: 4, original_max_position_embeddings: 64 }, /"high_freq_factor" must be larger than "low_freq_factor"/],
      ['a bad rope_theta', { rope_type: 'default', rope_theta: 'big' }, /rope_theta must be a positive number, got "big"/],
      ['a non-string type', { rope_type: 3 }, /rope_scaling.rope_type must be a string, got 3/],
    ])('%s', (_label, raw, message) => {
      expect(() => parseRope(raw, 10000, f)).toThrow(message);
      expect(() => parseRope(raw, 10000, f)).toThrow(f);
    });

    it('a bad fallback theta', () => {
      expect(() => parseRope(null, 0, f)).toThrow(`${f}: rope_theta must be a positive number, got 0`);
    });

    it.each(['ntk', 'mrope', 'proportional', 'deepseek_yarn'])('refuses type %s, naming the supported ones', (type) => {
      expect(() => parseRope({ rope_type: type, factor: 2 }, 10000, f)).toThrow(
        `Unsupported rope_scaling type "${type}" in ${f}; nodellm supports: default, linear, dynamic, llama3, yarn, longrope`,
      );
    });
  });
});

// transformers' own values, written by scripts/make_family_fixtures.py (rope_references) into
// test/fixtures/families/rope.json: per case its rope_parameters, head_dim, max_position_embeddings
// and, for seq_len 16 and 100, `ROPE_INIT_FUNCTIONS[type](config, "cpu", seq_len=...)`.
// transformers computes in float32, hence the relative tolerance.
const ROPE_FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/families/rope.json');

interface FixtureEntry {
  rope_parameters: Record<string, unknown>;
  head_dim: number;
  max_position_embeddings: number;
  error?: string;
  [label: string]: unknown;
}

describe.skipIf(!fs.existsSync(ROPE_FIXTURE))('against transformers (test/fixtures/families/rope.json)', () => {
  const cases = fs.existsSync(ROPE_FIXTURE) ? (JSON.parse(fs.readFileSync(ROPE_FIXTURE, 'utf8')) as Record<string, FixtureEntry>) : {};
  for (const [name, entry] of Object.entries(cases)) {
    if (entry.error) continue;
    for (const label of ['short', 'long']) {
      const ref = entry[label] as { seq_len: number; inv_freq: number[]; attention_factor: number } | undefined;
      if (!ref) continue;
      it(`${name} at seq_len ${ref.seq_len}`, () => {
        const parsed = parseRope(entry.rope_parameters, 10000, 'rope.json');
        const r = ropeFrequencies(parsed, entry.head_dim, entry.max_position_embeddings, ref.seq_len);
        expectClose(r.invFreq, ref.inv_freq, 2e-6);
        expect(Math.abs(r.attentionFactor - ref.attention_factor)).toBeLessThan(1e-6);
      });
    }
  }
});
