// The OpenAI-compatible HTTP server (fastify). Routes as vLLM serves them: /v1/models,
// /v1/completions, /v1/chat/completions (JSON or SSE), /tokenize, /detokenize, /health, /ping,
// /version, /metrics. Every error leaves as an OpenAI error object with its HTTP status, including
// those raised on the connection before any route runs (see client-errors.ts). CORS as vLLM's
// (see cors.ts).
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

import type { LLM } from '../llm.js';
import { startChat } from '../openai/chat.js';
import { startCompletion } from '../openai/completions.js';
import { OpenAIError, toOpenAIError } from '../openai/errors.js';
import { modelList } from '../openai/models.js';
import { detokenize, tokenize } from '../openai/tokenize.js';
import { packageVersion } from '../package-root.js';
import { PUBLIC, authorized, requireApiKey, sendUnauthorized } from './auth.js';
import { clientErrorHandler } from './client-errors.js';
import { type CorsOptions, enableCors } from './cors.js';
import { notJsonError, parseJsonBodies, refuseOtherBodies } from './json-body.js';
import { createMetrics } from './metrics.js';
import { type StreamSignals, sendStream } from './sse.js';
import { shuttingDownError, trackForShutdown } from './shutdown.js';

export const VERSION = packageVersion();

export interface ServerOptions {
  /**
   * When set, every route needs `Authorization: Bearer <apiKey>`, except the allow-list /health,
   * /ping, /version and /metrics; so does a request that matches no route (401 before 404).
   */
  apiKey?: string;
  /** Largest accepted request body in bytes (413 above it). Default 32 MiB. */
  bodyLimit?: number;
  /**
   * Time a client has to send a whole request, headers and body, in ms; then it gets a 408 and
   * the connection is closed. Responses (streamed or not) are not limited. Default 30 000.
   */
  requestTimeoutMs?: number;
  /**
   * Time a client has to send the request line and headers, in ms (408 after it); a connection
   * that sends nothing is closed after it too. Capped at requestTimeoutMs. Default 10 000.
   */
  headersTimeoutMs?: number;
  /** How long an idle keep-alive connection stays open between requests, in ms (Node closes it up to 1 s later). Default 5000. */
  keepAliveTimeoutMs?: number;
  /** Most connections open at once; a new one above it is closed at once. Default 1024. */
  maxConnections?: number;
  /**
   * CORS, as vLLM's --allowed-origins, --allowed-methods, --allowed-headers and
   * --allow-credentials; what is left out takes vLLM's default (every origin, method and header,
   * no credentials), as does leaving the option out. false: no CORS headers at all.
   */
  cors?: CorsOptions | false;
  logger?: boolean;
}

export const SERVER_DEFAULTS = {
  bodyLimit: 32 * 1024 * 1024,
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 1024,
} as const;

function positiveInteger(name: keyof typeof SERVER_DEFAULTS, value: number | undefined): number {
  const n = value ?? SERVER_DEFAULTS[name];
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`ServerOptions.${name} must be a positive integer, but received ${n}`);
  return n;
}

/**
 * The signals a generation listens to: the client going away, the server's shutdown, and either
 * (for the engine). No AbortSignal.any: the shutdown signal lives as long as the server, and the
 * listener each request puts on it is taken off when its response closes.
 */
function requestSignals(request: FastifyRequest, reply: FastifyReply, shutdown: AbortSignal): StreamSignals & { either: AbortSignal } {
  const disconnect = new AbortController();
  const either = new AbortController();
  const onShutdown = () => either.abort();
  shutdown.addEventListener('abort', onShutdown, { once: true });
  const onDisconnect = () => {
    disconnect.abort();
    either.abort();
  };
  reply.raw.on('close', () => {
    shutdown.removeEventListener('abort', onShutdown);
    if (!reply.raw.writableFinished) onDisconnect();
  });
  request.raw.on('aborted', onDisconnect);
  return { disconnect: disconnect.signal, shutdown, either: either.signal };
}

type Started = { json: unknown } | { stream: AsyncIterable<unknown> };

async function respond(reply: FastifyReply, started: Started, signals: StreamSignals) {
  // Cut short by the shutdown before anything was sent: a 503 rather than a truncated answer.
  if (signals.shutdown.aborted) {
    if ('stream' in started) await started.stream[Symbol.asyncIterator]().return?.();
    throw shuttingDownError();
  }
  if ('json' in started) return reply.send(started.json);
  await sendStream(reply, started.stream, signals);
  return reply;
}

export function createServer(llm: LLM, options: ServerOptions = {}): FastifyInstance {
  const requestTimeout = positiveInteger('requestTimeoutMs', options.requestTimeoutMs);
  const headersTimeout = Math.min(positiveInteger('headersTimeoutMs', options.headersTimeoutMs), requestTimeout);
  const { apiKey } = options;
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: positiveInteger('bodyLimit', options.bodyLimit),
    requestTimeout,
    keepAliveTimeout: positiveInteger('keepAliveTimeoutMs', options.keepAliveTimeoutMs),
    // No socket inactivity timeout: a non-streamed generation is silent until it is done.
    connectionTimeout: 0,
    // Node enforces both timeouts only when it checks its connections (every 30 s by default).
    http: { headersTimeout, requestTimeout, connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(headersTimeout / 4))) },
    // While draining, shutdown.ts answers with an OpenAI error instead of fastify's own 503.
    return503OnClosing: false,
    clientErrorHandler,
    // A path that cannot be decoded (`/v1/%zz`): a 400 in the OpenAI shape, after the key check.
    frameworkErrors: (error, request, frameworkReply) => {
      const reply = frameworkReply as FastifyReply;
      if (apiKey && !authorized(request, apiKey)) return sendUnauthorized(reply);
      const e = new OpenAIError(error.statusCode ?? 400, error.message, 'invalid_request_error', null, error.code ?? null);
      return reply.status(e.status).send(e.toJSON());
    },
  });
  app.server.maxConnections = positiveInteger('maxConnections', options.maxConnections);
  parseJsonBodies(app);
  refuseOtherBodies(app);
  const metrics = createMetrics(llm.engine);

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    let e = toOpenAIError(error);
    // fastify's own errors: malformed JSON, oversize body, wrong content type.
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') e = notJsonError(request.headers['content-type']);
    else if (!(error instanceof OpenAIError) && error.statusCode && error.statusCode < 500) {
      e = new OpenAIError(error.statusCode, error.message, 'invalid_request_error', null, error.code ?? null);
    }
    reply.status(e.status).headers(e.headers).send(e.toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    const e = new OpenAIError(404, `Route ${request.method} ${request.url} not found`, 'invalid_request_error', null, 'not_found');
    reply.status(404).send(e.toJSON());
  });

  // First, so that a request arriving while the server drains is refused before anything else.
  const shutdown = trackForShutdown(app);
  // CORS before the key, as vLLM's middleware wraps its key check: a preflight (which a browser
  // sends without the key) is answered before the check, and a 401 carries the CORS headers so
  // that the page can read it. The plugin's hook is added when the plugins load; the key's hook
  // after it (app.after).
  if (options.cors !== false) enableCors(app, options.cors ?? {});
  if (apiKey) app.after(() => requireApiKey(app, apiKey));

  // The allow-list: liveness and monitoring answer without the key.
  app.get('/health', PUBLIC, async () => ({}));
  app.get('/ping', PUBLIC, async () => ({}));
  app.post('/ping', PUBLIC, async () => ({}));
  app.get('/version', PUBLIC, async () => ({ version: VERSION }));
  app.get('/metrics', PUBLIC, async (_request, reply) => {
    reply.header('content-type', metrics.contentType);
    return metrics.metrics();
  });

  app.get('/v1/models', async () => modelList(llm));

  app.post('/v1/completions', async (request, reply) => {
    const signals = requestSignals(request, reply, shutdown);
    return respond(reply, await startCompletion({ engine: llm.engine, body: request.body, signal: signals.either }), signals);
  });

  app.post('/v1/chat/completions', async (request, reply) => {
    const signals = requestSignals(request, reply, shutdown);
    return respond(reply, await startChat({ llm, body: request.body, signal: signals.either }), signals);
  });

  app.post('/tokenize', async (request) => tokenize(llm, request.body));
  app.post('/detokenize', async (request) => detokenize(llm, request.body));

  return app;
}
