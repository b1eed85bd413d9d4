// CORS as vLLM's server does it (lib/server/cors.ts), over raw HTTP: a preflight gets 204 and the
// CORS headers even where an API key is required (a browser sends it without the key), a request
// with an Origin gets Access-Control-Allow-Origin (a 401 too, so that the page can read it, and a
// stream), and `nodellm serve --allowed-origins ... --allow-credentials` reaches the server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { LLM } from '../../lib/llm.js';
import { runCli } from '../helpers/child-worker.js';
import { type RawResponse, type RunningServer, parseSSE, portForChild, rawRequest, startServer } from '../helpers/http-server.js';
import { loadTestLLM } from '../helpers/test-llm.js';

const API_KEY = 'sk-cors-test-5e6f7a8b';
const AUTH = { authorization: `Bearer ${API_KEY}` };
const ORIGIN = 'https://app.example';

let llm: LLM;
/** vLLM's defaults (every origin, method and header) and an API key. */
let secured: RunningServer;
/** One origin, two methods, one header, credentials. */
let narrow: RunningServer;
/** Every origin, with credentials. */
let credentials: RunningServer;
let off: RunningServer;

beforeAll(async () => {
  llm = await loadTestLLM({ maxModelLen: 512 });
  secured = await startServer(llm, { apiKey: API_KEY });
  narrow = await startServer(llm, {
    apiKey: API_KEY,
    cors: { allowedOrigins: [ORIGIN], allowedMethods: ['GET', 'POST'], allowedHeaders: ['Authorization'], allowCredentials: true },
  });
  credentials = await startServer(llm, { cors: { allowCredentials: true } });
  off = await startServer(llm, { apiKey: API_KEY, cors: false });
});
afterAll(async () => {
  for (const s of [secured, narrow, credentials, off]) await s?.close();
  await llm?.close();
});

function preflight(server: RunningServer | string, target = '/v1/chat/completions', origin = ORIGIN): Promise<RawResponse> {
  return rawRequest(typeof server === 'string' ? server : server.origin, 'OPTIONS', target, {
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
  });
}

describe('a preflight', () => {
  it.each(['/v1/chat/completions', '/v1/completions', '/v1/models', '/v1/nothing-here'])('to %s gets 204 and the CORS headers, without the API key', async (target) => {
    const r = await preflight(secured, target);
    expect(r.status, r.body).toBe(204);
    expect(r.headers['access-control-allow-origin']).toBe('*');
    expect(r.headers['access-control-allow-methods']).toBe('DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT');
    expect(r.headers['access-control-allow-headers']).toBe('authorization, content-type');
    expect(r.headers['access-control-max-age']).toBe('600');
    expect(r.headers['access-control-allow-credentials']).toBeUndefined();
    expect(r.body).toBe('');
  });

  it('gets the configured origin, methods and headers, and credentials', async () => {
    const r = await preflight(narrow);
    expect(r.status).toBe(204);
    expect(r.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(r.headers['access-control-allow-credentials']).toBe('true');
    expect(r.headers['access-control-allow-methods']).toBe('GET, POST');
    expect(r.headers['access-control-allow-headers']).toBe('Accept, Accept-Language, Authorization, Content-Language, Content-Type');
    expect(r.headers.vary).toMatch(/Origin/);
  });

  it('from an origin not on the list gets no Access-Control-Allow-Origin (the browser stops there)', async () => {
    const r = await preflight(narrow, '/v1/chat/completions', 'https://elsewhere.example');
    expect(r.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('with credentials and every origin allowed, gets its own origin back (browsers refuse * with credentials)', async () => {
    const r = await preflight(credentials);
    expect(r.status).toBe(204);
    expect(r.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(r.headers['access-control-allow-credentials']).toBe('true');
  });

  it('without CORS (cors: false) is a request like any other: 401 without the key', async () => {
    const r = await preflight(off);
    expect(r.status).toBe(401);
    expect(r.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('an OPTIONS request that is not a preflight', () => {
  it.each([
    ['an Origin but no Access-Control-Request-Method', { origin: ORIGIN }],
    ['no Origin', { 'access-control-request-method': 'POST' }],
  ])('(%s) still needs the key: 401, then 404 with it', async (_name, headers) => {
    expect((await rawRequest(secured.origin, 'OPTIONS', '/v1/models', { headers })).status).toBe(401);
    expect((await rawRequest(secured.origin, 'OPTIONS', '/v1/models', { headers: { ...headers, ...AUTH } })).status).toBe(404);
  });
});

describe('a request with an Origin', () => {
  it('gets Access-Control-Allow-Origin', async () => {
    const r = await rawRequest(secured.origin, 'GET', '/v1/models', { headers: { origin: ORIGIN, ...AUTH } });
    expect(r.status).toBe(200);
    expect(r.headers['access-control-allow-origin']).toBe('*');
  });

  it('gets it on a 401 too, so that the page can read the error', async () => {
    const r = await rawRequest(secured.origin, 'GET', '/v1/models', { headers: { origin: ORIGIN } });
    expect(r.status).toBe(401);
    expect(r.headers['access-control-allow-origin']).toBe('*');
  });

  it('gets it on a stream', async () => {
    const r = await rawRequest(secured.origin, 'POST', '/v1/completions', {
      headers: { origin: ORIGIN, ...AUTH },
      body: { prompt: 'Once upon a time', max_tokens: 4, stream: true },
    });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/text\/event-stream/);
    expect(r.headers['access-control-allow-origin']).toBe('*');
    expect(parseSSE(r.body).done).toBe(true);
  });

  it('gets its own origin back, with credentials, where the list names it', async () => {
    const r = await rawRequest(narrow.origin, 'POST', '/v1/completions', { headers: { origin: ORIGIN, ...AUTH }, body: { prompt: 'Hi', max_tokens: 2 } });
    expect(r.status).toBe(200);
    expect(r.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(r.headers['access-control-allow-credentials']).toBe('true');
  });

  it('from an origin not on the list gets none', async () => {
    const r = await rawRequest(narrow.origin, 'GET', '/v1/models', { headers: { origin: 'https://elsewhere.example', ...AUTH } });
    expect(r.status).toBe(200);
    expect(r.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('a request without an Origin', () => {
  it('gets no CORS headers', async () => {
    const r = await rawRequest(secured.origin, 'GET', '/v1/models', { headers: AUTH });
    expect(r.status).toBe(200);
    expect(r.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('nodellm serve', () => {
  it('takes vLLM\'s CORS flags', async () => {
    const port = await portForChild();
    const run = runCli(
      [
        'serve', '--host', '127.0.0.1', '--port', String(port), '--max-model-len', '256', '--api-key', API_KEY,
        '--allowed-origins', JSON.stringify([ORIGIN]), '--allowed-methods', '["POST"]', '--allowed-headers', '["X-Custom"]', '--allow-credentials',
      ],
    );
    try {
      await run.waitForLine(/nodellm serving/);
      const r = await preflight(`http://127.0.0.1:${port}`);
      expect(r.status).toBe(204);
      expect(r.headers['access-control-allow-origin']).toBe(ORIGIN);
      expect(r.headers['access-control-allow-credentials']).toBe('true');
      expect(r.headers['access-control-allow-methods']).toBe('POST');
      expect(r.headers['access-control-allow-headers']).toBe('Accept, Accept-Language, Content-Language, Content-Type, X-Custom');
    } finally {
      run.child.kill('SIGKILL');
      await run.exited;
    }
  });

  it.each([
    ['--allowed-origins', 'https://app.example'],
    ['--allowed-methods', '"GET"'],
    ['--allowed-headers', '[1]'],
    ['--allowed-origins', ''],
  ])('refuses %s %j, naming the flag', async (flag, value) => {
    const run = runCli(['serve', '--port', String(await portForChild()), flag, value]);
    expect(await run.exited).toBe(1);
    expect(run.output()).toContain(`${flag} must be a JSON list of strings, e.g. '["*"]', but received ${value === '' ? 'an empty string' : value}`);
    expect(run.output()).not.toMatch(/nodellm serving/);
  });
});
