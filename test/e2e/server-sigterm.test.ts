// `nodellm serve` as a child process, signalled while clients hold it: a long stream, an idle
// keep-alive connection and a half-sent body. On SIGTERM the listener closes at once, the stream
// is cut at the end of --shutdown-timeout with an error event and [DONE], and the process exits 0
// a moment later; a second signal exits at once. Bad limit flags are refused with the flag named.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type ChildRun, runCli } from '../helpers/child-worker.js';
import { type OpenAIErrorBody, RawClient, parseRawResponse, parseSSE, portForChild, postJSON } from '../helpers/http-server.js';
import { sleep } from '../helpers/test-llm.js';

const API_KEY = 'sk-sigterm-serve-test-0a1b2c3d';
const AUTH = { authorization: `Bearer ${API_KEY}` };
/** About 15 s on two CPU cores: far longer than the grace period. */
const LONG = { prompt: 'Once upon a time', max_tokens: 480, n: 64, ignore_eos: true, stream: true };

async function serve(args: string[] = []): Promise<{ run: ChildRun; origin: string }> {
  const port = await portForChild();
  const run = runCli(['serve', '--host', '127.0.0.1', '--port', String(port), '--max-model-len', '512', ...args], { API_KEY });
  await run.waitForLine(/nodellm serving/);
  return { run, origin: `http://127.0.0.1:${port}` };
}

/** Reads a streamed response to its end, noting when the first bytes came. */
async function readStream(response: Response, started: { at: number }) {
  let text = '';
  const decoder = new TextDecoder();
  for await (const part of response.body as unknown as AsyncIterable<Uint8Array>) {
    text += decoder.decode(part, { stream: true });
    if (!started.at) started.at = Date.now();
  }
  return { text, endedAt: Date.now() };
}

describe('SIGTERM', () => {
  let run: ChildRun;
  let signalledAt: number;
  let code: number | null;
  let exitedAt: number;
  let refused: NodeJS.ErrnoException | undefined;
  let stream: { text: string; endedAt: number };
  let idle: RawClient;
  let halfBody: RawClient;
  let idleClosedAfter = Infinity;

  beforeAll(async () => {
    const child = await serve(['--shutdown-timeout', '2']);
    run = child.run;
    idle = await RawClient.connect(child.origin);
    idle.write('GET /health HTTP/1.1\r\nhost: x\r\n\r\n');
    expect((await idle.response()).headers.connection).toBe('keep-alive');
    halfBody = await RawClient.connect(child.origin);
    halfBody.write(`POST /v1/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${API_KEY}\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{"prompt": "never`);
    const started = { at: 0 };
    const response = await postJSON(`${child.origin}/v1/completions`, LONG, { headers: AUTH });
    expect(response.status).toBe(200);
    const streaming = readStream(response, started);
    while (!started.at) await sleep(10);
    await sleep(300);

    signalledAt = Date.now();
    run.child.kill('SIGTERM');
    void idle.closed.then(() => (idleClosedAfter = Date.now() - signalledAt));
    void run.exited.then(() => (exitedAt = Date.now()));
    await sleep(300);
    refused = await RawClient.connect(child.origin).then(
      (c) => (c.destroy(), undefined),
      (e: NodeJS.ErrnoException) => e,
    );
    stream = await streaming;
    code = await run.exited;
  });
  afterAll(() => {
    run?.child.kill('SIGKILL');
    idle?.destroy();
    halfBody?.destroy();
  });

  it('closes the listener at once and the idle keep-alive connection with it', () => {
    expect(refused?.code).toBe('ECONNREFUSED');
    expect(idleClosedAfter).toBeLessThan(500);
  });

  it('cuts the stream after the grace period with an error event and [DONE]', () => {
    const sse = parseSSE<{ choices?: unknown[]; error?: OpenAIErrorBody['error'] }>(stream.text);
    expect(sse.done).toBe(true);
    expect(sse.events.length).toBeGreaterThan(2);
    expect(sse.events.at(-1)!.error).toEqual({ message: expect.stringMatching(/shutting down/), type: 'server_error', param: null, code: 'server_shutting_down' });
    expect(stream.endedAt - signalledAt).toBeGreaterThanOrEqual(1900);
    expect(stream.endedAt - signalledAt).toBeLessThan(3000);
  });

  it('answers the half-sent body with a 503', async () => {
    await halfBody.closed;
    const r = parseRawResponse(halfBody.data);
    expect(r?.status).toBe(503);
  });

  it('exits 0 within a few seconds, and says what it did', () => {
    expect(code).toBe(0);
    expect(exitedAt - signalledAt).toBeLessThan(5000);
    expect(run.output()).toMatch(/SIGTERM: not accepting connections; requests in flight have 2 s to finish/);
    expect(run.output()).toMatch(/shut down in \d+\.\d s: cut off at the 2 s timeout \(2 requests were in flight, 2 aborted\)/);
  });

  it('never logs the API key', () => {
    expect(run.output()).not.toContain(API_KEY);
  });
});

describe('a second signal', () => {
  it('exits at once', async () => {
    const { run, origin } = await serve(['--shutdown-timeout', '60']);
    try {
      const response = await postJSON(`${origin}/v1/completions`, LONG, { headers: AUTH });
      const reading = response.text().catch(() => '');
      await sleep(300);
      run.child.kill('SIGTERM');
      await run.waitForLine(/SIGTERM: not accepting/);
      const signalledAt = Date.now();
      run.child.kill('SIGINT');
      expect(await run.exited).toBe(130);
      expect(Date.now() - signalledAt).toBeLessThan(2000);
      expect(run.output()).toMatch(/SIGINT again: exiting now/);
      await reading;
    } finally {
      run.child.kill('SIGKILL');
    }
  });
});

describe('limit flags', () => {
  it.each([
    [['--request-timeout', '0'], {}, /--request-timeout must be a positive number/],
    [['--keep-alive-timeout', 'soon'], {}, /--keep-alive-timeout must be a positive number/],
    [['--max-connections', '-5'], {}, /--max-connections must be a positive integer/],
    [['--body-limit', '1.5'], {}, /--body-limit must be a positive integer/],
    [['--shutdown-timeout', '-1'], {}, /--shutdown-timeout must be a positive number/],
    [[], { SHUTDOWN_TIMEOUT: 'never' }, /SHUTDOWN_TIMEOUT must be a positive number, but received never/],
  ])('%j %j is refused', async (args, env, message) => {
    const run = runCli(['serve', '--port', String(await portForChild()), ...args], env as Record<string, string>);
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(message);
    expect(run.output()).not.toMatch(/nodellm serving/);
  });
});
