// The local endpoint API (`nodellm worker --rp_serve_api`) as a target: a job's `webhook` is a
// server-side request the caller chooses, so it must reach only the hosts the operator allowed
// (--rp_webhook_hosts), never follow a redirect elsewhere, and never leak the result into the
// log; bodies with prototype keys, unknown routes and never-finished requests must be answered
// (in JSON) or cut off. Most tests drive createDevApi in-process with a fake handler; the CLI's
// own defaults (loopback bind, the flag's parsing) are checked on a spawned worker.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import os from 'node:os';

import { afterEach, describe, expect, it } from 'vitest';

import { type DevApiOptions, createDevApi, parseWebhookHosts } from '../../lib/runpod/dev-api.js';
import type { Handler } from '../../lib/runpod/job.js';
import { createLogger } from '../../lib/runpod/logger.js';
import { runCli } from '../helpers/child-worker.js';
import { portForChild, postJSON } from '../helpers/http-server.js';
import { sleep } from '../helpers/test-llm.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

let handlerCalls = 0;
/** Echoes input.text (after input.sleepMs), so a result is recognisable wherever it turns up. */
const fakeHandler: Handler = async function* (job) {
  handlerCalls++;
  const input = job.input as { text?: string; sleepMs?: number };
  if (input.sleepMs) await sleep(input.sleepMs);
  yield { echo: input.text ?? 'ok' };
};

async function startApi(options: Partial<DevApiOptions> = {}) {
  const logs: string[] = [];
  const app = createDevApi({
    handler: fakeHandler,
    concurrency: 2,
    log: createLogger({ level: 'DEBUG', write: (line) => logs.push(line), secrets: [] }),
    errorContext: { hostname: 'local', workerId: 'local' },
    ...options,
  });
  const origin = await app.listen({ host: '127.0.0.1', port: 0 });
  cleanups.push(() => app.close());
  return { app, origin, logs };
}

interface Hit {
  method: string;
  url: string;
  contentType: string | undefined;
  body: string;
}

/** A local HTTP server that records every request it gets and answers as `answer` says. */
async function recorder(answer: (res: http.ServerResponse) => void = (res) => res.end()) {
  const hits: Hit[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      hits.push({ method: req.method!, url: req.url!, contentType: req.headers['content-type'], body });
      answer(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const port = (server.address() as AddressInfo).port;
  return { hits, port, origin: `http://127.0.0.1:${port}` };
}

async function until(condition: () => boolean, ms = 3000) {
  for (const deadline = Date.now() + ms; !condition() && Date.now() < deadline; ) await sleep(10);
}

async function errorOf(response: Response) {
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  return ((await response.json()) as { error: string }).error;
}

describe('--rp_webhook_hosts entries', () => {
  it('are host or host:port, compared in normalized form (case, IPv4 spelling, IPv6 brackets)', () => {
    expect(parseWebhookHosts(' LocalHost:8080 , Example.COM,,127.1, [::1]:9')).toEqual(['localhost:8080', 'example.com', '127.0.0.1', '[::1]:9']);
    for (const bad of ['*.example.com', '*', 'http://example.com', 'example.com/hook', 'user@example.com', 'example.com:0', 'example.com:70000', 'example.com:']) {
      expect(() => parseWebhookHosts(bad), bad).toThrow(/--rp_webhook_hosts: .* is not a hostname or host:port/);
    }
  });
});

describe('job webhooks', () => {
  it('to a host that is not allowed: a 400 naming "webhook" and the flag, no job, and nothing reaches the host', async () => {
    const forbidden = await recorder();
    const allowed = await recorder();
    const off = await startApi();
    const on = await startApi({ webhookHosts: [`127.0.0.1:${allowed.port}`] });
    const calls = handlerCalls;
    const cases: [string, string][] = [
      [off.origin, `${forbidden.origin}/admin`],
      [on.origin, `${forbidden.origin}/admin`], // same address, another port
      [on.origin, `http://localhost:${allowed.port}/`], // hosts are matched by name as written
      [on.origin, 'https://127.0.0.1/'], // port 443, not the allowed one
    ];
    for (const [origin, webhook] of cases) {
      for (const route of ['/run', '/runsync']) {
        const r = await postJSON(`${origin}${route}`, { input: { text: 'secret result' }, webhook });
        expect(r.status, `${route} ${webhook}`).toBe(400);
        const error = await errorOf(r);
        expect(error).toMatch(/"webhook"/);
        expect(error).toMatch(/--rp_webhook_hosts/);
        expect(error).not.toMatch(/admin/); // the path (which may hold a token) is not echoed
      }
    }
    const health = (await (await fetch(`${on.origin}/health`)).json()) as { jobs: Record<string, number> };
    expect(Object.values(health.jobs).every((n) => n === 0)).toBe(true);
    expect(handlerCalls).toBe(calls);
    await sleep(200);
    expect(forbidden.hits).toEqual([]);
    expect(allowed.hits).toEqual([]);
  });

  it('to an allowed host: it receives one POST with the job\'s final view', async () => {
    const hook = await recorder();
    const api = await startApi({ webhookHosts: [`127.0.0.1:${hook.port}`] });
    const result = (await (await postJSON(`${api.origin}/runsync`, { input: { text: 'hello' }, webhook: `${hook.origin}/done?token=t1` })).json()) as {
      id: string;
      status: string;
    };
    expect(result.status).toBe('COMPLETED');
    await until(() => hook.hits.length > 0);
    expect(hook.hits).toHaveLength(1);
    expect(hook.hits[0]).toMatchObject({ method: 'POST', url: '/done?token=t1', contentType: 'application/json' });
    expect(JSON.parse(hook.hits[0]!.body)).toEqual(await (await fetch(`${api.origin}/status/${result.id}`)).json());
    expect(JSON.parse(hook.hits[0]!.body)).toMatchObject({ id: result.id, status: 'COMPLETED', output: [{ echo: 'hello' }] });

    // A bare host allows any port; entries and URLs are compared case-insensitively.
    const anyPort = await startApi({ webhookHosts: ['127.0.0.1', 'LocalHost'] });
    const r = await postJSON(`${anyPort.origin}/runsync`, { input: { text: 'again' }, webhook: `${hook.origin}/again` });
    expect(r.status).toBe(200);
    expect((await postJSON(`${anyPort.origin}/run`, { input: {}, webhook: `HTTP://LOCALHOST:${hook.port}/x` })).status).toBe(200);
    await until(() => hook.hits.some((h) => h.url === '/again'));
    expect(hook.hits.map((h) => h.url)).toContain('/again');
  });

  it('a redirect from an allowed host is not followed: the redirect target gets nothing', async () => {
    const target = await recorder();
    const bouncer = await recorder((res) => {
      res.writeHead(307, { location: `${target.origin}/steal` });
      res.end();
    });
    const api = await startApi({ webhookHosts: [`127.0.0.1:${bouncer.port}`] });
    const result = (await (await postJSON(`${api.origin}/runsync`, { input: { text: 'x' }, webhook: `${bouncer.origin}/hook` })).json()) as { id: string; status: string };
    expect(result.status).toBe('COMPLETED');
    await until(() => bouncer.hits.length > 0 && api.logs.some((l) => /HTTP 307/.test(l)));
    expect(bouncer.hits).toHaveLength(1);
    await sleep(200);
    expect(target.hits).toEqual([]);
    expect(api.logs.find((l) => /webhook/.test(l))).toBe(`WARN  | ${result.id} | The webhook at ${bouncer.origin} answered HTTP 307; redirects are not followed`);
  });

  it('malformed webhooks are refused with a 400, even on an allowed host', async () => {
    const hook = await recorder();
    const api = await startApi({ webhookHosts: ['127.0.0.1'] });
    const cases: [unknown, RegExp][] = [
      [`ftp://127.0.0.1:${hook.port}/x`, /"webhook" must be an http or https URL/],
      ['file:///etc/passwd', /"webhook" must be an http or https URL/],
      ['javascript:alert(1)', /"webhook" must be an http or https URL/],
      [`http://user:pass@127.0.0.1:${hook.port}/`, /"webhook" must not carry credentials/],
      [`http://user@127.0.0.1:${hook.port}/`, /"webhook" must not carry credentials/],
      ['not a url', /"webhook" must be a URL/],
      ['', /"webhook" must be a URL/],
      [`127.0.0.1:${hook.port}/no-scheme`, /"webhook"/],
      [42, /"webhook" must be a URL/],
      [{ url: hook.origin }, /"webhook" must be a URL/],
      [null, /"webhook" must be a URL/],
    ];
    for (const [webhook, message] of cases) {
      const r = await postJSON(`${api.origin}/run`, { input: {}, webhook });
      expect(r.status, JSON.stringify(webhook)).toBe(400);
      expect(await errorOf(r)).toMatch(message);
    }
    await sleep(200);
    expect(hook.hits).toEqual([]);
  });

  it('a failed webhook is logged by its origin only: not its path or query, nor the job\'s result', async () => {
    const closed = await recorder();
    const port = closed.port;
    await cleanups.pop()!(); // nothing listens on that port any more
    const api = await startApi({ webhookHosts: [`127.0.0.1:${port}`] });
    const result = (await (await postJSON(`${api.origin}/runsync`, { input: { text: 'RESULT-MARKER' }, webhook: `http://127.0.0.1:${port}/p?token=HOOK-SECRET` })).json()) as {
      id: string;
    };
    await until(() => api.logs.some((l) => /webhook/.test(l)));
    const line = api.logs.find((l) => /webhook/.test(l));
    expect(line).toBe(`WARN  | ${result.id} | The webhook at http://127.0.0.1:${port} failed (ECONNREFUSED)`);
    expect(api.logs.join('\n')).not.toMatch(/RESULT-MARKER|HOOK-SECRET|\/p\?/);
  });
});

describe('the dev API\'s robustness', () => {
  it('`__proto__` and `constructor.prototype` keys are refused with a JSON 400 naming the cause; nothing is polluted', async () => {
    const api = await startApi();
    const calls = handlerCalls;
    const cases: [string, string][] = [
      ['{"__proto__": {"polluted": true}, "input": {}}', '__proto__'],
      ['{"input": {"__proto__": {"polluted": true}}}', 'input.__proto__'],
      ['{"input": {"a": [{"__proto\\u005f_": {"polluted": true}}]}}', 'input.a[0].__proto__'], // escaped, nested
      ['{"input": {"constructor": {"prototype": {"polluted": true}}}}', 'input.constructor.prototype'],
    ];
    for (const [body, key] of cases) {
      for (const route of ['/run', '/runsync']) {
        const r = await postJSON(`${api.origin}${route}`, body);
        expect(r.status, body).toBe(400);
        expect(await errorOf(r)).toBe(`The body has the key ${key}, which is refused (it could pollute object prototypes)`);
      }
    }
    // A plain "constructor" value is harmless and accepted.
    expect((await postJSON(`${api.origin}/runsync`, { input: { constructor: 'x', text: 'c' } })).status).toBe(200);
    expect(handlerCalls).toBe(calls + 1);
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    // Jobs live in a Map: ids that name Object.prototype members are just unknown ids.
    for (const path of ['/status/__proto__', '/status/constructor', '/stream/toString', '/stream/__proto__']) {
      const r = await fetch(`${api.origin}${path}`);
      expect(r.status, path).toBe(404);
      expect(await errorOf(r)).toMatch(/not found/);
    }
    const cancel = await postJSON(`${api.origin}/cancel/hasOwnProperty`, {});
    expect(cancel.status).toBe(404);
  });

  it('unknown routes answer a JSON 404; bad bodies a JSON 400 (415 for a content type it does not parse)', async () => {
    const api = await startApi();
    const notFound = await fetch(`${api.origin}/admin?x=1`);
    expect(notFound.status).toBe(404);
    expect(await errorOf(notFound)).toBe('Route GET /admin not found');
    const cases: [string, number, RegExp][] = [
      ['{"input": ', 400, /not valid JSON/],
      ['', 400, /cannot be empty/],
      ['null', 400, /The request body must be a JSON object/],
      ['[{"input": {}}]', 400, /The request body must be a JSON object/],
      ['{"prompt": "no input key"}', 400, /"input" must be a JSON object/],
      ['{"input": ["a"]}', 400, /"input" must be a JSON object/],
      ['{"input": "text"}', 400, /"input" must be a JSON object/],
      ['{"input": {}, "webhook": 1}', 400, /"webhook" must be a URL/],
    ];
    for (const [body, status, message] of cases) {
      const r = await postJSON(`${api.origin}/run`, body);
      expect(r.status, body).toBe(status);
      expect(await errorOf(r)).toMatch(message);
    }
    const text = await fetch(`${api.origin}/run`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"input": {}}' });
    expect(text.status).toBe(400); // fastify parses text/plain as a string, which is not an object
    expect(await errorOf(text)).toBe('The request body must be a JSON object');
    const form = await fetch(`${api.origin}/run`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'input=1' });
    expect(form.status).toBe(415);
    expect(await errorOf(form)).toMatch(/Unsupported Media Type/i);
  });

  it('a request whose body never arrives is cut off after the request timeout; a slow /runsync still answers', async () => {
    expect((await startApi()).app.server.requestTimeout).toBe(30_000); // the default
    const api = await startApi({ requestTimeoutMs: 500 });
    const socket = net.connect(Number(new URL(api.origin).port), '127.0.0.1');
    let answer = '';
    socket.setEncoding('utf8').on('data', (data: string) => (answer += data));
    socket.on('error', () => {});
    const started = Date.now();
    socket.write('POST /run HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"input"');
    await new Promise((resolve) => socket.on('close', resolve));
    const elapsed = Date.now() - started;
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(5000);
    // The limit is on receiving the request, not on answering it.
    const slow = await postJSON(`${api.origin}/runsync`, { input: { text: 'late', sleepMs: 1500 } });
    expect(slow.status).toBe(200);
    expect(await slow.json()).toMatchObject({ status: 'COMPLETED', output: [{ echo: 'late' }] });
  });
});

/** 'connected', or the connect error's code, for a TCP connection to host:port. */
function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('timeout');
    }, 3000);
    socket.on('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve('connected');
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(error.code ?? 'error');
    });
  });
}

describe('nodellm worker --rp_serve_api (child process)', () => {
  it('listens on 127.0.0.1 only by default, and applies --rp_webhook_hosts', async () => {
    const port = await portForChild();
    const hook = await recorder();
    const other = await recorder();
    const run = runCli(['worker', '--rp_serve_api', '--rp_api_port', String(port), '--rp_webhook_hosts', `127.0.0.1:${hook.port}`]);
    try {
      await run.waitForLine(/Job webhooks allowed to/);
      expect(await tryConnect('127.0.0.1', port)).toBe('connected');
      // Not on the machine's other addresses. A wildcard listener on a spare port shows that such
      // an address is reachable from here, so the refusal means something.
      const external = Object.values(os.networkInterfaces())
        .flat()
        .find((a) => a?.family === 'IPv4' && !a.internal)?.address;
      if (external) {
        const probe = net.createServer();
        await new Promise<void>((resolve) => probe.listen(0, '0.0.0.0', resolve));
        expect(await tryConnect(external, (probe.address() as AddressInfo).port)).toBe('connected');
        probe.close();
        expect(await tryConnect(external, port)).toBe('ECONNREFUSED');
      } else {
        console.warn('no non-loopback IPv4 address: the bind was checked through the log line only');
      }
      expect(run.output()).toContain(`Local endpoint API on http://127.0.0.1:${port} `);
      expect(run.output()).toContain(`Job webhooks allowed to: 127.0.0.1:${hook.port}`);
      expect(run.output()).not.toMatch(/no authentication/);

      const origin = `http://127.0.0.1:${port}`;
      const input = { prompt: 'Hi', sampling_params: { max_tokens: 2 } };
      expect((await postJSON(`${origin}/runsync`, { input, webhook: `${other.origin}/x` })).status).toBe(400);
      const ok = (await (await postJSON(`${origin}/runsync`, { input, webhook: `${hook.origin}/done` })).json()) as { status: string };
      expect(ok.status).toBe('COMPLETED');
      await until(() => hook.hits.length > 0);
      expect(hook.hits.map((h) => h.url)).toEqual(['/done']);
      expect(other.hits).toEqual([]);
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
    } finally {
      run.child.kill('SIGKILL');
    }
  });

  it('an invalid --rp_webhook_hosts entry stops it at once, naming the flag and the entry', async () => {
    const run = runCli(['worker', '--rp_serve_api', '--rp_webhook_hosts', 'hooks.example.com,*.example.com']);
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(/--rp_webhook_hosts: "\*\.example\.com" is not a hostname or host:port/);
    expect(run.output()).not.toMatch(/Loading/);
  });
});
