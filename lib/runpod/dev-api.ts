// `nodellm worker --rp_serve_api`: a local stand-in for RunPod's endpoint API, for developing
// against the worker without the platform. Unlike runpod-python's dev server it behaves like the
// real API: POST /run queues the job and runs it (up to MAX_CONCURRENCY at once); GET /stream/{id}
// returns the items streamed since the previous call (waiting a little for new ones); GET
// /status/{id} reports the status and, once done, the output or error; POST /runsync waits for
// the result (up to ?wait= ms, 90 s at most). POST works for /stream and /status too, for
// clients of the SDK's dev server. Also POST /cancel/{id}, GET /health, POST /purge-queue.
import { randomUUID } from 'node:crypto';

import Fastify, { type FastifyInstance } from 'fastify';

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
}

const TERMINAL = new Set<Status>(['COMPLETED', 'FAILED', 'CANCELLED']);

export function createDevApi(options: DevApiOptions): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 32 * 1024 * 1024 });
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
    try {
      await fetch(job.webhook!, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(view(job)),
        signal: AbortSignal.timeout(10_000),
      });
    } catch (error) {
      options.log.warn(`The webhook failed (${describeError(error)})`, job.id);
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

  const submit = (body: unknown): DevJob | string => {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return 'The request body must be a JSON object';
    const { input, webhook } = body as { input?: unknown; webhook?: unknown };
    if (input === null || typeof input !== 'object' || Array.isArray(input)) return '"input" must be a JSON object';
    if (webhook !== undefined && typeof webhook !== 'string') return '"webhook" must be a URL';
    const job: DevJob = {
      id: `test-${randomUUID()}`,
      input,
      ...(webhook !== undefined && { webhook }),
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
