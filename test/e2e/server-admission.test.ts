// Fair admission under overload (issue 16): past --max-waiting-seqs new requests get a 503 with
// Retry-After (an OpenAI error object) instead of queueing; one request's fan-out does not starve
// a small request sent meanwhile; refusals are counted; nothing is left behind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { LLM } from '../../lib/llm.js';
import { type OpenAIErrorBody, type RunningServer, fetchMetrics, metricValue, postJSON, startServer } from '../helpers/http-server.js';
import { loadTestLLM, sleep } from '../helpers/test-llm.js';

// Four slots, of which one request may hold three (the scheduler keeps one in reserve).
const MAX_NUM_SEQS = 4;
const MAX_WAITING = 40;

let llm: LLM;
let server: RunningServer;

beforeAll(async () => {
  llm = await loadTestLLM({ maxModelLen: 512, maxNumSeqs: MAX_NUM_SEQS, maxWaitingSeqs: MAX_WAITING });
  server = await startServer(llm);
});
afterAll(async () => {
  await server?.close();
  await llm?.close();
});

const idle = async () => {
  for (let i = 0; i < 200 && llm.stats().numRunning + llm.stats().numWaiting > 0; i++) await sleep(10);
  const s = llm.stats();
  return [s.numRunning, s.numWaiting, s.numBlocks - s.numFreeBlocks, llm.engine.admission.reservedSequences];
};

describe('admission', () => {
  it('a small request sent during a fan-out is answered within a few steps', async () => {
    const chat = () =>
      postJSON(`${server.origin}/v1/chat/completions`, { messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4, ignore_eos: true });
    await (await chat()).text(); // warm the route, the template and the tokenizer
    // 8 prompts x n=4 = 32 sequences of 100 tokens, 3 at a time: about 1,000 steps first come, first served.
    const controller = new AbortController();
    const fanOut = postJSON(
      `${server.origin}/v1/completions`,
      { prompt: Array.from({ length: 8 }, (_, i) => `Story ${i}:`), n: 4, max_tokens: 100, ignore_eos: true, stream: true },
      { signal: controller.signal },
    ).catch(() => null);
    while (llm.stats().numWaiting < 29 || llm.engine.stepsRun < 5) await sleep(1);

    const sentAt = llm.engine.stepsRun;
    const small = await chat();
    const body = (await small.json()) as { usage: { completion_tokens: number } };
    const took = llm.engine.stepsRun - sentAt;
    console.log(`small request: ${took} steps from sending to its answer`);
    expect(small.status).toBe(200);
    expect(body.usage.completion_tokens).toBe(4);
    // 4 tokens take 4 steps; a few more pass while the request crosses HTTP and is tokenized.
    expect(took).toBeLessThanOrEqual(12);
    expect(llm.stats().numWaiting).toBeGreaterThan(0); // the fan-out is far from done
    controller.abort();
    await fanOut;
    expect(await idle()).toEqual([0, 0, 0, 0]);
  });

  it('past the waiting bound new requests get 503 with Retry-After, counted in the metrics; room again later', async () => {
    const controller = new AbortController();
    // 13 prompts x n=3 = 39 sequences: 3 run, 36 wait.
    const fill = postJSON(
      `${server.origin}/v1/completions`,
      { prompt: Array.from({ length: 13 }, (_, i) => `Fill ${i}`), n: 3, max_tokens: 200, ignore_eos: true, stream: true },
      { signal: controller.signal },
    ).catch(() => null);
    while (llm.stats().numWaiting < 36) await sleep(1);

    // 36 waiting + 5 > 40: refused at once, without queueing.
    const refused = await postJSON(`${server.origin}/v1/chat/completions`, { messages: [{ role: 'user', content: 'Hi' }], n: 5, max_tokens: 2 });
    const text = await refused.text();
    expect(refused.status, text).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const { error } = JSON.parse(text) as OpenAIErrorBody;
    expect(error).toMatchObject({ type: 'server_error', code: 'server_overloaded' });
    expect(error.message).toMatch(/overloaded: 3\d sequences are waiting.*at most 40/);
    // 36 + 4 = 40 still fits.
    const taken = await postJSON(`${server.origin}/v1/completions`, { prompt: 'Hi', n: 4, max_tokens: 2 });
    expect(taken.status).toBe(200);
    await taken.text();

    const metrics = await fetchMetrics(server.origin);
    expect(metricValue(metrics, 'nodellm:request_refused_total', { reason: 'overloaded' })).toBe(1);

    controller.abort();
    await fill;
    expect(await idle()).toEqual([0, 0, 0, 0]);
    const after = await postJSON(`${server.origin}/v1/chat/completions`, { messages: [{ role: 'user', content: 'Hi' }], n: 5, max_tokens: 2 });
    expect(after.status).toBe(200);
  });
});
