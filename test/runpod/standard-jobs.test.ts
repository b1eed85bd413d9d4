// worker-vllm's standard input through the real job loop, against the fake RunPod server: the
// wire format of takes, stream posts and results, and the item shapes (tokens deltas, usage,
// batches of 1, 3, 9, 27, 50, finish_reason on the last item).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { LLM } from '../../lib/llm.js';
import { FakeRunpod } from '../helpers/fake-runpod.js';
import { WORKER_ID, startTestWorker } from '../helpers/runpod-worker.js';
import { loadTestLLM } from '../helpers/test-llm.js';

interface Item {
  choices: { tokens: string[]; finish_reason?: string | null }[];
  usage: { input: number; output: number };
}

const API_KEY = 'rp-key-standard-0123456789';
let llm: LLM;

beforeAll(async () => {
  llm = await loadTestLLM({ maxModelLen: 512 });
});
afterAll(async () => {
  await llm.close();
});

async function runJobs(inputs: unknown[], env: Record<string, string> = {}) {
  const fake = await FakeRunpod.start({ apiKey: API_KEY });
  const worker = startTestWorker(llm, fake, env);
  const ids = inputs.map((input) => fake.addJob(input));
  await fake.waitForResults(ids);
  expect(await worker.stop()).toBe(0);
  await fake.close();
  return { fake, ids, worker };
}

const streamedItems = (fake: FakeRunpod, id: string) => (fake.streams.get(id) ?? []).map((b) => (b as { output: Item }).output);
const result = (fake: FakeRunpod, id: string) => {
  const results = fake.results.get(id) ?? [];
  expect(results).toHaveLength(1);
  return results[0] as { output?: Item[]; error?: string };
};

describe('a streamed standard job', () => {
  const prompt = 'Once upon a time';
  const params = { max_tokens: 100, temperature: 0, ignore_eos: true };
  let fake: FakeRunpod;
  let id: string;

  beforeAll(async () => {
    const run = await runJobs([{ prompt, sampling_params: params, stream: true }]);
    fake = run.fake;
    id = run.ids[0]!;
  });

  it('takes jobs with the SDK\'s URL, query and headers (MAX_CONCURRENCY 30: the batch route)', () => {
    const take = fake.requests.find((r) => r.route === 'take' || r.route === 'take-batch')!;
    expect(take.method).toBe('GET');
    expect(take.path).toBe(`/v2/ep/job-take-batch/${WORKER_ID}`);
    expect(take.query).toEqual({ gpu: 'NVIDIA H100', batch_size: '30', job_in_progress: '0' });
    expect(take.headers.authorization).toBe(API_KEY); // raw key, no Bearer
    expect(take.headers['content-type']).toBe('application/json');
    expect(take.headers['user-agent']).toMatch(/^RunPod-Python-SDK\/\d+\.\d+\.\d+ \(.+\) Language\/Node\.js/);
  });

  it('streams items of 1, 3, 9, 27, 50 then the rest, each with cumulative usage', async () => {
    const items = streamedItems(fake, id);
    expect(items.map((i) => i.choices[0]!.tokens.length)).toEqual([1, 3, 9, 27, 50, 10]);
    expect(items.map((i) => i.usage.output)).toEqual([1, 4, 13, 40, 90, 100]);
    const promptIds = await llm.tokenizer.encode(prompt);
    for (const item of items) {
      expect(item.usage.input).toBe(promptIds.length);
      expect(item.choices).toHaveLength(1);
      for (const t of item.choices[0]!.tokens) expect(typeof t).toBe('string');
    }
    // Only the last item says how each choice finished.
    expect(items.slice(0, -1).every((i) => !('finish_reason' in i.choices[0]!))).toBe(true);
    expect(items.at(-1)!.choices[0]!.finish_reason).toBe('length');
    const direct = await llm.generate(prompt, params);
    expect(items.flatMap((i) => i.choices[0]!.tokens).join('')).toBe(direct.outputs[0]!.text);
  });

  it('posts each item as {"output": item} to the stream URL with isStream=false, as the SDK does', () => {
    const posts = fake.byRoute('stream');
    expect(posts).toHaveLength(6);
    for (const p of posts) {
      expect(p.method).toBe('POST');
      expect(p.path).toBe(`/v2/ep/job-stream/${WORKER_ID}/${id}`);
      expect(p.query).toEqual({ gpu: 'NVIDIA H100', isStream: 'false' });
      expect(p.headers['content-type']).toBe('application/x-www-form-urlencoded');
      expect(p.headers.charset).toBe('utf-8');
      expect(p.headers['x-request-id']).toBe(id);
      expect(p.headers.authorization).toBe(API_KEY);
      expect(Object.keys(p.body as object)).toEqual(['output']);
    }
  });

  it('ends with the aggregate result on the done URL with isStream=true', () => {
    const done = fake.byRoute('done');
    expect(done).toHaveLength(1);
    expect(done[0]!.path).toBe(`/v2/ep/job-done/${WORKER_ID}/${id}`);
    expect(done[0]!.query).toEqual({ gpu: 'NVIDIA H100', isStream: 'true' });
    expect(result(fake, id)).toEqual({ output: streamedItems(fake, id) });
  });
});

describe('standard job shapes', () => {
  it('without stream: one item with each whole text; max_tokens defaults to 100 as worker-vllm injects it', async () => {
    const { fake, ids } = await runJobs([{ prompt: 'The capital of France is', sampling_params: { temperature: 0, ignore_eos: true } }]);
    const out = result(fake, ids[0]!).output!;
    expect(out).toHaveLength(1);
    const direct = await llm.generate('The capital of France is', { temperature: 0, ignore_eos: true, max_tokens: 100 });
    const promptIds = await llm.tokenizer.encode('The capital of France is');
    expect(out[0]).toEqual({
      choices: [{ tokens: [direct.outputs[0]!.text], finish_reason: 'length' }],
      usage: { input: promptIds.length, output: 100 },
    });
    expect(fake.streams.get(ids[0]!)).toEqual([{ output: out[0] }]); // the SDK streams every yielded item
  });

  it('n completions: one choice per completion, usage counting every token', async () => {
    const params = { n: 3, max_tokens: 12, temperature: 0.9, seed: 4, ignore_eos: true };
    const { fake, ids } = await runJobs([{ prompt: 'Hello', sampling_params: params, stream: true }]);
    const items = result(fake, ids[0]!).output!;
    for (const item of items) expect(item.choices).toHaveLength(3);
    expect(items.at(-1)!.usage.output).toBe(36);
    expect(items.at(-1)!.choices.map((c) => c.finish_reason)).toEqual(['length', 'length', 'length']);
    const direct = await llm.generate('Hello', params);
    for (let i = 0; i < 3; i++) expect(items.map((it) => it.choices[i]!.tokens.join('')).join('')).toBe(direct.outputs[i]!.text);
  });

  it('messages and apply_chat_template go through the chat template', async () => {
    const messages = [{ role: 'user', content: 'Hi there' }];
    const params = { max_tokens: 8, temperature: 0, ignore_eos: true };
    const { fake, ids } = await runJobs([
      { messages, sampling_params: params },
      { prompt: 'Hi there', apply_chat_template: true, sampling_params: params },
      { prompt: messages, sampling_params: params },
    ]);
    const chat = await llm.chat(messages, params);
    const promptIds = await llm.chatPromptIds(messages, { add_generation_prompt: true });
    for (const id of ids) {
      const out = result(fake, id).output!;
      expect(out[0]!.choices[0]!.tokens).toEqual([chat.outputs[0]!.text]);
      expect(out[0]!.usage).toEqual({ input: promptIds.length, output: 8 });
    }
  });

  it('per-request batch sizes, and a fractional growth factor from the environment', async () => {
    const params = { max_tokens: 30, temperature: 0, ignore_eos: true };
    const { fake, ids } = await runJobs(
      [
        { prompt: 'a', sampling_params: params, stream: true },
        { prompt: 'b', sampling_params: params, stream: true, min_batch_size: 2, batch_size_growth_factor: 2, max_batch_size: 10 },
      ],
      { DEFAULT_BATCH_SIZE_GROWTH_FACTOR: '1.5', DEFAULT_MIN_BATCH_SIZE: '1', DEFAULT_BATCH_SIZE: '8' },
    );
    const sizes = (id: string) => result(fake, id).output!.map((i) => i.choices[0]!.tokens.length);
    // 1, 1.5, 2.25, 3.375, 5.06, 7.59, 8 ... (a fractional size flushes at its ceiling)
    expect(sizes(ids[0]!)).toEqual([1, 2, 3, 4, 6, 8, 6]);
    expect(sizes(ids[1]!)).toEqual([2, 4, 8, 10, 6]);
  });

  it('the old variable names MIN_BATCH_SIZE and BATCH_SIZE_GROWTH_FACTOR still work', async () => {
    const { fake, ids } = await runJobs([{ prompt: 'x', sampling_params: { max_tokens: 20, ignore_eos: true }, stream: true }], {
      MIN_BATCH_SIZE: '2',
      BATCH_SIZE_GROWTH_FACTOR: '2',
    });
    expect(result(fake, ids[0]!).output!.map((i) => i.choices[0]!.tokens.length)).toEqual([2, 4, 8, 6]);
  });

  it('a stop string ends the text and is reported as finish_reason stop', async () => {
    const direct = await llm.generate('Once', { max_tokens: 20, temperature: 0, ignore_eos: true });
    const text = direct.outputs[0]!.text;
    const stop = text.slice(5, 8);
    const { fake, ids } = await runJobs([{ prompt: 'Once', sampling_params: { max_tokens: 20, temperature: 0, ignore_eos: true, stop: [stop] }, stream: true }]);
    const items = result(fake, ids[0]!).output!;
    expect(items.at(-1)!.choices[0]!.finish_reason).toBe('stop');
    expect(items.flatMap((i) => i.choices[0]!.tokens).join('')).toBe(text.slice(0, text.indexOf(stop)));
  });
});
