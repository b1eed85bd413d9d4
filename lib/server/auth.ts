// The API key. The check is decided by the route the router matched, never by the raw request
// target: the router percent-decodes the path and accepts absolute-form targets
// (`POST http://x/v1/completions`), so any test of the string itself can be walked around.
// Only routes marked PUBLIC answer without the key; every other route, and every request that
// matches no route (401 before 404, so the route table cannot be probed), needs it.
import { createHash, timingSafeEqual } from 'node:crypto';

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { OpenAIError } from '../openai/errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Answers without the API key (the allow-list: /health, /ping, /version, /metrics). */
    public?: boolean;
  }
}

/** Route options for the routes on the allow-list. */
export const PUBLIC = { config: { public: true } } as const;

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Equal strings, compared in time that depends on neither's content nor length. */
export function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** Whether the request carries `Authorization: Bearer <apiKey>` (the scheme's case does not matter, RFC 9110). */
export function authorized(request: FastifyRequest, apiKey: string): boolean {
  const token = /^bearer +(.*)$/is.exec(request.headers.authorization ?? '')?.[1];
  return token !== undefined && sameSecret(token, apiKey);
}

/** The 401. It closes the connection, so an unread body is not read on for nothing. */
export function sendUnauthorized(reply: FastifyReply): FastifyReply {
  const e = new OpenAIError(401, 'Invalid or missing API key (send Authorization: Bearer <key>)', 'invalid_request_error', null, 'invalid_api_key');
  return reply.status(401).header('connection', 'close').send(e.toJSON());
}

export function requireApiKey(app: FastifyInstance, apiKey: string): void {
  app.addHook('onRequest', async (request, reply) => {
    // routeOptions.config is the matched route's (the not-found handler's has no `public`).
    if (request.routeOptions.config?.public === true) return;
    if (!authorized(request, apiKey)) return sendUnauthorized(reply);
  });
}
