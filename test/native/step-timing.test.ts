// Each native step reports how long the device idled before its launch (host work since the last
// step's results: scheduling, inputs, the caller between steps) and how long the launch took to
// give back its tokens; benchmarks sum them to see what overlapping host and device would gain.
import { describe, expect, it } from 'vitest';

import type { NativeStepResult } from '../../lib/engine/native.js';
import { greedy, loadNativeEngine, seededInts, writeModel } from '../helpers/native-engine.js';
import { sleep } from '../helpers/test-llm.js';

const dir = writeModel({ seed: 31, config: { vocab_size: 500 } });

describe('step timing', () => {
  it('counts the time between steps as idle, and the launch to the tokens as the step', async () => {
    const engine = await loadNativeEngine(dir, { device: 'cpu', maxModelLen: 64, numKvBlocks: 16 });
    engine.addRequest(1, Int32Array.from(seededInts(1, 8, 500)), greedy(4));
    const first = await engine.step();
    expect(first.idleBeforeLaunchMs).toBe(0);  // nothing came before it
    expect(first.launchToResultMs).toBeGreaterThan(0);
    await sleep(60);
    const second = await engine.step();
    expect(second.idleBeforeLaunchMs).toBeGreaterThanOrEqual(55);
    expect(second.idleBeforeLaunchMs).toBeLessThan(5_000);
    expect(second.launchToResultMs).toBeGreaterThan(0);
    // The 60 ms slept were outside the engine: its own preparation is a small part of the idle time.
    expect(second.prepareMs).toBeGreaterThan(0);
    expect(second.prepareMs).toBeLessThan(second.idleBeforeLaunchMs - 50);
    engine.close();
  });

  it('after the engine ran out of work, the wait for the next request is not counted', async () => {
    const engine = await loadNativeEngine(dir, { device: 'cpu', maxModelLen: 64, numKvBlocks: 16 });
    engine.addRequest(1, Int32Array.from(seededInts(3, 8, 500)), greedy(2));
    while (engine.hasWork()) await engine.step();
    await sleep(60);
    engine.addRequest(2, Int32Array.from(seededInts(4, 8, 500)), greedy(2));
    const next = await engine.step();
    expect(next.idleBeforeLaunchMs).toBe(0);
    expect(next.launchToResultMs).toBeGreaterThan(0);
    engine.close();
  });

  it('a prefill chunk that samples nothing does not wait, so the next step cannot tell the idle time', async () => {
    const engine = await loadNativeEngine(dir, { device: 'cpu', maxModelLen: 64, numKvBlocks: 16, maxNumBatchedTokens: 8, maxNumSeqs: 8 });
    engine.addRequest(1, Int32Array.from(seededInts(2, 20, 500)), greedy(2));
    const steps: NativeStepResult[] = [];
    while (engine.hasWork()) steps.push(await engine.step());
    engine.close();
    // 20 prompt tokens in chunks of 8, 8 and 4 (the last one samples), then one decode.
    expect(steps.map((s) => s.numScheduledTokens)).toEqual([8, 8, 4, 1]);
    expect(steps.map((s) => s.launchToResultMs > 0)).toEqual([false, false, true, true]);
    expect(steps.map((s) => s.idleBeforeLaunchMs)).toEqual([0, 0, 0, steps[3]!.idleBeforeLaunchMs]);
    expect(steps[3]!.idleBeforeLaunchMs).toBeGreaterThan(0);
  });
});
