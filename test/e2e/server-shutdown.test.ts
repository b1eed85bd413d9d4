// Graceful shutdown (lib/server/shutdown.ts), driven in-process against the real server with the
// clients that used to hold it up: a long stream, a long plain request, a client that stops
// reading, a half-sent body, an idle keep-alive connection and one that never sends a byte. The
// listener closes at once, idle connections go at once, what runs past the grace period is
// aborted (the stream with an error event and [DONE], the plain request with a 503), every KV
// block comes back, and shutdownServer returns soon after the grace period, whatever the clients do.
import { Writable } from 'node:stream';

import type { FastifyReply } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import type { LLM } from '../../lib/llm.js';
import { sendStream } from '../../lib/server/sse.js';
import { type ShutdownResult, shutdownServer } from '../../lib/server/shutdown.js';
import { type OpenAIErrorBody, RawClient, type RawResponse, type RunningServer, parseRawResponse, parseSSE, postJSON, rawRequestBytes, startServer } from '../helpers/http-server.js';
import { loadTestLLM, sleep } from '../helpers/test-llm.js';

let llm: LLM;
beforeAll(async () => {
  llm = await loadTestLLM({ maxModelLen: 512 });
});
afterAll(async () => {
  await llm?.close();
});

/** Long enough never to finish within the tests' grace periods (about 15 s on two CPU cores). */
const LONG = { prompt: 'Once upon a time', max_tokens: 480, n: 64, ignore_eos: true };

/** Reads a fetch response's body as it arrives. */
function collect(response: Response) {
  const state = { text: '', endedAt: 0, chunks: 0 };
  const done = (async () => {
    const decoder = new TextDecoder();
    for await (const part of response.body as unknown as AsyncIterable<Uint8Array>) {
      state.text += decoder.decode(part, { stream: true });
      state.chunks++;
    }
    state.endedAt = Date.now();
  })();
  return { state, done };
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 30_000) {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function kvIsFree() {
  await waitFor(() => {
    const s = llm.stats();
    return s.numRunning === 0 && s.numWaiting === 0 && s.numFreeBlocks === s.numBlocks;
  }, 'every KV block to be free', 5000);
}

function expectShuttingDown(error: OpenAIErrorBody['error']) {
  expect(error).toEqual({ message: expect.stringMatching(/shutting down/), type: 'server_error', param: null, code: 'server_shutting_down' });
}

describe('past the grace period, whatever the clients do', () => {
  const GRACE = 1500;
  const FLUSH = 500;
  let server: RunningServer;
  let stream: ReturnType<typeof collect>;
  let plain: Promise<Response>;
  let slowReader: RawClient;
  let halfBody: RawClient;
  let idle: RawClient;
  let silent: RawClient;
  let refused: NodeJS.ErrnoException | undefined;
  let idleClosedAfter: number;
  let startedAt: number;
  let tookMs: number;
  let result: ShutdownResult;
  let logged: unknown[][];

  beforeAll(async () => {
    // Timeouts far beyond the test, so only the shutdown can end these connections.
    server = await startServer(llm, { requestTimeoutMs: 120_000, headersTimeoutMs: 120_000, keepAliveTimeoutMs: 120_000 });
    const url = `${server.origin}/v1/completions`;
    stream = collect(await postJSON(url, { ...LONG, stream: true }));
    plain = postJSON(url, LONG);
    // Asks for a stream with big chunks and never reads it.
    slowReader = await RawClient.connect(server.origin);
    slowReader.write(rawRequestBytes('POST', '/v1/completions', { body: { ...LONG, n: 16, logprobs: 20, stream: true } }));
    slowReader.socket.pause();
    halfBody = await RawClient.connect(server.origin);
    halfBody.write(`POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"prompt": "never`);
    idle = await RawClient.connect(server.origin);
    idle.write('GET /health HTTP/1.1\r\nhost: x\r\n\r\n');
    expect((await idle.response()).headers.connection).toBe('keep-alive');
    silent = await RawClient.connect(server.origin);
    await waitFor(() => stream.state.chunks >= 3, 'the stream to be under way');
    await waitFor(() => llm.engine.numUnfinishedRequests === 3, 'the three generations to be under way');
    await sleep(100);

    startedAt = Date.now();
    logged = vi.spyOn(server.app.log, 'info').mock.calls;
    const shutdown = shutdownServer(server.app, { graceMs: GRACE, flushMs: FLUSH });
    void idle.closed.then(() => (idleClosedAfter = Date.now() - startedAt));
    await sleep(100);
    refused = await RawClient.connect(server.origin).then(
      (c) => (c.destroy(), undefined),
      (e: NodeJS.ErrnoException) => e,
    );
    result = await shutdown;
    tookMs = Date.now() - startedAt;
  });
  afterAll(async () => {
    for (const c of [slowReader, halfBody, idle, silent]) c?.destroy();
  });

  it('returns soon after the grace period, having aborted the four requests in flight', () => {
    expect(tookMs).toBeGreaterThanOrEqual(GRACE - 20);
    expect(tookMs).toBeLessThan(GRACE + FLUSH + 500);
    expect(result).toEqual({ inFlight: 4, aborted: 4, drained: false, durationMs: expect.any(Number), graceMs: GRACE });
    expect(result.durationMs).toBeGreaterThanOrEqual(GRACE - 20);
    expect(result.durationMs).toBeLessThanOrEqual(tookMs);
  });

  it('logs that it was cut off at the timeout, and how long it took', () => {
    expect(logged).toEqual([[{ inFlight: 4, aborted: 4, drained: false, durationMs: result.durationMs }, expect.any(String)]]);
    const line = logged[0]![1] as string;
    expect(line).toMatch(/^shut down in \d+(\.\d)? s: cut off at the 1\.5 s timeout \(4 requests were in flight, 4 aborted\)$/);
    expect(line).toContain(`in ${Number((result.durationMs / 1000).toFixed(1))} s`);
  });

  it('stops accepting connections at once', () => {
    expect(refused?.code).toBe('ECONNREFUSED');
  });

  it('closes the idle keep-alive connection at once', () => {
    expect(idleClosedAfter).toBeLessThan(300);
  });

  it('ends the stream with an error event and [DONE] at the end of the grace period', async () => {
    await stream.done;
    const sse = parseSSE<{ choices?: unknown[]; error?: OpenAIErrorBody['error'] }>(stream.state.text);
    expect(sse.done).toBe(true);
    const last = sse.events.at(-1)!;
    expectShuttingDown(last.error!);
    expect(sse.events.slice(0, -1).every((e) => Array.isArray(e.choices))).toBe(true);
    expect(stream.state.endedAt - startedAt).toBeGreaterThanOrEqual(GRACE - 20);
    expect(stream.state.endedAt - startedAt).toBeLessThan(GRACE + 300);
  });

  it('answers the plain request with a 503 error object', async () => {
    const r = await plain;
    expect(r.status).toBe(503);
    expectShuttingDown(((await r.json()) as OpenAIErrorBody).error);
  });

  it('answers the half-sent body with a 503 and closes the connections of the slow reader and the silent client', async () => {
    await halfBody.closed;
    const r = parseRawResponse(halfBody.data) as RawResponse;
    expect(r.status).toBe(503);
    expectShuttingDown((JSON.parse(r.body) as OpenAIErrorBody).error);
    expect(silent.isClosed).toBe(true);
    // The server closed it; the client sees that once it reads again.
    slowReader.socket.resume();
    await slowReader.closed;
    // shutdownServer returned, so the server had no connection left.
    expect(await new Promise((resolve) => server.app.server.getConnections((_e, n) => resolve(n)))).toBe(0);
  });

  it('frees every KV block', async () => {
    await kvIsFree();
  });
});

describe('within the grace period', () => {
  it('lets the requests in flight finish and returns as soon as they have', async () => {
    const server = await startServer(llm, { keepAliveTimeoutMs: 120_000 });
    const idle = await RawClient.connect(server.origin);
    idle.write('GET /health HTTP/1.1\r\nhost: x\r\n\r\n');
    await idle.response();
    const body = { prompt: 'Hello', max_tokens: 200, ignore_eos: true };
    const streamed = postJSON(`${server.origin}/v1/completions`, { ...body, stream: true });
    const plain = postJSON(`${server.origin}/v1/completions`, body);
    await waitFor(() => llm.engine.numUnfinishedRequests === 2, 'both requests to be under way');
    const started = Date.now();
    const log = vi.spyOn(server.app.log, 'info');
    const result = await shutdownServer(server.app, { graceMs: 30_000 });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(result).toEqual({ inFlight: 2, aborted: 0, drained: true, durationMs: expect.any(Number), graceMs: 30_000 });
    expect(result.durationMs).toBeLessThan(3000);
    expect(log).toHaveBeenCalledOnce();
    expect(log.mock.calls[0]![1]).toMatch(/^shut down in \d+(\.\d)? s: drained \(2 requests were in flight, all finished\)$/);
    const sse = parseSSE<{ choices: { finish_reason: string | null }[] }>(await (await streamed).text());
    expect(sse.done).toBe(true);
    expect(sse.events.at(-1)!.choices[0]!.finish_reason).toBe('length');
    const r = await plain;
    expect(r.status).toBe(200);
    expect(((await r.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens).toBe(200);
    expect(idle.isClosed).toBe(true);
    await kvIsFree();
  });

  it('refuses a request that arrives on an open connection while draining: 503, connection closed', async () => {
    const server = await startServer(llm);
    const client = await RawClient.connect(server.origin);
    client.write(rawRequestBytes('POST', '/v1/completions', { headers: { connection: 'keep-alive' }, body: { prompt: 'Hi', max_tokens: 300, n: 8, ignore_eos: true } }));
    await sleep(100);
    const shutdown = shutdownServer(server.app, { graceMs: 30_000 });
    await sleep(50);
    // Pipelined behind the first, which still runs.
    client.write('GET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n');
    await client.closed;
    const first = parseRawResponse(client.data)!;
    expect(first.status).toBe(200);
    const second = parseRawResponse(client.data.subarray(first.totalBytes))!;
    expect(second.status).toBe(503);
    expect(second.headers.connection).toBe('close');
    expectShuttingDown((JSON.parse(second.body) as OpenAIErrorBody).error);
    expect(await shutdown).toMatchObject({ inFlight: 1, aborted: 0, drained: true });
  });

  it('returns at once when nothing is in flight', async () => {
    const server = await startServer(llm);
    expect((await fetch(`${server.origin}/health`)).status).toBe(200);
    const started = Date.now();
    expect(await shutdownServer(server.app, { graceMs: 30_000 })).toMatchObject({ inFlight: 0, aborted: 0, drained: true });
    expect(Date.now() - started).toBeLessThan(500);
  });
});

describe('a stream to a client that stops reading', () => {
  // On loopback the kernel takes megabytes before a writer blocks, more than the model makes in a
  // test, so the blocked writer is a response that never drains.
  it('stops waiting for it at the shutdown and queues the error event and [DONE]', async () => {
    const written: string[] = [];
    const stuck: (() => void)[] = [];
    let reading = false;
    const res = Object.assign(
      new Writable({
        highWaterMark: 1,
        write(chunk: Buffer, _encoding, callback) {
          written.push(chunk.toString());
          if (reading) callback();
          else stuck.push(callback); // never completes while the client does not read
        },
      }),
      { writeHead: () => undefined },
    );
    const reply = { hijack: () => undefined, getHeaders: () => ({}), raw: res } as unknown as FastifyReply;
    const shutdown = new AbortController();
    let produced = 0;
    async function* chunks() {
      for (;;) {
        produced++;
        yield { choices: [{ index: 0, text: 'x'.repeat(100) }] };
        await sleep(1);
      }
    }
    const sending = sendStream(reply, chunks(), { disconnect: new AbortController().signal, shutdown: shutdown.signal });
    await sleep(100);
    expect(produced).toBe(1); // blocked on the first write
    shutdown.abort();
    await sending; // returns although nothing drained
    expect(res.writableEnded).toBe(true);
    reading = true;
    for (const callback of stuck.splice(0)) callback();
    await new Promise((resolve) => res.once('finish', resolve).on('error', resolve));
    // What the client would get once it reads again: the chunk, the error event, [DONE].
    const sse = parseSSE<{ error?: OpenAIErrorBody['error'] }>(written.join(''));
    expect(sse.done).toBe(true);
    expectShuttingDown(sse.events.at(-1)!.error!);
  });
});
