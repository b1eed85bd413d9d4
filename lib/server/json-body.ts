// JSON request bodies: fastify's own parser (secure-json-parse), which refuses prototype keys
// (`__proto__`, `constructor.prototype`) anywhere in the body, but with the same "not valid JSON"
// message as broken JSON. This one names the key, as the RunPod jobs do (lib/prototype-keys.ts).
// The OpenAI server and the worker's local API both use it, each with its own error shape.
import type { FastifyInstance } from 'fastify';

import { OpenAIError } from '../openai/errors.js';
import { findPrototypeKey } from '../prototype-keys.js';

/** The OpenAI server's refusal: a 400 whose `param` is the key. */
function openAIRefusal(key: string): Error {
  return new OpenAIError(400, `The request body has the key ${key}, which is not allowed (it could reach an object's prototype)`, 'invalid_request_error', key);
}

export function parseJsonBodies(app: FastifyInstance, refuse: (key: string) => Error = openAIRefusal): void {
  const secureParse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    secureParse(request, body as string, (error: Error | null, value?: unknown) => {
      if (!error || body.length === 0) return done(error, value);
      let key: string | null = null;
      try {
        key = findPrototypeKey(JSON.parse(body as string));
      } catch {
        // Not JSON at all: fastify's error says so.
      }
      if (!key) return done(error, undefined);
      done(refuse(key), undefined);
    });
  });
}
