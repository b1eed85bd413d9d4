// Deterministic checks of the native sampler's logits processors and bookkeeping: greedy argmax,
// logit_bias, repetition / frequency / presence penalties (against an independent float64
// implementation of vLLM's rules), raw logprobs and top-k logprobs, and the seeded draw's
// independence from the batch around it.
import { describe, expect, it } from 'vitest';

import { addon, type NativeSamplingRow } from '../../lib/engine/native.js';
import { mulberry32 } from '../helpers/random.js';

// ---------------------------------------------------------------------------------------------
// Helpers


function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

function randomLogits(rand: () => number, vocab: number, sd = 1): number[] {
  return Array.from({ length: vocab }, () => Math.fround(sd * gaussian(rand)));
}

/** Samples rows that each have their own logits (all of one vocab size). */
function sample(logits: readonly (readonly number[])[], rows: NativeSamplingRow[]) {
  expect(logits.length).toBe(rows.length);
  const vocab = logits[0]!.length;
  const flat = new Float32Array(rows.length * vocab);
  logits.forEach((row, r) => {
    expect(row.length).toBe(vocab);
    flat.set(row, r * vocab);
  });
  return addon.testing.sampleLogits(flat, vocab, rows);
}

function sampleOne(logits: readonly number[], row: NativeSamplingRow): number {
  return sample([logits], [row]).tokens[0]!;
}

/** Index of the largest value, lowest index on ties. */
function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/** The gap between the largest and the second largest value. */
function topGap(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => b - a);
  return sorted[0]! - sorted[1]!;
}

/** vLLM's processing before temperature, in float64: logit_bias, then the penalties. */
function processLogits(logits: readonly number[], row: NativeSamplingRow): number[] {
  const out = [...logits];
  for (const [token, bias] of row.logitBias ?? []) out[token] = out[token]! + bias;
  const history = row.history ?? [];
  const promptLen = row.promptLen ?? 0;
  const rep = row.repetitionPenalty ?? 1;
  const freq = row.frequencyPenalty ?? 0;
  const pres = row.presencePenalty ?? 0;
  const outputCount = new Map<number, number>();
  history.forEach((token, i) => {
    if (i >= promptLen) outputCount.set(token, (outputCount.get(token) ?? 0) + 1);
  });
  for (const token of new Set(history)) {
    let l = out[token]!;
    if (rep !== 1) l = l > 0 ? l / rep : l * rep; // prompt or output
    const count = outputCount.get(token) ?? 0; // output only
    if (count > 0) l -= freq * count + pres;
    out[token] = l;
  }
  return out;
}

function logSoftmax(logits: readonly number[]): number[] {
  const max = Math.max(...logits);
  let sum = 0;
  for (const l of logits) sum += Math.exp(l - max);
  const lse = max + Math.log(sum);
  return logits.map((l) => l - lse);
}

/** Ids of the k largest values, largest first, ties by lower id. */
function topIds(values: readonly number[], k: number): number[] {
  return [...values.keys()].sort((a, b) => values[b]! - values[a]! || a - b).slice(0, k);
}

// ---------------------------------------------------------------------------------------------

describe('greedy sampling', () => {
  it('is argmax with ties to the lowest id', () => {
    const cases: [number[], number][] = [
      [[1, 3, 3, 2], 1],
      [[0, 0, 0, 0], 0],
      [[-5, -1, -1, -7], 1],
      [[-3, -2, -1, 4], 3],
      [[2, 7, 1, 7, 7, -1], 1],
      [[-1e30, -1e30, 5, 5], 2],
    ];
    for (const [logits, want] of cases) {
      for (const temperature of [0, 1e-6]) {
        for (const seed of [0, 1, 12345]) {
          // Sampling filters do not matter to a greedy row.
          expect(sampleOne(logits, { temperature, seed, topK: 2, topP: 0.5, minP: 0.5 }), JSON.stringify(logits)).toBe(want);
        }
      }
    }
  });

  it('matches argmax over many random rows with frequent ties', () => {
    const rand = mulberry32(7);
    const vocab = 50;
    const logits = Array.from({ length: 2000 }, () =>
      Array.from({ length: vocab }, () => Math.floor(rand() * 12) - 6),
    );
    const rows = logits.map((_, i) => ({ temperature: 0, seed: i, outputPos: i }));
    const { tokens } = sample(logits, rows);
    let ties = 0;
    logits.forEach((row, r) => {
      expect(tokens[r]).toBe(argmax(row));
      if (row.filter((v) => v === Math.max(...row)).length > 1) ties++;
    });
    expect(ties).toBeGreaterThan(500); // the ties rule was exercised
  });

  it('a greedy row next to sampled rows stays greedy', () => {
    // Close logits: a sampled row spreads over several tokens, a greedy row must not.
    const logits = [0.1, 0.3, 0.25, 0.2, 0.3, -0.1].map(Math.fround);
    const n = 3000;
    const rows: NativeSamplingRow[] = Array.from({ length: n }, (_, i) =>
      i % 2 === 0
        ? { temperature: 0, seed: i, outputPos: i }
        : { temperature: 1 + (i % 3), seed: i, outputPos: i, topK: 4, topP: 0.95 },
    );
    const { tokens } = sample(Array(n).fill(logits), rows);
    const greedy = new Set<number>();
    const sampled = new Set<number>();
    tokens.forEach((t, i) => (i % 2 === 0 ? greedy : sampled).add(t));
    expect([...greedy]).toEqual([1]);
    expect(sampled.size).toBeGreaterThan(2);
  });
});

describe('logit_bias', () => {
  const rand = mulberry32(11);
  const logits = randomLogits(rand, 20, 1.5);
  const best = argmax(logits);
  const worst = logits.indexOf(Math.min(...logits));

  it('+100 forces a token, greedy and sampled', () => {
    expect(sampleOne(logits, { temperature: 0, logitBias: [[worst, 100]] })).toBe(worst);
    const n = 2000;
    const rows = Array.from({ length: n }, (_, i) => ({
      temperature: 2,
      seed: i,
      outputPos: i,
      logitBias: [[worst, 100]] as [number, number][],
    }));
    const { tokens } = sample(Array(n).fill(logits), rows);
    expect(new Set(tokens)).toEqual(new Set([worst]));
  });

  it('-100 forbids a token, greedy and sampled', () => {
    const second = argmax(logits.map((l, i) => (i === best ? -Infinity : l)));
    expect(sampleOne(logits, { temperature: 0, logitBias: [[best, -100]] })).toBe(second);
    const n = 4000;
    // A flat distribution where the forbidden token would otherwise be drawn often.
    const rows = Array.from({ length: n }, (_, i) => ({
      temperature: 3,
      seed: 77 + i,
      logitBias: [[best, -100]] as [number, number][],
    }));
    const { tokens } = sample(Array(n).fill(logits), rows);
    expect(tokens.includes(best)).toBe(false);
    const unbiased = sample(
      Array(n).fill(logits),
      rows.map(({ logitBias: _, ...row }) => row),
    ).tokens;
    expect(unbiased.filter((t) => t === best).length).toBeGreaterThan(100);
  });

  it('applies each row its own biases, several per row, summed onto the logits', () => {
    const n = 200;
    const forced = Array.from({ length: n }, (_, i) => (i * 7) % 20);
    const rows: NativeSamplingRow[] = forced.map((token, i) => ({
      temperature: i % 3 === 0 ? 0 : 1,
      seed: i,
      // The forced token gets +60 twice (summed: +120); others get -5 or nothing.
      logitBias: [
        [token, 60],
        [(token + 1) % 20, -5],
        [token, 60],
      ],
    }));
    expect([...sample(Array(n).fill(logits), rows).tokens]).toEqual(forced);
  });

  it('a small bias flips a close argmax exactly as computed', () => {
    const close = [1.0, 1.2, -3, -3].map(Math.fround);
    expect(sampleOne(close, { temperature: 0 })).toBe(1);
    expect(sampleOne(close, { temperature: 0, logitBias: [[0, 0.3]] })).toBe(0);
    expect(sampleOne(close, { temperature: 0, logitBias: [[0, 0.1]] })).toBe(1);
    expect(sampleOne(close, { temperature: 0, logitBias: [[1, -0.5], [3, 4.3]] })).toBe(3);
  });
});

describe('penalties', () => {
  // Token 0 leads token 1 by 0.2; penalties on token 0 flip the argmax or not.
  const L = [2.0, 1.8, -1, -2, 0.5, -0.5].map(Math.fround);
  const greedy = (row: NativeSamplingRow) => sampleOne(L, { temperature: 0, ...row });

  it('repetition penalty divides positive logits of tokens in the prompt or the output', () => {
    expect(greedy({})).toBe(0);
    expect(greedy({ repetitionPenalty: 1.2, history: [], promptLen: 0 })).toBe(0);
    // 2.0 / 1.2 = 1.667 < 1.8, whether token 0 is in the prompt or in the output.
    expect(greedy({ repetitionPenalty: 1.2, history: [0, 3], promptLen: 2 })).toBe(1);
    expect(greedy({ repetitionPenalty: 1.2, history: [3, 0], promptLen: 1 })).toBe(1);
    // 2.0 / 1.05 = 1.905 > 1.8.
    expect(greedy({ repetitionPenalty: 1.05, history: [0], promptLen: 1 })).toBe(0);
    // Penalising both leaves the order: 1.667 > 1.5.
    expect(greedy({ repetitionPenalty: 1.2, history: [0, 1], promptLen: 1 })).toBe(0);
    // The count does not matter: 2.0 / 1.05 once, however often token 0 was seen.
    expect(greedy({ repetitionPenalty: 1.05, history: [0, 0, 0, 0, 0], promptLen: 2 })).toBe(0);
  });

  it('repetition penalty multiplies negative logits', () => {
    const neg = [-0.1, -0.11, -3, -4].map(Math.fround);
    // -0.1 * 1.2 = -0.12 < -0.11 (dividing would give -0.083 and keep token 0).
    expect(sampleOne(neg, { temperature: 0, repetitionPenalty: 1.2, history: [0], promptLen: 1 })).toBe(1);
    // A penalty below 1 rewards: -0.11 * 0.8 = -0.088 > -0.1.
    expect(sampleOne(neg, { temperature: 0, repetitionPenalty: 0.8, history: [1], promptLen: 0 })).toBe(1);
  });

  it('frequency penalty subtracts f * (count in the output); prompt occurrences do not count', () => {
    const f = { frequencyPenalty: 0.1 };
    expect(greedy({ ...f, history: [0], promptLen: 0 })).toBe(0); // 1.9
    expect(greedy({ frequencyPenalty: 0.09, history: [0, 0], promptLen: 0 })).toBe(0); // 1.82
    expect(greedy({ frequencyPenalty: 0.11, history: [0, 0], promptLen: 0 })).toBe(1); // 1.78
    expect(greedy({ ...f, history: [0, 0, 0], promptLen: 0 })).toBe(1); // 1.7
    expect(greedy({ ...f, history: [0, 0, 0, 5], promptLen: 0 })).toBe(1);
    expect(greedy({ ...f, history: [0, 0, 0], promptLen: 3 })).toBe(0); // all prompt
    expect(greedy({ ...f, history: [0, 0, 3, 0], promptLen: 2 })).toBe(0); // one in the output: 1.9
    expect(greedy({ ...f, history: [4, 0, 0, 1], promptLen: 1 })).toBe(0); // 1.8 vs 1.7
    expect(greedy({ ...f, history: [0, 1, 1, 0, 0, 0, 0], promptLen: 3 })).toBe(1); // 1.6 vs 1.8 (token 1 only in the prompt)
  });

  it('presence penalty subtracts p once for any output occurrence; prompt occurrences do not count', () => {
    expect(greedy({ presencePenalty: 0.15, history: [0], promptLen: 0 })).toBe(0); // 1.85
    expect(greedy({ presencePenalty: 0.15, history: [0, 0, 0, 0, 0], promptLen: 0 })).toBe(0); // still 1.85
    expect(greedy({ presencePenalty: 0.25, history: [0], promptLen: 0 })).toBe(1); // 1.75
    expect(greedy({ presencePenalty: 0.25, history: [0, 0], promptLen: 2 })).toBe(0); // prompt only
    // A negative presence penalty rewards token 1 past token 0.
    expect(greedy({ presencePenalty: -0.3, history: [1], promptLen: 0 })).toBe(1);
  });

  it('logit_bias comes before the penalties', () => {
    // Token 0: -1 + 2 = 1, then / 2 = 0.5 > 0.3 (penalty first: -2 + 2 = 0 < 0.3).
    const a = [-1, 0.3, -10, -10].map(Math.fround);
    expect(sampleOne(a, { temperature: 0, logitBias: [[0, 2]], repetitionPenalty: 2, history: [0], promptLen: 1 })).toBe(0);
    // Token 0: 1 - 2 = -1, then * 2 = -2 < -1.8 (penalty first: 0.5 - 2 = -1.5 > -1.8).
    const b = [1, -1.8, -10, -10].map(Math.fround);
    expect(sampleOne(b, { temperature: 0, logitBias: [[0, -2]], repetitionPenalty: 2, history: [0], promptLen: 1 })).toBe(1);
  });

  it('match an independent implementation over random rows, histories, penalties and biases', () => {
    const rand = mulberry32(2024);
    const vocab = 32;
    const logits: number[][] = [];
    const rows: NativeSamplingRow[] = [];
    const expected: number[] = [];
    let flipped = 0;
    while (rows.length < 1500) {
      const l = randomLogits(rand, vocab);
      const historyLen = Math.floor(rand() * 24);
      // Histories lean on the likely tokens so that penalties often matter.
      const likely = topIds(l, 6);
      const history = Array.from({ length: historyLen }, () =>
        rand() < 0.7 ? likely[Math.floor(rand() * likely.length)]! : Math.floor(rand() * vocab),
      );
      const kind = Math.floor(rand() * 5);
      const row: NativeSamplingRow = {
        temperature: 0,
        seed: rows.length,
        history,
        promptLen: Math.floor(rand() * (historyLen + 1)),
        // Some rows carry a history but no penalty; their history must not leak into others.
        repetitionPenalty: kind === 0 ? 1 : kind === 1 ? 0.7 + rand() * 1.5 : 1,
        frequencyPenalty: kind === 2 ? rand() * 1.2 - 0.2 : kind === 4 ? rand() * 0.5 : 0,
        presencePenalty: kind === 3 ? rand() * 1.5 - 0.3 : kind === 4 ? rand() * 0.5 : 0,
        logitBias: rand() < 0.3 ? [[Math.floor(rand() * vocab), rand() * 4 - 2]] : [],
      };
      if (kind === 4) row.repetitionPenalty = 0.8 + rand();
      const processed = processLogits(l, row);
      // Skip near-ties that float32 rounding could decide either way.
      if (topGap(processed) < 1e-3) continue;
      if (argmax(processed) !== argmax(l)) flipped++;
      logits.push(l);
      rows.push(row);
      expected.push(argmax(processed));
    }
    expect(flipped).toBeGreaterThan(300); // the processors changed many choices
    const greedyTokens = sample(logits, rows).tokens;
    expect([...greedyTokens]).toEqual(expected);
    // top_k = 1 with any temperature draws the processed argmax too.
    const topK1 = sample(
      logits,
      rows.map((row, i) => ({ ...row, temperature: [0.5, 1, 3][i % 3]!, topK: 1, seed: 9000 + i, outputPos: i })),
    ).tokens;
    expect([...topK1]).toEqual(expected);
  });
});

describe('logprobs', () => {
  it('are the raw log_softmax of the input logits, with the k largest as top logprobs', () => {
    const rand = mulberry32(99);
    const vocab = 48;
    const logits: number[][] = [];
    const rows: NativeSamplingRow[] = [];
    const ks = [-1, 0, 1, 3, 5, 20];
    for (let i = 0; i < 600; i++) {
      const kind = i % 4;
      // Plain, with frequent ties, large offsets, and a wide spread.
      const l =
        kind === 0
          ? randomLogits(rand, vocab)
          : kind === 1
            ? Array.from({ length: vocab }, () => Math.floor(rand() * 6) * 0.5)
            : kind === 2
              ? randomLogits(rand, vocab).map((x) => Math.fround(x + 40))
              : randomLogits(rand, vocab, 8);
      logits.push(l);
      const row: NativeSamplingRow = { logprobs: ks[i % ks.length]!, seed: i, outputPos: i };
      // Processing must not leak into the reported (raw) logprobs.
      switch (Math.floor(i / 6) % 4) {
        case 0:
          row.temperature = 0;
          break;
        case 1:
          Object.assign(row, { temperature: 0.5, topK: 5, topP: 0.9, minP: 0.05 });
          break;
        case 2:
          Object.assign(row, { temperature: 1, logitBias: [[i % vocab, 5]] as [number, number][] });
          break;
        case 3:
          Object.assign(row, {
            temperature: 0,
            repetitionPenalty: 1.5,
            frequencyPenalty: 0.5,
            presencePenalty: 0.5,
            history: topIds(l, 3),
            promptLen: 1,
          });
          break;
      }
      rows.push(row);
    }
    const res = sample(logits, rows);
    expect(res.topK).toBe(20);
    expect(res.topIds.length).toBe(rows.length * 20);
    expect(res.topLogprobs.length).toBe(rows.length * 20);
    rows.forEach((row, r) => {
      const lp = logSoftmax(logits[r]!);
      const token = res.tokens[r]!;
      const k = row.logprobs!;
      if (k < 0) {
        expect(Number.isNaN(res.logprobs[r]!)).toBe(true);
        return;
      }
      expect(Math.abs(res.logprobs[r]! - lp[token]!), `row ${r}`).toBeLessThan(1e-5);
      const ids = [...res.topIds.subarray(r * 20, r * 20 + k)];
      const values = [...res.topLogprobs.subarray(r * 20, r * 20 + k)];
      expect(ids, `row ${r}`).toEqual(topIds(logits[r]!, k));
      values.forEach((v, j) => expect(Math.abs(v - lp[ids[j]!]!), `row ${r} top ${j}`).toBeLessThan(1e-5));
    });
  });

  it('the greedy token is the top logprob when nothing processes the logits', () => {
    const rand = mulberry32(5);
    const logits = Array.from({ length: 100 }, () => randomLogits(rand, 30, 2));
    const res = sample(logits, logits.map(() => ({ temperature: 0, logprobs: 1 })));
    expect(res.topK).toBe(1);
    logits.forEach((l, r) => {
      expect(res.tokens[r]).toBe(argmax(l));
      expect(res.topIds[r]).toBe(argmax(l));
      expect(res.topLogprobs[r]).toBe(res.logprobs[r]);
    });
  });
});

describe('seeded draws', () => {
  const rand = mulberry32(31);
  const VOCAB = 40;
  // A broad distribution, so that different uniforms usually give different tokens.
  const PROBE = randomLogits(rand, VOCAB, 0.5);

  it('same (seed, outputPos) gives the same token whatever the batch around it', () => {
    const n = 600;
    const keys = Array.from({ length: n }, (_, i) => ({
      seed: Math.floor(rand() * 2 ** 53),
      outputPos: Math.floor(rand() * 100_000),
    }));
    const probe = (i: number): NativeSamplingRow => ({ temperature: 1.3, topP: 0.97, ...keys[i]! });

    // Alone, one call per row.
    const alone = keys.map((_, i) => sampleOne(PROBE, probe(i)));
    // All together, in order.
    const together = [...sample(Array(n).fill(PROBE), keys.map((_, i) => probe(i))).tokens];
    expect(together).toEqual(alone);

    // Reversed and interleaved with unrelated rows (greedy, penalties, biases, logprobs, other
    // logits), so each probe sits at another row index and in another thread's chunk.
    const order = [...keys.keys()].reverse();
    const mixedLogits: number[][] = [];
    const mixedRows: NativeSamplingRow[] = [];
    const where: number[] = [];
    order.forEach((i, j) => {
      for (let f = 0; f < j % 3; f++) {
        mixedLogits.push(randomLogits(rand, VOCAB, 3));
        mixedRows.push(
          [
            { temperature: 0 },
            { temperature: 0.7, seed: i, outputPos: j, repetitionPenalty: 1.3, history: [1, 2, 3], promptLen: 1 },
            { temperature: 2, seed: keys[i]!.seed + 1, outputPos: keys[i]!.outputPos, logitBias: [[5, 3]] as [number, number][], logprobs: 4 },
          ][f]!,
        );
      }
      where[i] = mixedRows.length;
      mixedLogits.push(PROBE);
      mixedRows.push(probe(i));
    });
    const mixed = sample(mixedLogits, mixedRows).tokens;
    expect(keys.map((_, i) => mixed[where[i]!]!)).toEqual(alone);
  });

  it('the same key in one batch draws the same token each time', () => {
    const rows = Array.from({ length: 64 }, () => ({ temperature: 1, seed: 424242, outputPos: 17 }));
    expect(new Set(sample(Array(64).fill(PROBE), rows).tokens).size).toBe(1);
  });

  it('different seeds, and different positions of one seed, give different draws', () => {
    const n = 4000;
    const bySeed = sample(Array(n).fill(PROBE), Array.from({ length: n }, (_, i) => ({ seed: i, outputPos: 0 }))).tokens;
    const byPos = sample(Array(n).fill(PROBE), Array.from({ length: n }, (_, i) => ({ seed: 5, outputPos: i }))).tokens;
    const probs = logSoftmax(PROBE).map(Math.exp);
    const collision = probs.reduce((s, p) => s + p * p, 0); // P(two independent draws agree)
    for (const tokens of [bySeed, byPos]) {
      expect(new Set(tokens).size).toBe(VOCAB);
      let same = 0;
      for (let i = 1; i < n; i++) if (tokens[i] === tokens[i - 1]) same++;
      // Neighbours agree about as often as independent draws (about 4-5% here).
      expect(same / (n - 1)).toBeLessThan(2 * collision);
      expect(same / (n - 1)).toBeGreaterThan(collision / 2);
    }
    // Two seeds' sequences over the same positions differ.
    const seqA = sample(Array(200).fill(PROBE), Array.from({ length: 200 }, (_, i) => ({ seed: 1, outputPos: i }))).tokens;
    const seqB = sample(Array(200).fill(PROBE), Array.from({ length: 200 }, (_, i) => ({ seed: 2, outputPos: i }))).tokens;
    let agree = 0;
    for (let i = 0; i < 200; i++) if (seqA[i] === seqB[i]) agree++;
    expect(agree).toBeLessThan(30);
  });

  it('extreme seeds (0 and 2^53 - 1) draw valid, different tokens over positions', () => {
    for (const seed of [0, 2 ** 53 - 1]) {
      const tokens = sample(Array(300).fill(PROBE), Array.from({ length: 300 }, (_, i) => ({ seed, outputPos: i }))).tokens;
      expect(Math.min(...tokens)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...tokens)).toBeLessThan(VOCAB);
      expect(new Set(tokens).size).toBeGreaterThan(20);
    }
  });
});

describe('top_k = 1', () => {
  it('equals greedy for any temperature, seed and other filters', () => {
    const rand = mulberry32(41);
    const logits = Array.from({ length: 1500 }, () => randomLogits(rand, 24, 0.3)); // a flat distribution
    const rows = logits.map((_, i) => ({
      temperature: [0.2, 1, 5][i % 3]!,
      topK: 1,
      topP: i % 2 ? 1 : 0.99,
      minP: i % 5 ? 0 : 0.01,
      seed: i * 31,
      outputPos: i,
    }));
    const { tokens } = sample(logits, rows);
    logits.forEach((l, r) => {
      expect(topGap(l)).toBeGreaterThan(0); // a unique maximum
      expect(tokens[r], `row ${r}`).toBe(argmax(l));
    });
  });

  it('keeps every token tied at the maximum (vLLM keeps ties with the k-th value)', () => {
    const tied = [1, 3, -1, 3, 0, 3].map(Math.fround);
    const { tokens } = sample(Array(400).fill(tied), Array.from({ length: 400 }, (_, i) => ({ topK: 1, seed: i })));
    expect(new Set(tokens)).toEqual(new Set([1, 3, 5]));
  });
});
