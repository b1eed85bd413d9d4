// The native scheduler shares running slots fairly between groups (a group is one caller's
// request): preempted sequences first, then the group with the fewest sequences running, ties to
// the one that waited longest; one group holds at most max_num_seqs - max(1, max_num_seqs / 16)
// slots. Sequences without a group are groups of one and start in arrival order, as before.
import { describe, expect, it } from 'vitest';

import type { NativeEngine } from '../../lib/engine/native.js';
import { greedy, loadNativeEngine, seededInts, writeModel } from '../helpers/native-engine.js';

const dir = writeModel({ seed: 41, config: { vocab_size: 300 } });

async function engineWith(maxNumSeqs: number): Promise<NativeEngine> {
  return loadNativeEngine(dir, { device: 'cpu', maxModelLen: 128, numKvBlocks: 256, blockSize: 8, maxNumBatchedTokens: 512, maxNumSeqs });
}

const prompt = (seed: number) => Int32Array.from(seededInts(seed, 5, 300));

/** Steps once; the ids of the sequences that got a token. */
async function step(engine: NativeEngine): Promise<number[]> {
  return [...(await engine.step()).seqIds];
}

describe('fair admission between groups', () => {
  it('sequences without a group start in arrival order', async () => {
    const engine = await engineWith(2);
    for (let id = 1; id <= 6; id++) engine.addRequest(id, prompt(id), greedy(1));
    const order: number[] = [];
    while (engine.hasWork()) order.push(...(await step(engine)));
    engine.close();
    expect(order).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('the group with the fewest running sequences goes next: two groups alternate', async () => {
    const engine = await engineWith(4);
    for (let id = 1; id <= 6; id++) engine.addRequest(id, prompt(id), greedy(8), 100); // group A
    for (let id = 7; id <= 12; id++) engine.addRequest(id, prompt(id), greedy(8), 200); // group B
    const first = await step(engine);
    engine.close();
    // FIFO would start 1, 2, 3, 4 (all of A): fairly, A and B take turns.
    expect(first.sort((a, b) => a - b)).toEqual([1, 2, 7, 8]);
  });

  it('one group keeps a reserve free; a request sent during its fan-out starts at the next step and ends within a few', async () => {
    const maxNumSeqs = 16; // reserve max(1, 16 / 16) = 1: the fan-out runs 15 at a time
    const engine = await engineWith(maxNumSeqs);
    for (let id = 1; id <= 64; id++) engine.addRequest(id, prompt(id), greedy(40), 1000);
    for (let i = 0; i < 3; i++) {
      const stepped = await step(engine);
      expect(stepped).toHaveLength(maxNumSeqs - 1);
      expect(engine.stats().numRunning).toBe(maxNumSeqs - 1);
    }
    engine.addRequest(500, prompt(500), greedy(4), 2000);
    let steps = 0;
    let tokens = 0;
    while (tokens < 4) {
      const stepped = await step(engine);
      steps++;
      if (stepped.includes(500)) tokens++;
      if (steps === 1) expect(stepped).toContain(500);
    }
    // Its 4 tokens in 4 steps, while the fan-out (64 x 40 tokens, 15 at a time) is far from done.
    expect(steps).toBe(4);
    expect(engine.stats().numWaiting).toBeGreaterThan(0);
    engine.close();
  });

  it('a group of one is never held back by the reserve (max_num_seqs 1 has none)', async () => {
    const engine = await engineWith(1);
    engine.addRequest(1, prompt(1), greedy(2), 7);
    expect(await step(engine)).toEqual([1]);
    engine.close();
  });

  it('aborting waiting and running sequences of a group leaves nothing behind', async () => {
    const engine = await engineWith(4);
    for (let id = 1; id <= 10; id++) engine.addRequest(id, prompt(id), greedy(20), 300);
    await step(engine);
    for (let id = 1; id <= 10; id++) expect(engine.abort(id)).toBe(true);
    const stats = engine.stats();
    expect([stats.numRunning, stats.numWaiting, stats.numFreeBlocks]).toEqual([0, 0, stats.numBlocks]);
    expect(engine.hasWork()).toBe(false);
    engine.close();
  });
});
