// The API key, attacked the way a probe would: every protected route under every spelling of its
// path that a router might take (percent-encoded, double-encoded, mixed case, dot segments,
// absolute-form request targets, `;` parameters, trailing and double slashes), sent raw over TCP
// so nothing normalises it on the way. Without the key none of them reaches a handler (401, the
// OpenAI error object); with it, exactly the spellings the router accepts work and the rest are
// 404s. Only /health, /ping, /version and /metrics answer without a key.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import type { LLM } from '../../lib/llm.js';
import { type OpenAIErrorBody, type RawResponse, type RunningServer, parseSSE, rawRequest, startServer } from '../helpers/http-server.js';
import { loadTestLLM } from '../helpers/test-llm.js';

const API_KEY = 'sk-auth-test-9f8e7d6c5b4a';
const AUTH = { authorization: `Bearer ${API_KEY}` };

let llm: LLM;
let secured: RunningServer;
let open: RunningServer;
/** Every response text, to check that the key never leaves the server. */
const seen: string[] = [];

beforeAll(async () => {
  llm = await loadTestLLM({ maxModelLen: 512 });
  secured = await startServer(llm, { apiKey: API_KEY });
  open = await startServer(llm);
});
afterAll(async () => {
  await secured?.close();
  await open?.close();
  await llm?.close();
});

async function send(server: RunningServer, method: string, target: string, init: { headers?: Record<string, string>; body?: unknown } = {}): Promise<RawResponse> {
  const r = await rawRequest(server.origin, method, target, init);
  seen.push(JSON.stringify(r.headers), r.body);
  return r;
}

function expectOpenAIError(r: RawResponse, status: number, message?: RegExp): OpenAIErrorBody['error'] {
  expect(r.status, r.body).toBe(status);
  expect(r.headers['content-type']).toMatch(/application\/json/);
  const body = JSON.parse(r.body) as OpenAIErrorBody;
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  if (message) expect(body.error.message).toMatch(message);
  return body.error;
}

interface Route {
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  /** What a served answer looks like. */
  served: (body: unknown) => void;
}

const ROUTES: Route[] = [
  { method: 'GET', path: '/v1/models', served: (b) => expect(b).toMatchObject({ object: 'list' }) },
  { method: 'POST', path: '/v1/completions', body: { prompt: 'Hi', max_tokens: 2 }, served: (b) => expect(b).toMatchObject({ object: 'text_completion' }) },
  {
    method: 'POST',
    path: '/v1/chat/completions',
    body: { messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 },
    served: (b) => expect(b).toMatchObject({ object: 'chat.completion' }),
  },
  { method: 'POST', path: '/tokenize', body: { prompt: 'Hi' }, served: (b) => expect(b).toHaveProperty('tokens') },
  { method: 'POST', path: '/detokenize', body: { tokens: [1, 2] }, served: (b) => expect(b).toHaveProperty('prompt') },
];

const hex = (c: string) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
const capitalise = (path: string) => path.replace(/\/([a-z])/g, (_m, c: string) => `/${c.toUpperCase()}`);

/** Spellings of a path; `accepted`: the router takes it for the path itself. */
function variants(path: string): { name: string; target: string; accepted: boolean }[] {
  const first = path[1]!;
  const rest = path.slice(2);
  const lastSlash = path.lastIndexOf('/');
  return [
    { name: 'as is', target: path, accepted: true },
    { name: 'percent-encoded', target: `/${hex(first)}${rest}`, accepted: true },
    { name: 'all percent-encoded', target: path.replace(/[^/]/g, hex), accepted: true },
    { name: 'double-encoded', target: `/%25${hex(first).slice(1)}${rest}`, accepted: false },
    { name: 'mixed case', target: capitalise(path), accepted: false },
    { name: 'upper case', target: path.toUpperCase(), accepted: false },
    { name: 'dot-dot segment', target: `/x/..${path}`, accepted: false },
    { name: 'dot segment in front', target: `/.${path}`, accepted: false },
    { name: 'dot segment inside', target: `${path.slice(0, lastSlash)}/.${path.slice(lastSlash)}`, accepted: false },
    { name: 'self dot-dot', target: `${path}/../${path.slice(lastSlash + 1)}`, accepted: false },
    { name: 'absolute-form', target: `http://x${path}`, accepted: true },
    { name: 'absolute-form, upper-case scheme and port', target: `HTTP://EXAMPLE.COM:1234${path}`, accepted: true },
    { name: 'absolute-form https', target: `https://x${path}?a=1`, accepted: true },
    { name: 'absolute-form, double slash', target: `http://x/${path}`, accepted: false },
    { name: '; parameter', target: `${path};x=1`, accepted: false },
    { name: 'trailing slash', target: `${path}/`, accepted: false },
    { name: 'leading double slash', target: `/${path}`, accepted: false },
    { name: 'inner double slash', target: `${path.slice(0, lastSlash)}/${path.slice(lastSlash)}`, accepted: false },
    { name: 'encoded slash', target: lastSlash === 0 ? `/%2F${path.slice(1)}` : `${path.slice(0, lastSlash)}%2F${path.slice(lastSlash + 1)}`, accepted: false },
    { name: 'query string', target: `${path}?x=1`, accepted: true },
    { name: 'fragment', target: `${path}#x`, accepted: true },
    { name: 'encoded NUL', target: `${path}%00`, accepted: false },
  ];
}

const cases = ROUTES.flatMap((route) => variants(route.path).map((v) => ({ ...v, route, label: `${route.method} ${v.target} (${v.name})` })));

describe('without the key, no spelling of a protected route reaches its handler', () => {
  it.each(cases.map((c) => [c.label, c] as const))('%s: 401', async (_label, c) => {
    const generate = vi.spyOn(llm.engine, 'generate');
    const encode = vi.spyOn(llm.tokenizer, 'encode');
    const decode = vi.spyOn(llm.tokenizer, 'decode');
    try {
      const attempts: Record<string, string>[] = [{}, { authorization: 'Bearer sk-wrong' }, { authorization: API_KEY }, { authorization: `Basic ${API_KEY}` }, { authorization: `Bearer ${API_KEY}x` }];
      for (const headers of attempts) {
        const r = await send(secured, c.route.method, c.target, { headers, ...(c.route.body !== undefined && { body: c.route.body }) });
        const e = expectOpenAIError(r, 401, /api key/i);
        expect(e.code).toBe('invalid_api_key');
      }
      expect(generate).not.toHaveBeenCalled();
      expect(encode).not.toHaveBeenCalled();
      expect(decode).not.toHaveBeenCalled();
    } finally {
      vi.restoreAllMocks();
    }
  });
});

describe('with the key, the spellings the router takes are served and the rest are 404s', () => {
  it.each(cases.map((c) => [c.label, c] as const))('%s', async (_label, c) => {
    const r = await send(secured, c.route.method, c.target, { headers: AUTH, ...(c.route.body !== undefined && { body: c.route.body }) });
    if (c.accepted) {
      expect(r.status, r.body).toBe(200);
      c.route.served(JSON.parse(r.body));
    } else {
      expectOpenAIError(r, 404, /not found/);
    }
    // The server without a key answers the same spellings the same way.
    const plain = await send(open, c.route.method, c.target, c.route.body !== undefined ? { body: c.route.body } : {});
    expect(plain.status).toBe(r.status);
  });

  it('the scheme is case-insensitive (RFC 9110), the key is not', async () => {
    expect((await send(secured, 'GET', '/v1/models', { headers: { authorization: `bearer ${API_KEY}` } })).status).toBe(200);
    expect((await send(secured, 'GET', '/v1/models', { headers: { authorization: `BEARER  ${API_KEY}` } })).status).toBe(200);
    expectOpenAIError(await send(secured, 'GET', '/v1/models', { headers: { authorization: `Bearer ${API_KEY.toUpperCase()}` } }), 401);
  });
});

describe('streaming requests', () => {
  const streamed = [
    { path: '/v1/completions', body: { prompt: 'Once upon a time', max_tokens: 8, stream: true } },
    { path: '/v1/chat/completions', body: { messages: [{ role: 'user', content: 'Hi' }], max_tokens: 8, stream: true } },
  ];
  const targets = (path: string) => [path, `/${hex(path[1]!)}${path.slice(2)}`, path.replace(/[^/]/g, hex), `http://x${path}`, `HTTP://x:80${path}?stream=1`];

  it.each(streamed.flatMap((s) => targets(s.path).map((t) => [t, s] as const)))('%s: 401 without the key, a whole stream with it', async (target, s) => {
    const generate = vi.spyOn(llm.engine, 'generate');
    try {
      expectOpenAIError(await send(secured, 'POST', target, { body: s.body }), 401);
      expect(generate).not.toHaveBeenCalled();
    } finally {
      vi.restoreAllMocks();
    }
    const r = await send(secured, 'POST', target, { headers: AUTH, body: s.body });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/text\/event-stream/);
    const sse = parseSSE(r.body);
    expect(sse.done).toBe(true);
    expect(sse.events.length).toBeGreaterThan(1);
  });
});

describe('the allow-list', () => {
  it.each([
    ['GET', '/health'],
    ['GET', '/ping'],
    ['POST', '/ping'],
    ['GET', '/version'],
    ['GET', '/metrics'],
    ['GET', '/%68ealth'],
    ['GET', 'http://x/ping'],
    ['HEAD', '/health'],
  ])('%s %s answers without a key', async (method, target) => {
    const r = await send(secured, method, target);
    expect(r.status).toBe(200);
  });

  it('/ping answers as /health does', async () => {
    const health = await send(open, 'GET', '/health');
    for (const method of ['GET', 'POST']) {
      const ping = await send(open, method, '/ping');
      expect(ping.status).toBe(200);
      expect(ping.body).toBe(health.body);
    }
  });

  it('HEAD of a protected GET route needs the key', async () => {
    expect((await send(secured, 'HEAD', '/v1/models')).status).toBe(401);
    expect((await send(secured, 'HEAD', '/v1/models', { headers: AUTH })).status).toBe(200);
  });

  it('/tokenize and /detokenize need the key (unlike vLLM)', async () => {
    expectOpenAIError(await send(secured, 'POST', '/tokenize', { body: { prompt: 'Hi' } }), 401);
    expectOpenAIError(await send(secured, 'POST', '/detokenize', { body: { tokens: [1] } }), 401);
  });
});

describe('requests that match no route', () => {
  it.each([
    ['GET', '/v1/nothing-here'],
    ['POST', '/admin'],
    ['GET', '/'],
    ['DELETE', '/v1/models'],
    ['OPTIONS', '*'],
  ])('%s %s: 401 without the key, 404 with it', async (method, target) => {
    expectOpenAIError(await send(secured, method, target), 401);
    expectOpenAIError(await send(secured, method, target, { headers: AUTH }), 404, /not found/);
  });

  it('a path that cannot be decoded: 401 without the key, a 400 error object with it', async () => {
    expectOpenAIError(await send(secured, 'GET', '/v1/%zz'), 401);
    expectOpenAIError(await send(secured, 'GET', '/v1/%zz', { headers: AUTH }), 400, /not a valid url/);
    expectOpenAIError(await send(open, 'GET', '/v1/%zz'), 400);
  });
});

describe('secrets', () => {
  it('the key appears in no response', () => {
    expect(seen.length).toBeGreaterThan(100);
    for (const text of seen) expect(text).not.toContain(API_KEY);
  });
});
