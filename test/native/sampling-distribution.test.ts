// The native sampler draws from the right distribution: empirical token frequencies over many
// seeded draws against the exact filtered softmax (temperature, min_p, top_k, top_p, in vLLM's
// order), computed here independently in float64, with Pearson's chi-square test. Seeds and
// positions are fixed, so every run draws the same tokens: the tests are deterministic.
import { describe, expect, it } from 'vitest';

import { addon, type NativeSamplingRow } from '../../lib/engine/native.js';
import { chiSquareGoodnessOfFit, chiSquareSurvival, gammaQ, type ChiSquareResult } from '../helpers/chi-square.js';
import { mulberry32 } from '../helpers/random.js';

// A fit passes when p > P_MIN; a deliberately wrong distribution must give p < P_REJECT.
const P_MIN = 1e-4;
const P_REJECT = 1e-12;
const BATCH = 8192;

// ---------------------------------------------------------------------------------------------
// Deterministic logits


/** Gaussian logits rounded to float32 (what the sampler sees). */
function gaussianLogits(vocab: number, sd: number, seed: number): number[] {
  const rand = mulberry32(seed);
  const out: number[] = [];
  for (let i = 0; i < vocab; i++) {
    const u = 1 - rand();
    const v = rand();
    out.push(Math.fround(sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)));
  }
  return out;
}

const LOGITS_24 = gaussianLogits(24, 1.5, 1);
const LOGITS_40 = gaussianLogits(40, 2, 2);

// ---------------------------------------------------------------------------------------------
// The reference: vLLM v1's filtered distribution in float64

interface Filter {
  temperature: number;
  topK?: number;
  topP?: number;
  minP?: number;
}

interface Reference {
  probs: Float64Array;
  /** How many tokens each filter removed (beyond those removed before it). */
  removed: { minP: number; topK: number; topP: number };
  /** The smallest relative distance of a min_p or top_p decision from its threshold. */
  margin: number;
}

function reference(logits: readonly number[], f: Filter): Reference {
  const vocab = logits.length;
  const z = logits.map((l) => l / f.temperature);
  const zMax = Math.max(...z);
  const w = z.map((v) => Math.exp(v - zMax)); // p_i / p_max
  const alive = z.map(() => true);
  const removed = { minP: 0, topK: 0, topP: 0 };
  let margin = Infinity;

  const minP = f.minP ?? 0;
  if (minP > 0) {
    for (let i = 0; i < vocab; i++) {
      margin = Math.min(margin, Math.abs(w[i]! - minP) / minP);
      if (w[i]! < minP) {
        alive[i] = false;
        removed.minP++;
      }
    }
  }

  const topK = f.topK ?? 0;
  if (topK > 0) {
    const values = z.filter((_, i) => alive[i]).sort((a, b) => b - a);
    if (values.length > topK) {
      const kth = values[topK - 1]!;
      for (let i = 0; i < vocab; i++) {
        if (alive[i] && z[i]! < kth) {
          alive[i] = false;
          removed.topK++;
        }
      }
    }
  }

  const topP = f.topP ?? 1;
  if (topP < 1) {
    const order = [...Array(vocab).keys()]
      .filter((i) => alive[i])
      .sort((a, b) => w[b]! - w[a]! || a - b);
    let total = 0;
    for (const i of order) total += w[i]!;
    let before = 0;
    for (const i of order) {
      const frac = before / total;
      margin = Math.min(margin, Math.abs(frac - topP) / topP);
      if (frac >= topP) {
        alive[i] = false;
        removed.topP++;
      }
      before += w[i]!;
    }
  }

  let mass = 0;
  for (let i = 0; i < vocab; i++) if (alive[i]) mass += w[i]!;
  const probs = new Float64Array(vocab);
  for (let i = 0; i < vocab; i++) probs[i] = alive[i] ? w[i]! / mass : 0;
  return { probs, removed, margin };
}

// ---------------------------------------------------------------------------------------------
// Drawing

type Stream = 'seeds' | 'positions' | 'mixed';

/** Row i's (seed, outputPos): distinct seeds, one seed at distinct positions, or both hashed. */
function streamKey(stream: Stream, base: number, i: number): { seed: number; outputPos: number } {
  switch (stream) {
    case 'seeds':
      return { seed: base + i, outputPos: 0 };
    case 'positions':
      return { seed: base, outputPos: i };
    case 'mixed': {
      // Large seeds (up to 2^53) and scattered positions, distinct per row.
      const seed = (base * 2_654_435_761 + i * 40_503 * 1_000_003) % 2 ** 53;
      return { seed, outputPos: (i * 7919) % 1_000_000 };
    }
  }
}

/** Token counts over `n` draws from one row of logits under `filter`. */
function drawCounts(
  logits: readonly number[],
  filter: Filter,
  n: number,
  stream: Stream,
  base: number,
): Float64Array {
  const vocab = logits.length;
  const counts = new Float64Array(vocab);
  const params: NativeSamplingRow = {
    temperature: filter.temperature,
    topK: filter.topK ?? 0,
    topP: filter.topP ?? 1,
    minP: filter.minP ?? 0,
  };
  for (let start = 0; start < n; start += BATCH) {
    const rows = Math.min(BATCH, n - start);
    const flat = new Float32Array(rows * vocab);
    const rowParams: NativeSamplingRow[] = [];
    for (let r = 0; r < rows; r++) {
      flat.set(logits, r * vocab);
      rowParams.push({ ...params, ...streamKey(stream, base, start + r) });
    }
    const { tokens } = addon.testing.sampleLogits(flat, vocab, rowParams);
    expect(tokens.length).toBe(rows);
    let bad = 0;
    for (const t of tokens) {
      if (t >= 0 && t < vocab) counts[t]!++;
      else bad++;
    }
    expect(bad, 'token ids outside the vocabulary').toBe(0);
  }
  return counts;
}

function describeFit(res: ChiSquareResult): string {
  return `chi2=${res.statistic.toFixed(2)} df=${res.df} p=${res.pValue.toExponential(3)} impossible=${res.impossible}`;
}

interface Case {
  name: string;
  logits: readonly number[];
  filter: Filter;
  n: number;
  stream: Stream;
  base: number;
  /** Filters that must each remove at least one token, so the case exercises them. */
  active?: (keyof Reference['removed'])[];
  /** The exact number of tokens the filters keep, where the case is about it. */
  kept?: number;
  /** Allow a decision exactly on its threshold (only where the arithmetic is exact). */
  exactBoundary?: boolean;
}

function checkCase(c: Case): void {
  const ref = reference(c.logits, c.filter);
  // The reference's decisions must not hinge on rounding: each min_p / top_p decision is
  // clear of its threshold, or exactly on it where the arithmetic is exact.
  if (!c.exactBoundary) expect(ref.margin, `${c.name}: a decision sits on its threshold`).toBeGreaterThan(1e-5);
  for (const f of c.active ?? []) expect(ref.removed[f], `${c.name}: ${f} removes nothing`).toBeGreaterThan(0);
  const allowed = [...ref.probs.keys()].filter((i) => ref.probs[i]! > 0);
  if (c.kept !== undefined) expect(allowed.length, `${c.name}: kept tokens`).toBe(c.kept);

  const counts = drawCounts(c.logits, c.filter, c.n, c.stream, c.base);
  const outside = [...counts.keys()].filter((i) => counts[i]! > 0 && !(ref.probs[i]! > 0));
  expect(outside, `${c.name}: tokens outside the allowed set ${JSON.stringify(allowed)} were drawn`).toEqual([]);
  const res = chiSquareGoodnessOfFit(counts, ref.probs);
  expect(res.pValue, `${c.name}: ${describeFit(res)}`).toBeGreaterThan(P_MIN);
}

// ---------------------------------------------------------------------------------------------

describe('chi-square helper', () => {
  it('matches known chi-square quantiles and closed forms', () => {
    // Upper 5% / 0.1% points of the chi-square distribution.
    expect(chiSquareSurvival(3.841458820694124, 1)).toBeCloseTo(0.05, 10);
    expect(chiSquareSurvival(18.307038053275146, 10)).toBeCloseTo(0.05, 10);
    expect(chiSquareSurvival(59.70306, 30) / 0.001).toBeCloseTo(1, 4);
    expect(chiSquareSurvival(10.827566170662733, 1) / 0.001).toBeCloseTo(1, 8);
    // Even df: Q(m, y) = e^-y * sum_{k<m} y^k / k!.
    for (const [m, y] of [
      [1, 0.3],
      [3, 2.5],
      [5, 4],
      [10, 30],
      [20, 7],
    ] as const) {
      let term = 1;
      let sum = 1;
      for (let k = 1; k < m; k++) {
        term *= y / k;
        sum += term;
      }
      expect(gammaQ(m, y) / (Math.exp(-y) * sum)).toBeCloseTo(1, 10);
    }
    // A perfect fit and a hopeless one.
    expect(chiSquareGoodnessOfFit([25, 25, 50], [0.25, 0.25, 0.5]).pValue).toBe(1);
    expect(chiSquareGoodnessOfFit([90, 5, 5], [1 / 3, 1 / 3, 1 / 3]).pValue).toBeLessThan(1e-20);
    // Draws on an impossible category fail outright; small bins are pooled.
    expect(chiSquareGoodnessOfFit([10, 10, 1], [0.5, 0.5, 0]).pValue).toBe(0);
    expect(chiSquareGoodnessOfFit([96, 1, 1, 2], [0.97, 0.01, 0.01, 0.01]).bins).toBe(1);
  });
});

describe('native sampler distribution (chi-square, p > 1e-4, fixed seeds)', () => {
  it.each([0.5, 1, 2])('plain temperature %s', (temperature) => {
    checkCase({
      name: `T=${temperature}`,
      logits: LOGITS_24,
      filter: { temperature },
      n: 30_000,
      stream: 'seeds',
      base: 1000 * temperature,
      kept: 24,
    });
  });

  it('low temperature 0.25 on a 40-token vocab, one seed over many positions', () => {
    checkCase({ name: 'T=0.25', logits: LOGITS_40, filter: { temperature: 0.25 }, n: 20_000, stream: 'positions', base: 77 });
  });

  it('each random stream (distinct seeds, distinct positions, large seeds) fits', () => {
    for (const stream of ['seeds', 'positions', 'mixed'] as const) {
      checkCase({ name: `T=1 ${stream}`, logits: LOGITS_40, filter: { temperature: 1 }, n: 20_000, stream, base: 4243 });
    }
  });

  it('top_k', () => {
    checkCase({
      name: 'top_k=5',
      logits: LOGITS_24,
      filter: { temperature: 1, topK: 5 },
      n: 30_000,
      stream: 'positions',
      base: 11,
      active: ['topK'],
      kept: 5,
    });
    checkCase({
      name: 'top_k=7 T=0.7',
      logits: LOGITS_40,
      filter: { temperature: 0.7, topK: 7 },
      n: 20_000,
      stream: 'mixed',
      base: 12,
      active: ['topK'],
      kept: 7,
    });
  });

  it('top_k keeps every token tied with the k-th value', () => {
    // Sorted: 3, 2.5, 2, [1, 1, 1], ... with k = 4 the three tokens at 1 are all kept.
    const logits = [1, -1, 2.5, 0, 1, -2, 3, 0.5, 1, 2, -0.5, -3].map(Math.fround);
    checkCase({
      name: 'top_k=4 ties',
      logits,
      filter: { temperature: 1, topK: 4 },
      n: 20_000,
      stream: 'seeds',
      base: 13,
      active: ['topK'],
      kept: 6,
    });
  });

  it('top_p', () => {
    checkCase({
      name: 'top_p=0.8',
      logits: LOGITS_40,
      filter: { temperature: 1, topP: 0.8 },
      n: 30_000,
      stream: 'seeds',
      base: 21,
      active: ['topP'],
    });
    checkCase({
      name: 'top_p=0.6 T=1.5',
      logits: LOGITS_24,
      filter: { temperature: 1.5, topP: 0.6 },
      n: 20_000,
      stream: 'mixed',
      base: 22,
      active: ['topP'],
    });
  });

  // Probabilities 1/2, 1/4, ..., 1/512, 1/512 at scrambled ids: the mass before the third most
  // likely token is 0.75, before the fourth 0.875. top_p just above / below those sums decides
  // whether the boundary token stays (it stays iff the mass before it is < top_p).
  const DYADIC_RANK_TO_ID = [6, 2, 9, 0, 4, 8, 1, 7, 3, 5];
  const DYADIC = (() => {
    const logits: number[] = new Array<number>(10).fill(0);
    DYADIC_RANK_TO_ID.forEach((id, rank) => {
      logits[id] = Math.fround(-Math.LN2 * Math.min(rank + 1, 9));
    });
    return logits;
  })();

  it.each([
    { topP: 0.7501, kept: 3 },
    { topP: 0.7499, kept: 2 },
    { topP: 0.8751, kept: 4 },
    { topP: 0.8749, kept: 3 },
    { topP: 0.5001, kept: 2 },
    { topP: 0.4999, kept: 1 },
  ])('top_p boundary: cumulative mass at $topP keeps $kept tokens', ({ topP, kept }) => {
    checkCase({
      name: `dyadic top_p=${topP}`,
      logits: DYADIC,
      filter: { temperature: 1, topP },
      n: 20_000,
      stream: 'seeds',
      base: Math.round(topP * 1e4),
      active: ['topP'],
      kept,
    });
  });

  it('top_p boundary hit exactly: the token whose preceding mass equals top_p is dropped', () => {
    // Four tied tokens at logit 0 (the rest at -60, negligible in double): the masses before
    // them are exactly 0, 1/4, 1/2, 3/4 in float and double, so top_p = 0.5 keeps exactly two
    // (the lower ids among the ties) and top_p = 0.75 keeps exactly three.
    const logits = new Array<number>(16).fill(-60);
    for (const id of [13, 2, 9, 5]) logits[id] = 0;
    for (const [topP, kept] of [
      [0.5, 2],
      [0.75, 3],
      [0.25, 1],
    ] as const) {
      const ref = reference(logits, { temperature: 1, topP });
      expect([...ref.probs.keys()].filter((i) => ref.probs[i]! > 0)).toEqual([2, 5, 9].slice(0, kept));
      checkCase({
        name: `exact top_p=${topP}`,
        logits,
        filter: { temperature: 1, topP },
        n: 10_000,
        stream: 'positions',
        base: 31 + kept,
        kept,
        exactBoundary: true,
      });
    }
  });

  it('min_p', () => {
    checkCase({
      name: 'min_p=0.1',
      logits: LOGITS_24,
      filter: { temperature: 1, minP: 0.1 },
      n: 30_000,
      stream: 'seeds',
      base: 41,
      active: ['minP'],
    });
  });

  it('min_p applies to the temperature-scaled distribution', () => {
    // At T = 2 the ratios p_i / p_max are the square roots of those at T = 1, so min_p = 0.1
    // keeps tokens that min_p on the unscaled distribution would drop.
    const scaled = reference(LOGITS_40, { temperature: 2, minP: 0.1 });
    const unscaled = reference(LOGITS_40, { temperature: 1, minP: 0.1 });
    const keptScaled = scaled.probs.filter((p) => p > 0).length;
    const keptUnscaled = unscaled.probs.filter((p) => p > 0).length;
    expect(keptScaled).toBeGreaterThan(keptUnscaled);
    checkCase({
      name: 'min_p=0.1 T=2',
      logits: LOGITS_40,
      filter: { temperature: 2, minP: 0.1 },
      n: 30_000,
      stream: 'mixed',
      base: 42,
      active: ['minP'],
      kept: keptScaled,
    });
  });

  it('temperature + min_p + top_k + top_p together, each filter active', () => {
    // Tuned so that each filter removes tokens the earlier ones kept (see `active`).
    checkCase({
      name: 'T=1.5 min_p=0.05 top_k=10 top_p=0.85',
      logits: LOGITS_40,
      filter: { temperature: 1.5, minP: 0.05, topK: 10, topP: 0.85 },
      n: 40_000,
      stream: 'seeds',
      base: 51,
      active: ['minP', 'topK', 'topP'],
      kept: 7,
    });
    checkCase({
      name: 'T=1.5 min_p=0.15 top_k=10 top_p=0.8',
      logits: LOGITS_24,
      filter: { temperature: 1.5, minP: 0.15, topK: 10, topP: 0.8 },
      n: 40_000,
      stream: 'positions',
      base: 52,
      active: ['minP', 'topK', 'topP'],
      kept: 7,
    });
  });

  it('top_p renormalises over what top_k left', () => {
    // With top_k = 4 first, top_p = 0.7 is measured against the four survivors' mass; measured
    // against the full distribution it would keep a different number of tokens.
    const filter = { temperature: 1, topK: 4, topP: 0.7 };
    const right = reference(LOGITS_24, filter);
    const unrenormalised = (() => {
      const full = reference(LOGITS_24, { temperature: 1, topP: 0.7 });
      const kept = full.probs.filter((p) => p > 0).length;
      return Math.min(kept, 4);
    })();
    const keptRight = right.probs.filter((p) => p > 0).length;
    expect(keptRight).not.toBe(unrenormalised);
    checkCase({
      name: 'top_k=4 then top_p=0.7',
      logits: LOGITS_24,
      filter,
      n: 20_000,
      stream: 'seeds',
      base: 53,
      active: ['topK', 'topP'],
      kept: keptRight,
    });
  });
});

describe('the chi-square test has power (negative controls)', () => {
  it('rejects temperature-1 draws compared against the temperature-2 distribution', () => {
    const counts = drawCounts(LOGITS_24, { temperature: 1 }, 30_000, 'seeds', 1000);
    const right = chiSquareGoodnessOfFit(counts, reference(LOGITS_24, { temperature: 1 }).probs);
    const wrong = chiSquareGoodnessOfFit(counts, reference(LOGITS_24, { temperature: 2 }).probs);
    expect(right.pValue, describeFit(right)).toBeGreaterThan(P_MIN);
    expect(wrong.pValue, describeFit(wrong)).toBeLessThan(P_REJECT);
  });

  it('rejects a temperature off by 10%', () => {
    const counts = drawCounts(LOGITS_40, { temperature: 1 }, 30_000, 'mixed', 99);
    const wrong = chiSquareGoodnessOfFit(counts, reference(LOGITS_40, { temperature: 1.1 }).probs);
    expect(wrong.pValue, describeFit(wrong)).toBeLessThan(P_REJECT);
  });

  it('rejects a top_p measured against the full distribution instead of the top_k survivors', () => {
    // Draws under top_k=4 + top_p=0.7 (three tokens survive) against what a sampler that
    // measured top_p on the unfiltered distribution would keep: all four top_k survivors.
    const counts = drawCounts(LOGITS_24, { temperature: 1, topK: 4, topP: 0.7 }, 20_000, 'seeds', 53);
    const wrongProbs = reference(LOGITS_24, { temperature: 1, topK: 4 }).probs;
    expect(wrongProbs.filter((p) => p > 0).length).toBe(4);
    const wrong = chiSquareGoodnessOfFit(counts, wrongProbs);
    expect(wrong.pValue, describeFit(wrong)).toBeLessThan(P_REJECT);
  });
});
