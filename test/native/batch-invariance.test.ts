// Continuous batching must not change what a request produces: 32 concurrent requests of
// different lengths, started at different times, each give exactly the tokens they give alone,
// greedy or seeded-sampled; and the same holds when a tiny KV cache forces preemption (the
// preempted request is recomputed from its prompt and output and resumes the same stream).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { SamplingParams } from '../../lib/engine/sampling-params.js';
import type { LLM } from '../../lib/llm.js';
import { ensureDefaultModel } from '../../lib/models/default-model.js';
import { readModelConfig } from '../../lib/models/hf-config.js';
import { seededInts } from '../helpers/native-engine.js';
import { loadTestLLM, sleep } from '../helpers/test-llm.js';

const VOCAB = (await readModelConfig(await ensureDefaultModel())).vocabSize;
const MAX_TOKENS = 24;
const requests = Array.from({ length: 32 }, (_, i) => {
  const prompt = seededInts(1000 + i, 1 + ((i * 7) % 61), VOCAB);
  const params: SamplingParams =
    i % 2 === 0
      ? { temperature: 0, max_tokens: MAX_TOKENS, ignore_eos: true }
      : { temperature: 0.9, top_p: 0.95, top_k: 50, seed: 77 + i, max_tokens: MAX_TOKENS, ignore_eos: true, n: i % 4 === 1 ? 2 : 1 };
  return { prompt, params };
});

async function tokensOf(llm: LLM, i: number): Promise<number[][]> {
  const { prompt, params } = requests[i]!;
  const result = await llm.generate({ promptTokenIds: prompt }, params);
  return result.outputs.map((o) => o.tokenIds);
}

/** Starts every request at a different moment while earlier ones are mid-generation. */
async function concurrently(llm: LLM): Promise<number[][][]> {
  const pending: Promise<number[][]>[] = [];
  for (let i = 0; i < requests.length; i++) {
    pending.push(tokensOf(llm, i));
    await sleep(i % 3 === 0 ? 0 : 3 + (i % 5));
  }
  return Promise.all(pending);
}

describe('batch invariance', () => {
  let alone: number[][][];

  beforeAll(async () => {
    const llm = await loadTestLLM();
    alone = [];
    for (let i = 0; i < requests.length; i++) alone.push(await tokensOf(llm, i));
    await llm.close();
  });

  it('every request alone produced its full output', () => {
    for (const outputs of alone) for (const tokens of outputs) expect(tokens).toHaveLength(MAX_TOKENS);
    // n = 2 with a seed gives two different completions (seeds seed and seed + 1).
    expect(alone[1]![0]).not.toEqual(alone[1]![1]);
  });

  describe('with room for everything', () => {
    let llm: LLM;
    beforeAll(async () => {
      llm = await loadTestLLM();
    });
    afterAll(() => llm.close());

    it('32 staggered concurrent requests give the tokens they give alone', async () => {
      const together = await concurrently(llm);
      for (let i = 0; i < requests.length; i++) expect(together[i], `request ${i}`).toEqual(alone[i]);
      expect(llm.stats().totalPreemptions).toBe(0);
    });
  });

  describe('with a KV cache small enough to force preemption', () => {
    let llm: LLM;
    beforeAll(async () => {
      // 20 blocks of 16 tokens: about five requests' worth, for 32 requests (plus n = 2 ones).
      llm = await loadTestLLM({ maxModelLen: 128, numKvBlocks: 20, blockSize: 16, maxNumSeqs: 16, maxNumBatchedTokens: 64 });
    });
    afterAll(() => llm.close());

    it('preempted requests are recomputed and finish with the same tokens', async () => {
      const together = await concurrently(llm);
      for (let i = 0; i < requests.length; i++) expect(together[i], `request ${i}`).toEqual(alone[i]);
      const stats = llm.stats();
      expect(stats.totalPreemptions).toBeGreaterThan(0);
      expect(stats.numFreeBlocks).toBe(stats.numBlocks);
      console.log(`preemptions: ${stats.totalPreemptions}`);
    });
  });
});
