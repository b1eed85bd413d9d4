// `nodellm worker` as a child process against the fake RunPod server: the model loads before
// the first job is taken; SIGTERM stops the taking, lets the jobs in flight finish and post
// their results, then the process exits 0; secrets never reach the log.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type ChildRun, runCli } from '../helpers/child-worker.js';
import { FakeRunpod } from '../helpers/fake-runpod.js';

const API_KEY = 'rp-secret-key-for-sigterm-test';
const HF_TOKEN = 'hf_secretTokenValueForTheSigtermTest';
let fake: FakeRunpod;
let run: ChildRun;
let ids: string[];
let late: string;
let signalledAt: number;
let readyAt: number;
let code: number | null;

beforeAll(async () => {
  fake = await FakeRunpod.start({ apiKey: API_KEY });
  run = runCli(['worker'], {
    ...fake.env(),
    RUNPOD_POD_ID: 'pod-sigterm',
    RUNPOD_PING_INTERVAL: '100',
    MAX_CONCURRENCY: '2',
    MAX_MODEL_LEN: '512',
    HF_TOKEN,
    ENABLE_LOG_REQUESTS: 'true',
  });
  readyAt = await run.waitForLine(/ready in/);
  ids = [0, 1].map(() => fake.addJob({ prompt: 'Long story', sampling_params: { max_tokens: 400, ignore_eos: true }, stream: true }));
  await fake.waitFor(() => ids.every((id) => (fake.streams.get(id)?.length ?? 0) >= 2), 30_000, 'both jobs streaming');
  signalledAt = Date.now();
  run.child.kill('SIGTERM');
  late = fake.addJob({ prompt: 'too late', sampling_params: { max_tokens: 2 } });
  code = await run.exited;
});
afterAll(async () => {
  run.child.kill('SIGKILL');
  await fake.close();
});

describe('nodellm worker (child process)', () => {
  it('loads the model before taking the first job', () => {
    const firstTake = fake.requests.find((r) => r.route.startsWith('take'))!;
    expect(firstTake.at).toBeGreaterThanOrEqual(readyAt - 50);
    expect(run.output()).toMatch(/Model nodellm\/brown-llama-6l ready in [\d.]+ s/);
  });

  it('on SIGTERM finishes the jobs in flight, posts their results, takes nothing more, and exits 0', () => {
    expect(code).toBe(0);
    // Both were still running at the signal: their results came after it.
    expect(fake.byRoute('done').every((r) => r.at > signalledAt)).toBe(true);
    for (const id of ids) {
      const results = fake.results.get(id)!;
      expect(results).toHaveLength(1);
      const items = (results[0] as { output: { usage: { output: number }; choices: { finish_reason?: string }[] }[] }).output;
      expect(items.at(-1)!.usage.output).toBe(400);
      expect(items.at(-1)!.choices[0]!.finish_reason).toBe('length');
    }
    expect(fake.handedOut).not.toContain(late);
    // The long poll open at the signal was cancelled; none started after it.
    expect(fake.requests.filter((r) => r.route.startsWith('take') && r.at > signalledAt + 50)).toHaveLength(0);
    expect(run.output()).toMatch(/SIGTERM: taking no more jobs; finishing the 2 in progress/);
  });

  it('kept the heartbeat going with the jobs in progress while draining', () => {
    const draining = fake.byRoute('ping').filter((p) => p.at > signalledAt);
    expect(draining.some((p) => p.query.job_id?.split(',').sort().join(',') === [...ids].sort().join(','))).toBe(true);
  });

  it('never logs the secrets', () => {
    const out = run.output();
    expect(out).toContain('Input: '); // ENABLE_LOG_REQUESTS logged the inputs
    expect(out).not.toContain(API_KEY);
    expect(out).not.toContain(HF_TOKEN);
  });
});
