// The OpenAI-compatible HTTP server (fastify). Routes as vLLM serves them: /v1/models,
// /v1/completions, /v1/chat/completions (JSON or SSE), /tokenize, /detokenize, /health,
// /version, /metrics. Every error leaves as an OpenAI error object with its HTTP status.
import { timingSafeEqual } from 'node:crypto';

import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

import type { LLM } from '../llm.js';
import { startChat } from '../openai/chat.js';
import { startCompletion } from '../openai/completions.js';
import { OpenAIError, toOpenAIError } from '../openai/errors.js';
import { modelList } from '../openai/models.js';
import { detokenize, tokenize } from '../openai/tokenize.js';
import { createMetrics } from './metrics.js';
import { sendStream } from './sse.js';

export const VERSION = '0.1.0';

export interface ServerOptions {
  /** When set, /v1 routes require `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Largest accepted request body in bytes. Default 32 MiB. */
  bodyLimit?: number;
  logger?: boolean;
}

/** An AbortSignal that fires when the client goes away before the response is complete. */
function disconnectSignal(request: FastifyRequest, reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  request.raw.on('aborted', () => controller.abort());
  return controller.signal;
}

type Started = { json: unknown } | { stream: AsyncIterable<unknown> };

async function respond(reply: FastifyReply, started: Started, signal: AbortSignal) {
  if ('json' in started) return reply.send(started.json);
  await sendStream(reply, started.stream, signal);
  return reply;
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function createServer(llm: LLM, options: ServerOptions = {}): FastifyInstance {
  const app = Fastify({ logger: options.logger ?? false, bodyLimit: options.bodyLimit ?? 32 * 1024 * 1024 });
  const metrics = createMetrics(llm.engine);

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, _request, reply) => {
    let e = toOpenAIError(error);
    // fastify's own errors: malformed JSON, oversize body, wrong content type.
    if (!(error instanceof OpenAIError) && error.statusCode && error.statusCode < 500) {
      e = new OpenAIError(error.statusCode, error.message, 'invalid_request_error', null, error.code ?? null);
    }
    reply.status(e.status).headers(e.headers).send(e.toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    const e = new OpenAIError(404, `Route ${request.method} ${request.url} not found`, 'invalid_request_error', null, 'not_found');
    reply.status(404).send(e.toJSON());
  });

  if (options.apiKey) {
    const expected = `Bearer ${options.apiKey}`;
    app.addHook('onRequest', async (request, reply) => {
      if (!request.url.startsWith('/v1/')) return;
      if (!sameSecret(request.headers.authorization ?? '', expected)) {
        const e = new OpenAIError(401, 'Invalid or missing API key (send Authorization: Bearer <key>)', 'invalid_request_error', null, 'invalid_api_key');
        return reply.status(401).send(e.toJSON());
      }
    });
  }

  app.get('/health', async () => ({}));
  app.get('/version', async () => ({ version: VERSION }));
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', metrics.contentType);
    return metrics.metrics();
  });

  app.get('/v1/models', async () => modelList(llm));

  app.post('/v1/completions', async (request, reply) => {
    const signal = disconnectSignal(request, reply);
    return respond(reply, await startCompletion({ engine: llm.engine, body: request.body, signal }), signal);
  });

  app.post('/v1/chat/completions', async (request, reply) => {
    const signal = disconnectSignal(request, reply);
    return respond(reply, await startChat({ llm, body: request.body, signal }), signal);
  });

  app.post('/tokenize', async (request) => tokenize(llm, request.body));
  app.post('/detokenize', async (request) => detokenize(llm, request.body));

  return app;
}
