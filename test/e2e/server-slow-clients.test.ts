// Slow, idle and malformed clients against the real server, over raw TCP: a request that is not
// received in time is cut off with a 408, an idle keep-alive connection is closed, a crowd of idle
// connections above maxConnections cannot lock real clients out, and every error Node raises on a
// connection before a route runs (400, 408, 413, 431) is a well-formed HTTP response whose body
// is the OpenAI error object. Long responses, streamed or not, are not cut by the request timeout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { LLM } from '../../lib/llm.js';
import { type OpenAIErrorBody, RawClient, type RawResponse, type RunningServer, parseSSE, postJSON, rawRequest, rawRequestBytes, startServer } from '../helpers/http-server.js';
import { loadTestLLM, sleep } from '../helpers/test-llm.js';

const REQUEST_TIMEOUT = 600;
const HEADERS_TIMEOUT = 400;
const KEEP_ALIVE = 300;
const BODY_LIMIT = 4096;
// Node checks its connections every headersTimeout / 4 here (see app.ts), and reports late.
const SLACK = 400;

let llm: LLM;
let limits: RunningServer;
let crowded: RunningServer; // maxConnections 20

beforeAll(async () => {
  llm = await loadTestLLM({ maxModelLen: 512 });
  limits = await startServer(llm, { requestTimeoutMs: REQUEST_TIMEOUT, headersTimeoutMs: HEADERS_TIMEOUT, keepAliveTimeoutMs: KEEP_ALIVE, bodyLimit: BODY_LIMIT });
  crowded = await startServer(llm, { maxConnections: 20, requestTimeoutMs: 1000, headersTimeoutMs: 500 });
});
afterAll(async () => {
  await limits?.close();
  await crowded?.close();
  await llm?.close();
});

/** The response must be a complete HTTP/1.1 answer with the OpenAI error object, and nothing after it. */
function expectRawError(client: RawClient, r: RawResponse, status: number, code: string, message: RegExp) {
  expect(r.status, r.body).toBe(status);
  expect(r.headers['content-type']).toMatch(/^application\/json/);
  expect(r.headers.connection).toBe('close');
  expect(Number(r.headers['content-length'])).toBe(Buffer.byteLength(r.body));
  const text = client.data.toString('utf8');
  expect(text.endsWith(r.body)).toBe(true); // the content-length covers exactly the body
  const body = JSON.parse(r.body) as OpenAIErrorBody;
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error).toEqual({ message: expect.stringMatching(message), type: 'invalid_request_error', param: null, code });
}

const HEAD = 'POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n';

describe('request timeout', () => {
  it('headers, then a body that never comes: 408 after the request timeout, and closed', async () => {
    const client = await RawClient.connect(limits.origin);
    client.write(`${HEAD}content-length: 100\r\n\r\n{"prompt":`);
    const r = await client.response();
    const at = Date.now() - client.openedAt;
    expectRawError(client, r, 408, 'request_timeout', /timeout/i);
    expect(at).toBeGreaterThanOrEqual(REQUEST_TIMEOUT - 50);
    expect(at).toBeLessThan(REQUEST_TIMEOUT + SLACK);
    expect(await client.closed).toBeLessThan(REQUEST_TIMEOUT + SLACK + 200);
  });

  it('a body trickled a byte at a time: 408 after the request timeout', async () => {
    const client = await RawClient.connect(limits.origin);
    client.write(`${HEAD}content-length: 1000\r\n\r\n`);
    const trickle = setInterval(() => !client.isClosed && client.write(' '), 50);
    try {
      const r = await client.response();
      expectRawError(client, r, 408, 'request_timeout', /timeout/i);
      expect(Date.now() - client.openedAt).toBeLessThan(REQUEST_TIMEOUT + SLACK);
      await client.closed;
    } finally {
      clearInterval(trickle);
    }
  });

  it('headers trickled a byte at a time: 408 after the headers timeout', async () => {
    const client = await RawClient.connect(limits.origin);
    const bytes = `${HEAD}x-slow: ${'a'.repeat(200)}\r\n`;
    let i = 0;
    const trickle = setInterval(() => !client.isClosed && i < bytes.length && client.write(bytes[i++]!), 20);
    try {
      const r = await client.response();
      expectRawError(client, r, 408, 'request_timeout', /timeout/i);
      expect(Date.now() - client.openedAt).toBeLessThan(HEADERS_TIMEOUT + SLACK);
    } finally {
      clearInterval(trickle);
    }
  });

  it('a connection that sends nothing is closed after the headers timeout', async () => {
    const client = await RawClient.connect(limits.origin);
    const closedAfter = await client.closed;
    expect(closedAfter).toBeGreaterThanOrEqual(HEADERS_TIMEOUT - 50);
    expect(closedAfter).toBeLessThan(HEADERS_TIMEOUT + SLACK);
    if (client.data.length > 0) expectRawError(client, (await client.response())!, 408, 'request_timeout', /timeout/i);
  });

  it('an idle keep-alive connection is closed after the keep-alive timeout', async () => {
    const client = await RawClient.connect(limits.origin);
    client.write('GET /health HTTP/1.1\r\nhost: x\r\n\r\n');
    const r = await client.response();
    expect(r.status).toBe(200);
    expect(r.headers.connection).toBe('keep-alive');
    const answeredAt = Date.now() - client.openedAt;
    // Node closes it up to a second after the timeout it advertises.
    const idle = (await client.closed) - answeredAt;
    expect(idle).toBeGreaterThanOrEqual(KEEP_ALIVE - 50);
    expect(idle).toBeLessThan(KEEP_ALIVE + 1000 + SLACK);
  });

  it('a long streamed response is not cut by the request timeout', async () => {
    const started = Date.now();
    const r = await postJSON(`${limits.origin}/v1/completions`, { prompt: 'Once', max_tokens: 480, n: 16, ignore_eos: true, stream: true });
    const sse = parseSSE<{ choices: { index: number; finish_reason: string | null }[] }>(await r.text());
    const took = Date.now() - started;
    expect(took).toBeGreaterThan(3 * REQUEST_TIMEOUT + SLACK);
    expect(sse.done).toBe(true);
    const finished = sse.events.flatMap((e) => e.choices).filter((c) => c.finish_reason !== null);
    expect(finished).toHaveLength(16);
    expect(finished.every((c) => c.finish_reason === 'length')).toBe(true);
  });

  it('a long non-streamed response is not cut either', async () => {
    const started = Date.now();
    const r = await postJSON(`${limits.origin}/v1/completions`, { prompt: 'Once', max_tokens: 480, n: 8, ignore_eos: true });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { choices: { finish_reason: string }[]; usage: { completion_tokens: number } };
    expect(Date.now() - started).toBeGreaterThan(REQUEST_TIMEOUT + SLACK);
    expect(body.usage.completion_tokens).toBe(8 * 480);
  });
});

describe('errors on the connection, before any route', () => {
  it('431 for 20 KB of headers', async () => {
    const client = await RawClient.connect(limits.origin);
    client.write(`GET /health HTTP/1.1\r\nhost: x\r\n${Array.from({ length: 20 }, (_, i) => `x-h${i}: ${'a'.repeat(1000)}\r\n`).join('')}\r\n`);
    expectRawError(client, await client.response(), 431, 'headers_too_large', /header/i);
    await client.closed;
  });

  it.each([
    ['a garbage request line', 'HELLO THERE\r\n\r\n'],
    ['an unknown HTTP version', 'GET /health HTTP/7.1\r\nhost: x\r\n\r\n'],
    ['a header line without a colon', 'GET /health HTTP/1.1\r\nhost: x\r\nnot a header\r\n\r\n'],
    ['a bad content-length', `${HEAD}content-length: twelve\r\n\r\n`],
    ['a bad chunk size', `${HEAD}transfer-encoding: chunked\r\n\r\nzz\r\n`],
    ['binary noise', Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, 0x0d, 0x0a, 0x0d, 0x0a])],
  ])('400 for %s', async (_name, bytes) => {
    const client = await RawClient.connect(limits.origin);
    client.write(bytes);
    expectRawError(client, await client.response(), 400, 'bad_request', /Malformed HTTP request/);
    await client.closed;
  });

  it('413 for a declared body over the limit, and for a chunked one', async () => {
    const declared = await rawRequest(limits.origin, 'POST', '/v1/completions', { body: { prompt: 'x'.repeat(BODY_LIMIT) } });
    expect(declared.status).toBe(413);
    expect((JSON.parse(declared.body) as OpenAIErrorBody).error.message).toMatch(/too large/i);

    const client = await RawClient.connect(limits.origin);
    client.write(`${HEAD}transfer-encoding: chunked\r\nconnection: close\r\n\r\n`);
    for (let i = 0; i < 6; i++) client.write(`400\r\n${'x'.repeat(1024)}\r\n`);
    const chunked = await client.response();
    expect(chunked.status).toBe(413);
    expect(Object.keys(JSON.parse(chunked.body) as OpenAIErrorBody)).toEqual(['error']);
    client.destroy();
  });

  it('the server still serves afterwards', async () => {
    const r = await rawRequest(limits.origin, 'POST', '/v1/completions', { body: { prompt: 'Hi', max_tokens: 2 } });
    expect(r.status).toBe(200);
    expect(llm.stats().numRunning).toBe(0);
  });
});

describe('maxConnections', () => {
  it('50 idle sockets against a limit of 20: the extra ones are closed at once, the rest time out, and a real request is served', async () => {
    let most = 0;
    const watch = setInterval(() => crowded.app.server.getConnections((_e, n) => (most = Math.max(most, n))), 10);
    try {
      const idle = await Promise.all(Array.from({ length: 50 }, () => RawClient.connect(crowded.origin)));
      await sleep(200);
      const dropped = idle.filter((c) => c.isClosed).length;
      expect(dropped).toBeGreaterThanOrEqual(30);
      // A real client is served once the idle ones have timed out (headers timeout 500 ms).
      const started = Date.now();
      let served: Response | undefined;
      while (!served && Date.now() - started < 5000) {
        served = await fetch(`${crowded.origin}/health`).catch(() => undefined);
        if (!served) await sleep(50);
      }
      expect(served?.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(500 + SLACK + 500);
      await Promise.all(idle.map((c) => c.closed));
      expect(most).toBeLessThanOrEqual(20);
    } finally {
      clearInterval(watch);
    }
    const r = await postJSON(`${crowded.origin}/v1/completions`, { prompt: 'Hi', max_tokens: 2 });
    expect(r.status).toBe(200);
  });

  it('sockets opened and dropped by the thousand leave no descriptors behind', async () => {
    const fds = async () => (await import('node:fs')).readdirSync('/proc/self/fd').length;
    const before = await fds();
    for (let round = 0; round < 10; round++) {
      const idle = await Promise.all(Array.from({ length: 100 }, () => RawClient.connect(crowded.origin).catch(() => undefined)));
      for (const c of idle) c?.destroy();
    }
    await sleep(300);
    expect(await fds()).toBeLessThanOrEqual(before + 5);
    expect((await fetch(`${crowded.origin}/health`)).status).toBe(200);
  });
});

it('rawRequestBytes sends what it is given', () => {
  expect(rawRequestBytes('GET', 'http://x/v1/models')).toMatch(/^GET http:\/\/x\/v1\/models HTTP\/1.1\r\n/);
});
