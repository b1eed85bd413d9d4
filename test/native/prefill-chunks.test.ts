// How the token budget cuts prompts into chunks: never a chunk of one token, which would take the
// decode attention kernel instead of the prefill kernel (different sums, so the cut would change
// a request's numbers with what else is in the batch).
import { describe, expect, it } from 'vitest';

import { drain, greedy, loadNativeEngine, seededInts, writeModel } from '../helpers/native-engine.js';

const dir = writeModel({ seed: 32, config: { vocab_size: 500 } });

async function scheduledTokens(prompts: number[], maxNumBatchedTokens: number): Promise<number[]> {
  const engine = await loadNativeEngine(dir, { device: 'cpu', maxModelLen: 64, numKvBlocks: 32, maxNumBatchedTokens, maxNumSeqs: 4 });
  prompts.forEach((n, i) => engine.addRequest(i + 1, Int32Array.from(seededInts(10 + i, n, 500)), greedy(2)));
  const steps: number[] = [];
  await drain(engine, (r) => steps.push(r.numScheduledTokens));
  engine.close();
  return steps;
}

describe('prefill chunks', () => {
  it('a cut that would leave one token for the last chunk moves one token earlier', async () => {
    // 9 tokens in a budget of 8: 7 then 2 (not 8 then 1); then the second token's decode.
    expect(await scheduledTokens([9], 8)).toEqual([7, 2, 1]);
    // 20 in 8: 8, 8, 4 (no one-token remainder to avoid).
    expect(await scheduledTokens([20], 8)).toEqual([8, 8, 4, 1]);
  });

  it('a prompt does not start with a one-token chunk: it waits a step', async () => {
    // A's 7 tokens leave 1 of the 8: B waits, then runs whole beside A's last decode; then B's.
    expect(await scheduledTokens([7, 5], 8)).toEqual([7, 6, 1]);
  });
});
