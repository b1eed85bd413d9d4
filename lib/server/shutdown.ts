// Graceful shutdown (SIGTERM / SIGINT in `nodellm serve`): stop accepting, close idle keep-alive
// connections at once, let the requests in flight finish for a grace period, then abort what is
// left (a stream ends with an error event and [DONE], a plain request gets a 503), and finally
// destroy every connection still open, so that no client (one that stops reading, one that never
// finishes its body, an idle keep-alive) can hold the process up. It ends with one log line: drained
// or cut off at the timeout, and how long it took.
import type { ServerResponse } from 'node:http';

import type { FastifyInstance, FastifyReply } from 'fastify';

import { OpenAIError } from '../openai/errors.js';

export function shuttingDownError(): OpenAIError {
  return new OpenAIError(503, 'The server is shutting down', 'server_error', null, 'server_shutting_down', { connection: 'close' });
}

interface InFlight {
  reply: FastifyReply;
  /** Whether its handler runs (before that, its body may still be arriving). */
  handling: boolean;
}

class Drain {
  draining = false;
  /** Fires at the end of the grace period: the handlers still running must stop. */
  readonly abort = new AbortController();
  readonly inFlight = new Set<InFlight>();
  private waiters = new Set<() => void>();

  constructor(private readonly app: FastifyInstance) {}

  ended(entry: InFlight): void {
    this.inFlight.delete(entry);
    if (!this.draining) return;
    // The finished response's keep-alive connection is idle now: close it (on the next turn,
    // once Node has put the connection back to idle).
    setImmediate(() => this.app.server.closeIdleConnections());
    if (this.inFlight.size === 0) for (const wake of this.waiters) wake();
  }

  /** Resolves when nothing is in flight, or after `ms`. */
  settled(ms: number): Promise<void> {
    if (this.inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.waiters.add(wake);
    });
  }
}

const drains = new WeakMap<FastifyInstance, Drain>();

/**
 * Installs the hooks that shutdownServer needs; call it before any other hook, so that a request
 * arriving while the server drains is refused (503) before anything else runs. Returns the signal
 * that fires when the requests in flight must stop.
 */
export function trackForShutdown(app: FastifyInstance): AbortSignal {
  const drain = new Drain(app);
  drains.set(app, drain);
  const entries = new WeakMap<object, InFlight>();
  app.addHook('onRequest', async (request, reply) => {
    if (drain.draining) {
      const e = shuttingDownError();
      return reply.status(e.status).headers(e.headers).send(e.toJSON());
    }
    const entry: InFlight = { reply, handling: false };
    drain.inFlight.add(entry);
    entries.set(request.raw, entry);
    reply.raw.once('close', () => drain.ended(entry));
  });
  app.addHook('preHandler', async (request) => {
    const entry = entries.get(request.raw);
    if (entry) entry.handling = true;
  });
  return drain.abort.signal;
}

export interface ShutdownOptions {
  /** How long the requests and streams in flight may run on before they are aborted, in ms. */
  graceMs: number;
  /** After the abort, how long their last bytes get to go out before every connection is destroyed, in ms. Default 1000. */
  flushMs?: number;
}

export interface ShutdownResult {
  /** Requests in flight when shutdown began. */
  inFlight: number;
  /** Of those, the ones still running at the end of the grace period, and so aborted. */
  aborted: number;
  /** Whether every request in flight finished within the grace period (nothing was aborted). */
  drained: boolean;
  /** From the start of the shutdown until the last connection closed, in ms. */
  durationMs: number;
  /** The grace period it ran with, in ms. */
  graceMs: number;
}

const seconds = (ms: number) => `${Number((ms / 1000).toFixed(1))} s`;
const took = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The shutdown's log line: drained or cut off at the timeout, and how long it took. */
export function describeShutdown({ inFlight, aborted, drained, durationMs, graceMs }: ShutdownResult): string {
  const requests = `${inFlight} ${inFlight === 1 ? 'request was' : 'requests were'} in flight`;
  return drained
    ? `shut down in ${took(durationMs)}: drained (${requests}${inFlight > 0 ? ', all finished' : ''})`
    : `shut down in ${took(durationMs)}: cut off at the ${seconds(graceMs)} timeout (${requests}, ${aborted} aborted)`;
}

/** 503 for a request whose handler never ran (its body was still arriving). */
function refuse(res: ServerResponse): void {
  if (res.headersSent || res.writableEnded) return;
  const e = shuttingDownError();
  res.writeHead(e.status, { 'content-type': 'application/json; charset=utf-8', ...e.headers });
  res.end(JSON.stringify(e.toJSON()));
}

/** Drains and closes a server made by createServer (see the top of this file). */
export async function shutdownServer(app: FastifyInstance, { graceMs, flushMs = 1000 }: ShutdownOptions): Promise<ShutdownResult> {
  const drain = drains.get(app);
  if (!drain) throw new Error('shutdownServer: the server was not made by createServer');
  const started = performance.now();
  drain.draining = true;
  const inFlight = drain.inFlight.size;
  // Closes the listener (new connections are refused) and, in Node, the idle keep-alive
  // connections; it resolves once every connection is gone.
  const closed = app.close();
  await drain.settled(graceMs);
  const aborted = drain.inFlight.size;
  if (aborted > 0) {
    drain.abort.abort();
    for (const entry of drain.inFlight) if (!entry.handling) refuse(entry.reply.raw);
    await drain.settled(flushMs);
  }
  // What is left: clients that do not read, bodies never finished, connections that sent nothing.
  app.server.closeAllConnections();
  await closed;
  const result: ShutdownResult = { inFlight, aborted, drained: aborted === 0, durationMs: Math.round(performance.now() - started), graceMs };
  app.log.info({ inFlight, aborted, drained: result.drained, durationMs: result.durationMs }, describeShutdown(result));
  return result;
}
