// Launch-ahead (LLMEngine::step, on by default where the backend runs asynchronously, i.e. on a
// GPU): a step of decodes is launched before the previous step's tokens go back to the caller, so
// the device works while the caller handles them. The launchAhead option turns it on here on the
// CPU, where the same code runs synchronously: it must change no token, keep aborts and late
// requests right, and hide the caller's time between steps from the device.
import { afterEach, describe, expect, it } from 'vitest';

import type { NativeEngine, NativeStepResult } from '../../lib/engine/native.js';
import { drain, greedy, loadNativeEngine, SequenceRows, seededInts, writeModel } from '../helpers/native-engine.js';
import { sleep } from '../helpers/test-llm.js';

const VOCAB = 500;
const dir = writeModel({ seed: 41, config: { vocab_size: VOCAB } });

async function engineWith(launchAhead: boolean, maxNumSeqs = 8): Promise<NativeEngine> {
  return loadNativeEngine(dir, { device: 'cpu', maxModelLen: 128, numKvBlocks: 64, maxNumSeqs, launchAhead });
}

// Six requests, greedy and seeded, two of them added only after some steps; stepping is driven by
// the caller as lib/engine/async-engine.ts does (adds between steps).
async function run(engine: NativeEngine): Promise<Map<number, number[]>> {
  const rows = new SequenceRows();
  const params = (i: number) => (i % 2 === 0 ? greedy(12) : greedy(12, { temperature: 0.9, topP: 0.9, seed: 5 + i }));
  for (let i = 1; i <= 4; i++) engine.addRequest(i, Int32Array.from(seededInts(i, 3 + 4 * i, VOCAB)), params(i));
  for (let step = 0; engine.hasWork(); step++) {
    rows.add(await engine.step());
    if (step === 3) for (let i = 5; i <= 6; i++) engine.addRequest(i, Int32Array.from(seededInts(i, 9, VOCAB)), params(i));
  }
  return rows.tokens;
}

let engines: NativeEngine[] = [];
afterEach(() => {
  for (const e of engines) e.close();
  engines = [];
});

describe('launch-ahead', () => {
  it('gives every request the tokens it gets without it, late requests included', async () => {
    const [ahead, plain] = [await engineWith(true), await engineWith(false)];
    engines.push(ahead, plain);
    const [a, b] = [await run(ahead), await run(plain)];
    expect([...a.keys()].sort()).toEqual([1, 2, 3, 4, 5, 6]);
    for (const [id, tokens] of b) {
      expect(tokens).toHaveLength(12);
      expect(a.get(id)).toEqual(tokens);
    }
  });

  it('launches the next decode step before returning, so the caller\'s time is not the device\'s idle time', async () => {
    const engine = await engineWith(true);
    engines.push(engine);
    engine.addRequest(1, Int32Array.from(seededInts(3, 8, VOCAB)), greedy(6));
    await engine.step();  // the prompt; the first decode step is launched before it returns
    await sleep(60);
    const second = await engine.step();
    expect(second.seqIds).toEqual(Float64Array.from([1]));
    expect(second.launchToResultMs).toBeGreaterThan(0);
    expect(second.idleBeforeLaunchMs).toBeLessThan(55);  // launched before the 60 ms sleep
  });

  it('still launches ahead while requests wait for a free slot, and starts them when one frees', async () => {
    const [ahead, plain] = [await engineWith(true, 2), await engineWith(false, 2)];
    engines.push(ahead, plain);
    const tokens: Map<number, number[]>[] = [];
    for (const engine of [ahead, plain]) {
      for (let i = 1; i <= 3; i++) engine.addRequest(i, Int32Array.from(seededInts(20 + i, 5, VOCAB)), greedy(4 + 2 * i));
      const rows = new SequenceRows();
      rows.add(await engine.step());  // the two prompts that fit; request 3 waits
      rows.add(await engine.step());
      await sleep(60);
      const third = await engine.step();
      rows.add(third);
      expect(engine === ahead ? third.idleBeforeLaunchMs < 55 : third.idleBeforeLaunchMs >= 55).toBe(true);
      await drain(engine, rows.add);
      tokens.push(rows.tokens);
    }
    expect(tokens[0]!.get(3)).toHaveLength(10);
    expect(tokens[0]).toEqual(tokens[1]);
  });

  it('an abort between steps takes effect after the launched step: the request never comes back, its blocks are freed', async () => {
    const engine = await engineWith(true);
    engines.push(engine);
    for (let i = 1; i <= 3; i++) engine.addRequest(i, Int32Array.from(seededInts(10 + i, 6, VOCAB)), greedy(20));
    const free = engine.stats().numFreeBlocks;
    await engine.step();
    await engine.step();
    expect(engine.abort(2)).toBe(true);
    const after: NativeStepResult[] = [];
    await drain(engine, (r) => after.push(r));
    // The step already launched may still carry it; none after that does.
    expect(after.slice(1).some((r) => [...r.seqIds].includes(2))).toBe(false);
    expect(after.flatMap((r) => [...r.seqIds]).filter((id) => id !== 2).length).toBeGreaterThan(0);
    expect(engine.abort(2)).toBe(false);
    expect(engine.hasWork()).toBe(false);
    expect(engine.stats().numFreeBlocks).toBe(free);
  });
});
