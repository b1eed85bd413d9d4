// The job loop against the fake RunPod server: MAX_CONCURRENCY jobs at once and no more, the
// single and batch take routes, every job answered exactly once through injected 500s and
// dropped connections, the heartbeat, the per-job stop channel, duplicate job ids, and a device
// fault that marks the worker unhealthy without killing the other jobs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { readWorkerConfig } from '../../lib/config/worker-config.js';
import type { LLM } from '../../lib/llm.js';
import { createHandler } from '../../lib/runpod/handler.js';
import type { Handler } from '../../lib/runpod/job.js';
import { FakeRunpod } from '../helpers/fake-runpod.js';
import { WORKER_ID, startTestWorker } from '../helpers/runpod-worker.js';
import { loadTestLLM, sleep } from '../helpers/test-llm.js';

const API_KEY = 'rp-key-loop-0123456789';
let llm: LLM;

beforeAll(async () => {
  llm = await loadTestLLM({ maxModelLen: 512 });
});
afterAll(async () => {
  await llm.close();
});

const job = (maxTokens: number, extra: Record<string, unknown> = {}) => ({
  prompt: 'Tell me something',
  sampling_params: { max_tokens: maxTokens, ignore_eos: true, temperature: 0.7, seed: 3 },
  ...extra,
});

describe('concurrency', () => {
  it('keeps MAX_CONCURRENCY jobs in flight and no more, taking as many as there are free slots', async () => {
    const fake = await FakeRunpod.start({ apiKey: API_KEY });
    const worker = startTestWorker(llm, fake, { MAX_CONCURRENCY: '3' });
    let maxActive = 0;
    const sampler = setInterval(() => {
      const s = llm.stats();
      maxActive = Math.max(maxActive, s.numRunning + s.numWaiting);
    }, 2);
    const ids = Array.from({ length: 10 }, () => fake.addJob(job(40)));
    await fake.waitForResults(ids);
    clearInterval(sampler);
    await worker.stop();
    await fake.close();

    expect(fake.maxInFlight).toBe(3); // the platform's view: taken and not yet answered
    expect(maxActive).toBeLessThanOrEqual(3); // the engine's view
    for (const id of ids) expect(fake.results.get(id)).toHaveLength(1);
    // Free slots are asked for exactly: the batch route for several, the single route for one.
    const takes = fake.requests.filter((r) => r.route === 'take' || r.route === 'take-batch');
    expect(takes[0]!.route).toBe('take-batch');
    expect(takes[0]!.query).toMatchObject({ batch_size: '3', job_in_progress: '0' });
    for (const t of takes) {
      if (t.route === 'take-batch') expect(Number(t.query.batch_size)).toBeGreaterThan(1);
      expect(Number(t.query.batch_size ?? 1)).toBeLessThanOrEqual(3);
    }
    expect(takes.some((t) => t.route === 'take' && t.query.job_in_progress === '1')).toBe(true);
  });

  it('a job id handed out again while it runs is not run twice', async () => {
    const fake = await FakeRunpod.start({ apiKey: API_KEY });
    const worker = startTestWorker(llm, fake, { MAX_CONCURRENCY: '2' });
    fake.addJob(job(30), 'same-id');
    fake.addJob(job(30), 'same-id');
    await fake.waitForResults(['same-id']);
    await sleep(100);
    await worker.stop();
    await fake.close();
    expect(fake.handedOut).toEqual(['same-id', 'same-id']);
    expect(fake.results.get('same-id')).toHaveLength(1);
    expect(worker.logs.some((l) => l.includes('already in progress'))).toBe(true);
  });
});

describe('an unreliable platform', () => {
  it('with 20% of answers failing (500 or dropped connection), every job gets exactly one complete result', async () => {
    const fake = await FakeRunpod.start({
      apiKey: API_KEY,
      faultRate: 0.2,
      faultRoutes: ['take', 'take-batch', 'stream', 'done'],
      seed: 42,
    });
    const worker = startTestWorker(llm, fake, { MAX_CONCURRENCY: '4' });
    const ids = Array.from({ length: 30 }, () => fake.addJob(job(8, { stream: true, min_batch_size: 2, batch_size_growth_factor: 2 })));
    await fake.waitForResults(ids, 60_000);
    await sleep(100);
    expect(await worker.stop()).toBe(0);
    await fake.close();

    expect(fake.faults).toBeGreaterThan(10);
    expect([...fake.results.keys()].sort()).toEqual([...ids].sort());
    expect(new Set(fake.handedOut).size).toBe(fake.handedOut.length); // no job handed out twice
    for (const id of ids) {
      const results = fake.results.get(id)!;
      expect(results).toHaveLength(1);
      const { output } = results[0] as { output: { choices: { tokens: string[] }[]; usage: { output: number } }[] };
      expect(output.map((i) => i.choices[0]!.tokens.length)).toEqual([2, 4, 2]);
      expect(output.at(-1)!.usage.output).toBe(8);
      // Streamed items that failed were sent again, so the stream holds each item once, in order.
      expect(fake.streams.get(id)).toEqual(output.map((item) => ({ output: item })));
    }
    expect(worker.logs.some((l) => l.includes('retrying'))).toBe(true);
    expect(worker.logs.join('\n')).not.toContain(API_KEY);
  });
});

describe('job-take answers', () => {
  it('as the SDK reads them: 204, 400, non-JSON and empty mean no job; 429 waits; 5xx and bad jobs back off', async () => {
    const fake = await FakeRunpod.start({ apiKey: API_KEY });
    fake.takeAnswers.push(
      { status: 204 },
      { status: 400 },
      { status: 200, body: 'no jobs', contentType: 'text/plain' },
      { status: 200, body: '', contentType: 'application/json' },
      { status: 429 },
      { status: 503 },
      { status: 200, body: JSON.stringify({ input: { prompt: 'no id' } }), contentType: 'application/json' },
    );
    const worker = startTestWorker(llm, fake, { MAX_CONCURRENCY: '1' }, { timing: { tooManyRequestsDelayMs: 300, takeRetryBaseMs: 200, takeRetryMaxMs: 1000 } });
    const id = fake.addJob(job(3));
    await fake.waitForResults([id]);
    await worker.stop();
    await fake.close();
    const takes = fake.byRoute('take');
    const gap = (i: number) => takes[i + 1]!.at - takes[i]!.at;
    for (const i of [0, 1, 2, 3]) expect(gap(i)).toBeLessThan(150); // no job: poll again at once
    expect(gap(4)).toBeGreaterThanOrEqual(290); // 429: wait
    expect(gap(5)).toBeGreaterThanOrEqual(100); // 503: back off
    expect(takes).toHaveLength(8);
    expect(fake.results.get(id)).toHaveLength(1);
    expect(worker.logs.some((l) => l.includes('not a job (the job has no id)'))).toBe(true);
  });
});

describe('heartbeat', () => {
  it('pings every RUNPOD_PING_INTERVAL ms with the jobs in progress and runpod_version', async () => {
    const fake = await FakeRunpod.start({ apiKey: API_KEY });
    const worker = startTestWorker(llm, fake, { RUNPOD_PING_INTERVAL: '40' });
    await fake.waitFor(() => fake.byRoute('ping').length >= 2);
    const id = fake.addJob(job(250));
    await fake.waitForResults([id]);
    await worker.stop();
    const stoppedAt = Date.now();
    await sleep(120);
    await fake.close();
    const pings = fake.byRoute('ping');
    for (const p of pings) {
      expect(p.method).toBe('GET');
      expect(p.path).toBe(`/v2/ep/ping/${WORKER_ID}`);
      expect(p.headers.authorization).toBe(API_KEY);
      expect(p.query.runpod_version).toMatch(/^\d+\.\d+\.\d+$/);
      expect(p.query.gpu).toBe('NVIDIA H100');
    }
    expect(pings[0]!.query.job_id).toBeUndefined();
    expect(pings.some((p) => p.query.job_id === id)).toBe(true);
    expect(pings.filter((p) => p.at > stoppedAt)).toHaveLength(0);
    const gaps = pings.slice(1).map((p, i) => p.at - pings[i]!.at);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(35);
  });

  it('sends no heartbeat without RUNPOD_POD_ID, as the SDK', async () => {
    const fake = await FakeRunpod.start({ apiKey: API_KEY });
    const worker = startTestWorker(llm, fake, { RUNPOD_PING_INTERVAL: '20', RUNPOD_POD_ID: '' });
    const id = fake.addJob(job(5));
    await fake.waitForResults([id]);
    await sleep(60);
    await worker.stop();
    await fake.close();
    expect(fake.byRoute('ping')).toHaveLength(0);
    expect(fake.byRoute('done')[0]!.workerId).toMatch(/^[0-9a-f-]{36}$/); // a random worker id
  });
});

describe('stop channel', () => {
  it('a job named by job-stop ends at once, posts no result, and frees its KV blocks', async () => {
    const fake = await FakeRunpod.start({ apiKey: API_KEY });
    const worker = startTestWorker(llm, fake, { MAX_CONCURRENCY: '1' });
    const long = fake.addJob(job(500, { stream: true }));
    await fake.waitFor(() => (fake.streams.get(long)?.length ?? 0) >= 2);
    fake.stopJobs(long);
    await fake.waitFor(() => worker.logs.some((l) => l.includes('Job stopped; no result is sent')), 10_000, 'the stop');
    const next = fake.addJob(job(4));
    await fake.waitForResults([next]);
    await worker.stop();
    await fake.close();

    expect(fake.results.has(long)).toBe(false);
    const stats = llm.stats();
    expect(stats.numRunning + stats.numWaiting).toBe(0);
    expect(stats.numFreeBlocks).toBe(stats.numBlocks);
    const polls = fake.byRoute('stop');
    expect(polls.length).toBeGreaterThan(0);
    expect(polls[0]!.path).toBe(`/v2/ep/job-stop/${WORKER_ID}`);
    expect(polls[0]!.query).toEqual({ gpu: 'NVIDIA H100' });
  });
});

describe('device fault', () => {
  it('fails its job, lets the others finish, reports the worker unhealthy and ends with exit code 1', async () => {
    const real = createHandler(llm, readWorkerConfig({}, { localModelArgsPath: '/nonexistent' }).handler);
    const handler: Handler = async function* (job, context) {
      if ((job.input as { fault?: boolean }).fault) {
        await sleep(50);
        throw new Error('CUDA error: an illegal memory access was encountered');
      }
      yield* real(job, context);
    };
    const fake = await FakeRunpod.start({ apiKey: API_KEY });
    const worker = startTestWorker(llm, fake, { MAX_CONCURRENCY: '2' }, { handler });
    const slow = fake.addJob(job(400));
    const bad = fake.addJob({ fault: true });
    await fake.waitForResults([bad]);
    const faultAt = Date.now();
    const later = fake.addJob(job(4));
    expect(await worker.done).toBe(1);
    await fake.close();

    const error = JSON.parse((fake.results.get(bad)![0] as { error: string }).error) as { error_message: string };
    expect(error.error_message).toContain('CUDA error');
    const slowResult = fake.results.get(slow)![0] as { output: { usage: { output: number } }[] };
    expect(slowResult.output[0]!.usage.output).toBe(400);
    expect(fake.handedOut).not.toContain(later);
    expect(fake.requests.filter((r) => r.route.startsWith('take') && r.at > faultAt + 20)).toHaveLength(0);
    const report = fake.byRoute('ping').find((p) => p.query.status === 'unhealthy');
    expect(report?.query).toMatchObject({ check: 'device' });
    expect(report?.query.reason).toContain('CUDA error');
  });
});
