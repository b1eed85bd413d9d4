// Jobs that cannot succeed fail once, with the SDK's error string (JSON holding error_type,
// error_message, ...) naming the problem; nothing is streamed for them, and the worker serves
// the next job.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { LLM } from '../../lib/llm.js';
import { FakeRunpod } from '../helpers/fake-runpod.js';
import { WORKER_ID, startTestWorker } from '../helpers/runpod-worker.js';
import { loadTestLLM } from '../helpers/test-llm.js';

const API_KEY = 'rp-key-bad-input-0123456789';
let llm: LLM;
let fake: FakeRunpod;
const ids: Record<string, string> = {};
let goodId: string;

interface ErrorInfo {
  error_type: string;
  error_message: string;
  error_param?: string;
  error_code?: number;
  error_traceback: string;
  hostname: string;
  worker_id: string;
  runpod_version: string;
}

const cases: Record<string, unknown> = {
  'no prompt or messages': { sampling_params: { max_tokens: 4 } },
  'messages null': { messages: null, prompt: 'hi' },
  'unknown field': { prompt: 'hi', sampling_param: { max_tokens: 4 } },
  'bad sampling value': { prompt: 'hi', sampling_params: { top_p: 5 } },
  'unknown sampling parameter': { prompt: 'hi', sampling_params: { use_beam_search: true } },
  'bad batch size': { prompt: 'hi', stream: true, max_batch_size: 'ten' },
  'unknown route': { openai_route: '/v1/embeddings', openai_input: { input: 'x' } },
  'openai_input without route': { openai_input: { prompt: 'x' } },
  'bad OpenAI body': { openai_route: '/v1/completions', openai_input: { prompt: 'x', temperature: -1 } },
  'unknown model': { openai_route: '/v1/chat/completions', openai_input: { model: 'gpt-4', messages: [{ role: 'user', content: 'x' }] } },
  'input not an object': 'just a string',
  'prompt too long': { prompt: 'word '.repeat(400), sampling_params: { max_tokens: 200 } },
  // Issue 16: sizes refused before any tokenization, prototype keys refused by path.
  'a 10 MB prompt': { prompt: 'x'.repeat(10 * 1024 * 1024) },
  'a 10 MB message': { messages: [{ role: 'user', content: 'x'.repeat(10 * 1024 * 1024) }] },
  'too many sequences (OpenAI route)': { openai_route: '/v1/completions', openai_input: { prompt: Array.from({ length: 200 }, () => 'p'), n: 128 } },
  'a __proto__ sampling parameter': JSON.parse('{"prompt": "hi", "sampling_params": {"max_tokens": 2, "__proto__": {"polluted": 1}}}'),
  'a __proto__ logit_bias key': JSON.parse('{"openai_route": "/v1/completions", "openai_input": {"prompt": "hi", "logit_bias": {"__proto__": 5}}}'),
  'a constructor field': { openai_route: '/v1/chat/completions', openai_input: { messages: [{ role: 'user', content: 'x' }], constructor: 1 } },
};

beforeAll(async () => {
  llm = await loadTestLLM({ maxModelLen: 256 });
  fake = await FakeRunpod.start({ apiKey: API_KEY });
  const worker = startTestWorker(llm, fake, { RUNPOD_POD_HOSTNAME: 'host-7', MAX_CONCURRENCY: '1' });
  for (const [name, input] of Object.entries(cases)) ids[name] = fake.addJob(input);
  goodId = fake.addJob({ prompt: 'still serving', sampling_params: { max_tokens: 3 } });
  await fake.waitForResults([...Object.values(ids), goodId]);
  await worker.stop();
  await fake.close();
});
afterAll(async () => {
  await llm.close();
});

function errorOf(name: string): ErrorInfo {
  const results = fake.results.get(ids[name]!)!;
  expect(results).toHaveLength(1);
  const body = results[0] as { error?: unknown; output?: unknown };
  expect(Object.keys(body)).toEqual(['error']);
  expect(typeof body.error).toBe('string');
  return JSON.parse(body.error as string) as ErrorInfo;
}

describe('bad input', () => {
  it.each([
    ['no prompt or messages', 'prompt', /needs a prompt/],
    ['messages null', 'messages', /messages must be a non-empty list/],
    ['unknown field', 'sampling_param', /Unknown or unsupported parameter: sampling_param/],
    ['bad sampling value', 'sampling_params.top_p', /top_p: must be in \(0, 1\], but received 5/],
    ['unknown sampling parameter', 'sampling_params.use_beam_search', /use_beam_search/],
    ['bad batch size', 'max_batch_size', /max_batch_size/],
    ['unknown route', 'openai_route', /Unknown openai_route "\/v1\/embeddings"/],
    ['openai_input without route', 'openai_route', /without openai_route/],
    ['bad OpenAI body', 'temperature', /temperature/],
    ['unknown model', 'model', /gpt-4/],
    ['input not an object', 'input', /must be a JSON object/],
    ['prompt too long', 'prompt', /maximum context length is 256/],
    ['a 10 MB prompt', 'prompt', /10485760 characters, more than the 4096/],
    ['a 10 MB message', 'messages', /10485760 characters together/],
    ['too many sequences (OpenAI route)', 'n', /200 prompts x n=128 = 25600 sequences/],
    ['a __proto__ sampling parameter', 'sampling_params.__proto__', /sampling_params.__proto__ is not allowed/],
    ['a __proto__ logit_bias key', 'openai_input.logit_bias.__proto__', /openai_input.logit_bias.__proto__ is not allowed/],
    ['a constructor field', 'constructor', /Unknown or unsupported parameter: constructor/],
  ])('%s: fails once, naming %s', (name, param, message) => {
    const info = errorOf(name);
    expect(info.error_message).toMatch(message);
    expect(info.error_param).toBe(param);
    expect(info.error_traceback).toBeTypeOf('string');
    expect(info).toMatchObject({ hostname: 'host-7', worker_id: WORKER_ID });
    expect(info.runpod_version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(fake.streams.has(ids[name]!)).toBe(false);
  });

  it('OpenAI errors keep their HTTP status and type', () => {
    expect(errorOf('unknown model')).toMatchObject({ error_type: 'NotFoundError', error_code: 404 });
    expect(errorOf('bad OpenAI body')).toMatchObject({ error_type: 'BadRequestError', error_code: 400 });
  });

  it('each bad job was taken once, and the worker went on to serve the next job', () => {
    expect(fake.handedOut.filter((id) => Object.values(ids).includes(id))).toHaveLength(Object.keys(cases).length);
    expect(fake.results.get(goodId)).toEqual([{ output: [expect.objectContaining({ usage: expect.objectContaining({ output: 3 }) })] }]);
  });
});
