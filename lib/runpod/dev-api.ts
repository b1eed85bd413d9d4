// `nodellm worker --rp_serve_api`: a local stand-in for RunPod's endpoint API, for developing
// against the worker without the platform. Unlike runpod-python's dev server it behaves like the
// real API: POST /run queues the job and runs it (up to MAX_CONCURRENCY at once); GET /stream/{id}
// returns the items streamed since the previous call (waiting a little for new ones); GET
// /status/{id} reports the status and, once done, the output or error; POST /runsync waits for
// the result (up to ?wait= ms, 90 s at most). POST works for /stream and /status too, for
// clients of the SDK's dev server. Also POST /cancel/{id}, GET /health, POST /purge-queue.
//
// It has no authentication, so it is meant for the loopback interface (the CLI's default). A
// job's `webhook` makes this process POST the result wherever the caller says, which would let
// anyone who can submit a job reach services only this machine can (server-side request
// forgery): it is honoured only for the hosts the operator allows (--rp_webhook_hosts), refused
// with a 400 otherwise, and the POST never follows redirects.
import { randomUUID } from 'node:crypto';

import Fastify, { type FastifyInstance } from 'fastify';

import { parseJsonBodies } from '../server/json-body.js';
import { describeError } from './http.js';
import type { ErrorInfoContext, Handler } from './job.js';
import type { Logger } from './logger.js';
import { runJob } from './run-job.js';

type Status = 'IN_QUEUE' | 'IN_PROGRESS' | 'COMPLETED' | 'FAILED' | 'CANCELLED';

interface DevJob {
  id: string;
  input: unknown;
  webhook?: string;
  status: Status;
  items: unknown[];
  /** Items already returned by /stream. */
  read: number;
  output?: unknown[];
  error?: string;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  controller: AbortController;
  waiters: (() => void)[];
}

export interface DevApiOptions {
  handler: Handler;
  concurrency: number;
  log: Logger;
  errorContext: ErrorInfoContext;
  /** How long /stream waits for a new item before answering with none. Default 5 s. */
  streamWaitMs?: number;
  /** Finished jobs are forgotten after this long. Default 30 minutes. */
  retainMs?: number;
  /** Hosts a job's `webhook` may point at: `host` (any port) or `host:port`. Default: none. */
  webhookHosts?: readonly string[];
  /** A request whose headers and body have not all arrived by then is answered 408. Default 30 s. */
  requestTimeoutMs?: number;
}

/** The flag that allows webhook hosts, named in every refusal so the user knows what to change. */
const WEBHOOK_HOSTS_FLAG = '--rp_webhook_hosts';

/**
 * One allow-list entry, normalized as URL.hostname normalizes a webhook's host (lower case,
 * IPv4 in dotted form, IPv6 in brackets), plus `:port` when it names one. No scheme, path,
 * credentials or wildcard: an entry names exactly one host.
 */
function webhookHostEntry(entry: string): string {
  const m = /^(\[[0-9a-f:.]+\]|[^:/?#@[\]*\s\\]+)(?::(\d{1,5}))?$/i.exec(entry);
  const port = m?.[2] === undefined ? null : Number(m[2]);
  let hostname: string | undefined;
  try {
    hostname = m ? new URL(`http://${m[1]}`).hostname : undefined;
  } catch {
    // not a valid host: refused below
  }
  if (!hostname || (port !== null && (port < 1 || port > 65535))) {
    throw new Error(`${WEBHOOK_HOSTS_FLAG}: "${entry}" is not a hostname or host:port (no scheme, path or wildcard)`);
  }
  return port === null ? hostname : `${hostname}:${port}`;
}

/** Parses a comma-separated --rp_webhook_hosts value; throws on an entry that is not a host. */
export function parseWebhookHosts(list: string): string[] {
  return list
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map(webhookHostEntry);
}

/** Why a job's `webhook` is refused, or null when it may be used. */
function webhookProblem(webhook: unknown, allowed: ReadonlySet<string>): string | null {
  if (typeof webhook !== 'string') return '"webhook" must be a URL';
  let url: URL;
  try {
    url = new URL(webhook);
  } catch {
    return '"webhook" must be a URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return '"webhook" must be an http or https URL';
  if (url.username !== '' || url.password !== '') return '"webhook" must not carry credentials (user:password@)';
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  if (allowed.has(url.hostname) || allowed.has(`${url.hostname}:${port}`)) return null;
  return allowed.size === 0
    ? `"webhook" is off: start the worker with ${WEBHOOK_HOSTS_FLAG} ${url.hostname} to allow webhooks to that host`
    : `"webhook" host ${url.host} is not allowed: add it to ${WEBHOOK_HOSTS_FLAG}`;
}

const TERMINAL = new Set<Status>(['COMPLETED', 'FAILED', 'CANCELLED']);

export function createDevApi(options: DevApiOptions): FastifyInstance {
  const requestTimeout = options.requestTimeoutMs ?? 30_000;
  const app = Fastify({
    logger: false,
    bodyLimit: 32 * 1024 * 1024,
    // A client that never finishes sending its request must not hold a connection for ever
    // (fastify's default is no limit). It bounds receiving the request only: /runsync may still
    // take 90 s to answer. Node swaps the two limits when headersTimeout (default 60 s) is the
    // larger, which would let a stalled body stay 60 s, and checks only every 30 s by default.
    requestTimeout,
    http: { headersTimeout: requestTimeout, connectionsCheckingInterval: Math.min(1000, requestTimeout) },
  });
  // Prototype keys are refused naming the key (fastify's parser says only "not valid JSON").
  parseJsonBodies(app, (key) => Object.assign(new Error(`The body has the key ${key}, which is refused (it could pollute object prototypes)`), { statusCode: 400 }));
  const webhookHosts = new Set((options.webhookHosts ?? []).map(webhookHostEntry));
  const jobs = new Map<string, DevJob>();
  const queue: DevJob[] = [];
  let running = 0;
  const streamWaitMs = options.streamWaitMs ?? 5000;
  const retainMs = options.retainMs ?? 30 * 60 * 1000;

  const changed = (job: DevJob) => {
    const waiters = job.waiters;
    job.waiters = [];
    for (const w of waiters) w();
  };
  const waitForChange = (job: DevJob, ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      job.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });

  const finish = (job: DevJob, status: Status) => {
    job.status = status;
    job.finishedAt = Date.now();
    changed(job);
    setTimeout(() => jobs.delete(job.id), retainMs).unref();
    if (job.webhook) void sendWebhook(job);
  };

  const sendWebhook = async (job: DevJob) => {
    // The log names the webhook by its origin only: its path or query may hold a token, and the
    // job's result never goes into a log line.
    const origin = new URL(job.webhook!).origin;
    try {
      const response = await fetch(job.webhook!, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(view(job)),
        // An allowed host must not be able to bounce the POST to one that is not.
        redirect: 'manual',
        signal: AbortSignal.timeout(10_000),
      });
      await response.body?.cancel();
      if (response.status >= 300 && response.status < 400) {
        options.log.warn(`The webhook at ${origin} answered HTTP ${response.status}; redirects are not followed`, job.id);
      } else if (!response.ok) {
        options.log.warn(`The webhook at ${origin} answered HTTP ${response.status}`, job.id);
      }
    } catch (error) {
      options.log.warn(`The webhook at ${origin} failed (${describeError(error)})`, job.id);
    }
  };

  const pump = () => {
    while (running < options.concurrency && queue.length > 0) {
      const job = queue.shift()!;
      running++;
      job.status = 'IN_PROGRESS';
      job.startedAt = Date.now();
      changed(job);
      void runJob(options.handler, { id: job.id, input: job.input }, {
        signal: job.controller.signal,
        errorContext: options.errorContext,
        onItem: async (item) => {
          job.items.push(item);
          changed(job);
        },
      }).then((result) => {
        running--;
        if (result === null) finish(job, 'CANCELLED');
        else if ('error' in result) {
          job.error = result.error;
          finish(job, 'FAILED');
        } else {
          job.output = result.output;
          finish(job, 'COMPLETED');
        }
        pump();
      });
    }
  };

  const view = (job: DevJob) => ({
    id: job.id,
    status: job.status,
    delayTime: (job.startedAt ?? Date.now()) - job.createdAt,
    ...(job.startedAt !== undefined && { executionTime: (job.finishedAt ?? Date.now()) - job.startedAt }),
    ...(job.output !== undefined && { output: job.output }),
    ...(job.error !== undefined && { error: job.error }),
  });

  // Every error leaves as {"error": message}, the shape of the dev API's own 400s and 404s:
  // fastify's (malformed JSON, a `__proto__` key, a wrong content type, an oversize body) and
  // unknown routes too. A 5xx keeps its details in the log.
  app.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) options.log.error(`${request.method} ${request.url.split('?')[0]}: ${error.message}`);
    return reply.status(status).send({ error: status === 500 ? 'Internal server error' : error.message });
  });
  app.setNotFoundHandler((request, reply) => reply.status(404).send({ error: `Route ${request.method} ${request.url.split('?')[0]} not found` }));

  const submit = (body: unknown): DevJob | string => {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return 'The request body must be a JSON object';
    const { input, webhook } = body as { input?: unknown; webhook?: unknown };
    if (input === null || typeof input !== 'object' || Array.isArray(input)) return '"input" must be a JSON object';
    const refused = webhook === undefined ? null : webhookProblem(webhook, webhookHosts);
    if (refused !== null) return refused;
    const job: DevJob = {
      id: `test-${randomUUID()}`,
      input,
      ...(typeof webhook === 'string' && { webhook }),
      status: 'IN_QUEUE',
      items: [],
      read: 0,
      createdAt: Date.now(),
      controller: new AbortController(),
      waiters: [],
    };
    jobs.set(job.id, job);
    queue.push(job);
    pump();
    return job;
  };

  app.post('/run', async (request, reply) => {
    const job = submit(request.body);
    if (typeof job === 'string') return reply.status(400).send({ error: job });
    // As the real API: /run answers with the job as queued (it may have started already).
    return { id: job.id, status: 'IN_QUEUE' };
  });

  app.post<{ Querystring: { wait?: string } }>('/runsync', async (request, reply) => {
    const job = submit(request.body);
    if (typeof job === 'string') return reply.status(400).send({ error: job });
    const wait = Math.min(90_000, Math.max(1000, Number(request.query.wait ?? 90_000) || 90_000));
    const deadline = Date.now() + wait;
    while (!TERMINAL.has(job.status) && Date.now() < deadline) await waitForChange(job, deadline - Date.now());
    return view(job);
  });

  const stream = async (id: string) => {
    const job = jobs.get(id);
    if (!job) return null;
    if (job.read === job.items.length && !TERMINAL.has(job.status)) await waitForChange(job, streamWaitMs);
    const fresh = job.items.slice(job.read);
    job.read += fresh.length;
    return {
      id: job.id,
      status: job.status,
      stream: fresh.map((output) => ({ output })),
      ...(job.error !== undefined && { error: job.error }),
    };
  };
  const notFound = (id: string) => ({ error: `Job ${id} not found` });
  for (const method of ['GET', 'POST'] as const) {
    app.route<{ Params: { id: string } }>({
      method,
      url: '/stream/:id',
      handler: async (request, reply) => (await stream(request.params.id)) ?? reply.status(404).send(notFound(request.params.id)),
    });
    app.route<{ Params: { id: string } }>({
      method,
      url: '/status/:id',
      handler: async (request, reply) => {
        const job = jobs.get(request.params.id);
        return job ? view(job) : reply.status(404).send(notFound(request.params.id));
      },
    });
  }

  app.post<{ Params: { id: string } }>('/cancel/:id', async (request, reply) => {
    const job = jobs.get(request.params.id);
    if (!job) return reply.status(404).send(notFound(request.params.id));
    const queued = queue.indexOf(job);
    if (queued !== -1) {
      queue.splice(queued, 1);
      finish(job, 'CANCELLED');
    } else if (!TERMINAL.has(job.status)) {
      job.controller.abort();
    }
    return { id: job.id, status: TERMINAL.has(job.status) ? job.status : 'CANCELLED' };
  });

  app.post('/purge-queue', async () => {
    const removed = queue.splice(0, queue.length);
    for (const job of removed) finish(job, 'CANCELLED');
    return { removed: removed.length, status: 'completed' };
  });

  app.get('/health', async () => {
    const count = (s: Status) => [...jobs.values()].filter((j) => j.status === s).length;
    return {
      jobs: { completed: count('COMPLETED'), failed: count('FAILED'), inProgress: count('IN_PROGRESS'), inQueue: count('IN_QUEUE'), retried: 0 },
      workers: { idle: running === 0 ? 1 : 0, initializing: 0, ready: 1, running: running > 0 ? 1 : 0, throttled: 0 },
    };
  });

  app.addHook('onClose', async () => {
    for (const job of jobs.values()) if (!TERMINAL.has(job.status)) job.controller.abort();
  });

  return app;
}
