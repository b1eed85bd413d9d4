// Local development as with runpod-python: `nodellm worker --test_input` and ./test_input.json
// run the real handler and print the result; `--rp_serve_api` serves /run, /runsync,
// /stream/{id} (incremental, GET) and /status/{id} like the real endpoint API.
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { readWorkerConfig } from '../../lib/config/worker-config.js';
import type { LLM } from '../../lib/llm.js';
import { createDevApi } from '../../lib/runpod/dev-api.js';
import { createHandler } from '../../lib/runpod/handler.js';
import { silentLogger } from '../../lib/runpod/logger.js';
import { runCli } from '../helpers/child-worker.js';
import { portForChild, postJSON } from '../helpers/http-server.js';
import { useTempDirs } from '../helpers/temp-dirs.js';
import { loadTestLLM, sleep } from '../helpers/test-llm.js';

const tempDir = useTempDirs();

interface Item {
  choices: { tokens: string[]; finish_reason?: string }[];
  usage: { input: number; output: number };
}

describe('nodellm worker --test_input / test_input.json (child process)', () => {
  it('runs the handler for real and prints the result', async () => {
    const input = { input: { prompt: 'Hello', sampling_params: { max_tokens: 13, ignore_eos: true }, stream: true } };
    const run = runCli(['worker', '--test_input', JSON.stringify(input)]);
    expect(await run.exited).toBe(0);
    const stdout = run.lines.filter((l) => l.stream === 'stdout').map((l) => l.text);
    expect(stdout).toHaveLength(1); // stdout is the result line; the log goes to stderr
    const result = JSON.parse(stdout[0]!) as { output: Item[] };
    expect(result.output.map((i) => i.choices[0]!.tokens.length)).toEqual([1, 3, 9]);
    expect(result.output.at(-1)!.usage.output).toBe(13);
    expect(run.output()).toMatch(/local_test \| The job completed/);
  });

  it('reads ./test_input.json, and exits 1 when the job fails', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'test_input.json'), JSON.stringify({ id: 'my-test', input: { prompt: 'x', sampling_params: { top_k: -5 } } }));
    const run = runCli(['worker'], {}, { cwd: dir });
    expect(await run.exited).toBe(1);
    const line = run.lines.find((l) => l.stream === 'stdout')!.text;
    const error = JSON.parse((JSON.parse(line) as { error: string }).error) as { error_message: string; error_param: string };
    expect(error.error_param).toBe('sampling_params.top_k');
    expect(run.output()).toMatch(/my-test \| The job failed/);
  });

  it('without a test input or RUNPOD_WEBHOOK_GET_JOB, says what to do and exits 1 before loading the model', async () => {
    const run = runCli(['worker'], {}, { cwd: tempDir() });
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(/No test input: pass --test_input/);
    expect(run.output()).not.toMatch(/Loading/);
  });

  it('refuses an unsupported variable at start-up, naming it', async () => {
    const run = runCli(['worker', '--test_input', '{"input": {"prompt": "x"}}'], { TENSOR_PARALLEL_SIZE: '2', QUANTIZATION: 'awq' });
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(/TENSOR_PARALLEL_SIZE: tensor parallelism is not supported yet/);
    expect(run.output()).toMatch(/QUANTIZATION: quantized weights are not supported yet/);
  });
});

describe('nodellm worker --rp_serve_api (child process)', () => {
  it('serves /runsync and /health on --rp_api_host/--rp_api_port', async () => {
    const port = await portForChild();
    const run = runCli(['worker', '--rp_serve_api', '--rp_api_host', '127.0.0.1', '--rp_api_port', String(port)]);
    try {
      await run.waitForLine(/Local endpoint API on/);
      const r = await postJSON(`http://127.0.0.1:${port}/runsync`, { input: { prompt: 'Hi', sampling_params: { max_tokens: 4, ignore_eos: true } } });
      const body = (await r.json()) as { id: string; status: string; output: Item[] };
      expect(body.status).toBe('COMPLETED');
      expect(body.id).toMatch(/^test-/);
      expect(body.output[0]!.usage.output).toBe(4);
      const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { jobs: { completed: number } };
      expect(health.jobs.completed).toBe(1);
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
    } finally {
      run.child.kill('SIGKILL');
    }
  });
});

describe('the local endpoint API', () => {
  let llm: LLM;
  let app: FastifyInstance;
  let origin: string;

  beforeAll(async () => {
    llm = await loadTestLLM({ maxModelLen: 512 });
    const config = readWorkerConfig({}, { localModelArgsPath: '/nonexistent' });
    app = createDevApi({
      handler: createHandler(llm, config.handler),
      concurrency: 2,
      log: silentLogger,
      errorContext: { hostname: 'local', workerId: 'local' },
      streamWaitMs: 2000,
      webhookHosts: ['127.0.0.1'], // the webhook test's receiver (webhooks are refused by default)
    });
    origin = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await app.close();
    await llm.close();
  });

  const get = async <T>(path: string) => (await (await fetch(`${origin}${path}`)).json()) as T;

  it('/run queues and runs the job; GET /stream/{id} returns only the new items each time; /status gives the output', async () => {
    const params = { max_tokens: 500, ignore_eos: true, temperature: 0 };
    const run = (await (await postJSON(`${origin}/run`, { input: { prompt: 'Stream me', sampling_params: params, stream: true } })).json()) as {
      id: string;
      status: string;
    };
    expect(run.status).toBe('IN_QUEUE');
    const polls: { status: string; stream: { output: Item }[] }[] = [];
    for (;;) {
      const poll = await get<{ status: string; stream: { output: Item }[] }>(`/stream/${run.id}`);
      polls.push(poll);
      if (poll.status === 'COMPLETED') break;
      expect(poll.status).toBe('IN_PROGRESS');
    }
    expect(polls.filter((p) => p.stream.length > 0).length).toBeGreaterThan(1); // incremental
    const items = polls.flatMap((p) => p.stream.map((s) => s.output));
    expect(items.map((i) => i.choices[0]!.tokens.length)).toEqual([1, 3, 9, 27, ...Array<number>(9).fill(50), 10]);
    const status = await get<{ status: string; output: Item[]; executionTime: number; delayTime: number }>(`/status/${run.id}`);
    expect(status.status).toBe('COMPLETED');
    expect(status.output).toEqual(items);
    expect(status.executionTime).toBeGreaterThan(0);
    const direct = await llm.generate('Stream me', params);
    expect(items.flatMap((i) => i.choices[0]!.tokens).join('')).toBe(direct.outputs[0]!.text);
  });

  it('/runsync waits for the result, FAILED with the error for bad input; the webhook gets it too', async () => {
    const received: unknown[] = [];
    const hook = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c)).on('end', () => {
        received.push(JSON.parse(body));
        res.end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const webhook = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/done`;
    const ok = (await (await postJSON(`${origin}/runsync`, { input: { prompt: 'a', sampling_params: { max_tokens: 2 } }, webhook })).json()) as {
      status: string;
      output: Item[];
    };
    expect(ok.status).toBe('COMPLETED');
    const bad = (await (await postJSON(`${origin}/runsync`, { input: { prompt: 'a', sampling_params: { n: 0 } } })).json()) as { status: string; error: string };
    expect(bad.status).toBe('FAILED');
    expect(JSON.parse(bad.error)).toMatchObject({ error_param: 'sampling_params.n' });
    for (let i = 0; i < 50 && received.length === 0; i++) await sleep(20);
    hook.close();
    expect(received).toEqual([expect.objectContaining({ status: 'COMPLETED', output: ok.output })]);
  });

  it('POST /cancel/{id} stops a running job; unknown ids are 404; a body without input is 400', async () => {
    const run = (await (await postJSON(`${origin}/run`, { input: { prompt: 'x', sampling_params: { max_tokens: 500, ignore_eos: true } } })).json()) as { id: string };
    for (let i = 0; i < 100 && (await get<{ status: string }>(`/status/${run.id}`)).status !== 'IN_PROGRESS'; i++) await sleep(10);
    const cancel = (await (await postJSON(`${origin}/cancel/${run.id}`, {})).json()) as { status: string };
    expect(cancel.status).toBe('CANCELLED');
    for (let i = 0; i < 100 && (await get<{ status: string }>(`/status/${run.id}`)).status !== 'CANCELLED'; i++) await sleep(10);
    expect((await get<{ status: string }>(`/status/${run.id}`)).status).toBe('CANCELLED');
    // The engine drops the sequence at its next step boundary, freeing its KV blocks.
    for (let i = 0; i < 100 && llm.stats().numRunning > 0; i++) await sleep(10);
    expect(llm.stats().numRunning).toBe(0);
    expect(llm.stats().numFreeBlocks).toBe(llm.stats().numBlocks);
    expect((await fetch(`${origin}/status/nope`)).status).toBe(404);
    expect((await fetch(`${origin}/stream/nope`)).status).toBe(404);
    expect((await postJSON(`${origin}/run`, { prompt: 'no input key' })).status).toBe(400);
  });
});
