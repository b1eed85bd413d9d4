// JSON request bodies: fastify's own parser (secure-json-parse), which refuses prototype keys
// (`__proto__`, `constructor.prototype`) anywhere in the body, but with the same "not valid JSON"
// message as broken JSON. This one names the key, as the RunPod jobs do (lib/prototype-keys.ts).
// The OpenAI server and the worker's local API both use it, each with its own error shape.
// Bodies of any other content type (text/plain, forms, none at all) get a 415 on the OpenAI server
// that says to send JSON: see refuseOtherBodies.
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
  const parse: Parameters<FastifyInstance['addContentTypeParser']>[2] = (request, body, done) => {
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
  };
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parse);
  // JSON under a structured-syntax suffix (application/vnd.api+json), as FastAPI (vLLM) takes it.
  app.addContentTypeParser(/^application\/[\w!#$&^.-]+\+json\s*(;|$)/, { parseAs: 'string' }, parse);
}

/** The request's media type as a message may quote it, or null where it does not read as one. */
function mediaType(header: string | undefined): string | null {
  const type = header?.split(';')[0]!.trim().toLowerCase();
  return type && type.length <= 100 && /^[\w!#$&^.+-]+\/[\w!#$&^.+-]+$/.test(type) ? type : null;
}

/** The 415 for a body that is not JSON: it says what came and what to send. */
export function notJsonError(contentType: string | undefined): OpenAIError {
  const type = mediaType(contentType);
  const came = contentType === undefined ? 'has no Content-Type' : type ? `is ${type}` : 'has a Content-Type that is not a media type';
  return new OpenAIError(
    415,
    `Unsupported Media Type: the request body ${came}; send it as JSON, with the header Content-Type: application/json`,
    'invalid_request_error',
    null,
    'unsupported_media_type',
  );
}

/**
 * The OpenAI server's routes take JSON only: a body of any other content type, or one without a
 * content type, is refused with notJsonError (fastify would parse text/plain into a string, and
 * refuse the rest with a bare "Unsupported Media Type"). The public routes (/ping takes a POST)
 * and requests that match no route (404, or 401 first) do not look at their body.
 */
export function refuseOtherBodies(app: FastifyInstance): void {
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('*', (request, _payload, done) => {
    if (request.is404 || request.routeOptions.config?.public === true) return done(null, undefined);
    done(notJsonError(request.headers['content-type']), undefined);
  });
}
