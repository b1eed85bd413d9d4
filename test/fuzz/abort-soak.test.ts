// The soak part of issue 16's suite: 1,000 requests aborted at random points (before they are
// sent, while they are tokenized or prefilled, mid-stream, after they finished), 32 at a time,
// over HTTP; and 300 RunPod jobs against the fake job server with 15% of its answers failing and
// a third of the jobs stopped at random points. Afterwards the engine holds no sequence, no KV
// block and no reservation, and every job that was not stopped has exactly one result.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { LLM } from '../../lib/llm.js';
import { FakeRunpod } from '../helpers/fake-runpod.js';
import { type RunningServer, postJSON, startServer } from '../helpers/http-server.js';
import { mulberry32 } from '../helpers/random.js';
import { startTestWorker } from '../helpers/runpod-worker.js';
import { loadTestLLM, sleep } from '../helpers/test-llm.js';

let llm: LLM;

beforeAll(async () => {
  llm = await loadTestLLM({ maxModelLen: 256, maxNumSeqs: 16, maxWaitingSeqs: 4096 });
});
afterAll(async () => {
  await llm?.close();
});

/** Waits for the engine to be idle; then what it still holds: [running, waiting, KV blocks, reserved, requests]. */
async function leftovers(): Promise<number[]> {
  for (let i = 0; i < 500 && llm.engine.numUnfinishedRequests + llm.stats().numRunning + llm.stats().numWaiting > 0; i++) await sleep(10);
  const s = llm.stats();
  return [s.numRunning, s.numWaiting, s.numBlocks - s.numFreeBlocks, llm.engine.admission.reservedSequences, llm.engine.numUnfinishedRequests];
}

const WHEN = ['before sending', 'while tokenized or prefilled', 'after some chunks', 'after a random delay', 'after it finished'] as const;

describe('1,000 requests aborted at random points', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(llm);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('leave no sequence, KV block or reservation behind', async () => {
    const random = mulberry32(1000);
    const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
    const counts = new Map<string, number>();
    let next = 0;
    const one = async () => {
      const when = pick(WHEN);
      counts.set(when, (counts.get(when) ?? 0) + 1);
      const chat = random() < 0.5;
      const stream = random() < 0.6;
      // A long prompt (about 150 tokens) makes prefill take a while; n up to 3.
      const text = random() < 0.3 ? 'The history of the city is long and full of events. '.repeat(15) : 'Once upon a time';
      const body = {
        ...(chat ? { messages: [{ role: 'user', content: text }] } : { prompt: text }),
        max_tokens: 5 + Math.floor(random() * 60),
        ignore_eos: true,
        n: 1 + Math.floor(random() * 3),
        stream,
      };
      const controller = new AbortController();
      if (when === 'before sending') controller.abort();
      if (when === 'while tokenized or prefilled') setTimeout(() => controller.abort(), random() * 5);
      if (when === 'after a random delay') setTimeout(() => controller.abort(), random() * 50);
      try {
        const r = await postJSON(`${server.origin}${chat ? '/v1/chat/completions' : '/v1/completions'}`, body, { signal: controller.signal });
        if (when === 'after some chunks' && stream) {
          const reader = r.body!.getReader();
          for (let k = 1 + Math.floor(random() * 4); k > 0; k--) if ((await reader.read()).done) break;
          controller.abort();
        } else {
          await r.text();
        }
        if (when === 'after it finished') controller.abort();
      } catch (error) {
        if ((error as Error).name !== 'AbortError') throw error;
      }
    };
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next++ < 1000) await one();
      }),
    );
    console.log(`aborts: ${[...counts.entries()].map(([w, n]) => `${w} ${n}`).join(', ')}`);
    expect(await leftovers()).toEqual([0, 0, 0, 0, 0]);
    // And the server still serves.
    const r = await postJSON(`${server.origin}/v1/completions`, { prompt: 'Still here', max_tokens: 3 });
    expect(r.status).toBe(200);
  });
});

describe('300 RunPod jobs with platform faults and random stops', () => {
  it('every job not stopped gets exactly one result; the stopped ones none; nothing is left in the engine', async () => {
    const fake = await FakeRunpod.start({ apiKey: 'rp-soak-key-0123456789', faultRate: 0.15, faultRoutes: ['take', 'take-batch', 'stream', 'done'], seed: 300 });
    const worker = startTestWorker(llm, fake, { MAX_CONCURRENCY: '8' });
    const random = mulberry32(300);
    const ids: string[] = [];
    const stopped = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const stream = random() < 0.5;
      // A third are stopped: while queued, while they run (these run long), or once finished.
      const stop = random() < 0.33 ? (['queued', 'running', 'finished'] as const)[Math.floor(random() * 3)]! : null;
      const maxTokens = stop === 'running' ? 200 : 4 + (i % 40);
      const input =
        random() < 0.3
          ? { openai_route: '/v1/chat/completions', openai_input: { messages: [{ role: 'user', content: `Job ${i}` }], max_tokens: maxTokens, stream } }
          : { prompt: `Job ${i}:`, sampling_params: { max_tokens: maxTokens, ignore_eos: true, n: 1 + (i % 2) }, stream };
      const id = fake.addJob(input);
      ids.push(id);
      if (stop) stopped.add(id);
      const delay = random() * 50;
      if (stop === 'queued') fake.stopJobs(id);
      if (stop === 'running') void fake.waitFor(() => fake.handedOut.includes(id), 240_000).then(() => setTimeout(() => fake.stopJobs(id), delay));
      if (stop === 'finished') void fake.waitFor(() => fake.results.has(id), 240_000).then(() => fake.stopJobs(id));
      if (i % 25 === 0) await sleep(10);
    }
    await fake.waitFor(() => ids.every((id) => stopped.has(id) || fake.results.has(id)), 240_000, 'every job not stopped to have a result');
    await sleep(500); // stops still in flight land
    expect(await worker.stop()).toBe(0);
    await fake.close();

    let stoppedRunning = 0;
    for (const id of ids) {
      const results = fake.results.get(id) ?? [];
      if (stopped.has(id)) expect(results.length, id).toBeLessThanOrEqual(1); // finished before its stop, or stopped
      else expect(results, id).toHaveLength(1);
      if (stopped.has(id) && results.length === 0) stoppedRunning++;
    }
    expect(stoppedRunning).toBeGreaterThan(10);
    expect(new Set(fake.handedOut).size).toBe(fake.handedOut.length);
    expect(fake.faults).toBeGreaterThan(20);
    console.log(
      `jobs: ${ids.length}, ${stopped.size} stopped (${[...stopped].filter((id) => !fake.results.has(id)).length} before they finished), ` +
        `${fake.faults} platform faults injected`,
    );
    expect(await leftovers()).toEqual([0, 0, 0, 0, 0]);
  });
});
