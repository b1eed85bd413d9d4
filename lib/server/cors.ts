// CORS as vLLM's server does it (Starlette's CORSMiddleware, configured by --allowed-origins,
// --allowed-methods, --allowed-headers and --allow-credentials), through @fastify/cors:
// - a preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered 204 before the
//   API key is checked (a browser sends it without the key), for any path, so it tells nothing
//   about the route table; an OPTIONS request that is not a preflight goes on as any other request
//   (the key, then 404);
// - a request with an Origin gets Access-Control-Allow-Origin where the origin is allowed (`*` for
//   every origin; the origin itself under --allow-credentials, which a browser requires), a request
//   without one gets no CORS headers;
// - "*" among the methods allows every method; "*" among the headers allows whatever headers the
//   preflight asks for; otherwise the listed headers and the CORS-safelisted ones are allowed;
// - a preflight's answer may be cached for 600 s.
import fastifyCors, { type FastifyCorsOptions } from '@fastify/cors';
import type { FastifyInstance, FastifyRequest } from 'fastify';

export interface CorsOptions {
  /** Origins allowed, e.g. `https://app.example`; "*" allows every origin. Default ["*"]. An empty list turns CORS off. */
  allowedOrigins?: string[];
  /** Methods allowed; "*" allows every method. Default ["*"]. */
  allowedMethods?: string[];
  /** Request headers allowed; "*" allows any. Default ["*"]. */
  allowedHeaders?: string[];
  /** Allow credentials (cookies, Authorization) on cross-origin requests. Default false. */
  allowCredentials?: boolean;
}

/** vLLM's defaults. */
export const CORS_DEFAULTS = { allowedOrigins: ['*'], allowedMethods: ['*'], allowedHeaders: ['*'], allowCredentials: false } as const;

/** Starlette's list for "*" among the methods. */
const ALL_METHODS = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT'];
/** Allowed whatever the list says, as Starlette does. */
const SAFELISTED_HEADERS = ['Accept', 'Accept-Language', 'Content-Language', 'Content-Type'];
const PREFLIGHT_MAX_AGE_S = 600;

/** @fastify/cors's options for these flags. */
export function fastifyCorsOptions(options: CorsOptions = {}): FastifyCorsOptions {
  const origins = options.allowedOrigins ?? CORS_DEFAULTS.allowedOrigins;
  const methods = options.allowedMethods ?? CORS_DEFAULTS.allowedMethods;
  const headers = options.allowedHeaders ?? CORS_DEFAULTS.allowedHeaders;
  const credentials = options.allowCredentials ?? CORS_DEFAULTS.allowCredentials;
  const anyOrigin = origins.includes('*');
  return {
    // Every origin: `*`, or the request's own origin where credentials are allowed (browsers
    // refuse `*` with credentials).
    origin: anyOrigin ? (credentials ? true : '*') : [...origins],
    methods: methods.includes('*') ? ALL_METHODS : [...methods],
    // Left out, the plugin allows the headers the preflight asks for.
    ...(!headers.includes('*') && { allowedHeaders: [...new Set([...SAFELISTED_HEADERS, ...headers])].sort() }),
    credentials,
    maxAge: PREFLIGHT_MAX_AGE_S,
  };
}

const isPreflight = (request: FastifyRequest) => request.headers['access-control-request-method'] !== undefined;

/** Registers @fastify/cors on the server (a no-op where no origin is allowed). */
export function enableCors(app: FastifyInstance, options: CorsOptions): void {
  if ((options.allowedOrigins ?? CORS_DEFAULTS.allowedOrigins).length === 0) return;
  const on = fastifyCorsOptions(options);
  const off: FastifyCorsOptions = { origin: false };
  app.register(fastifyCors, {
    hook: 'onRequest',
    // Per request: no CORS for a request without an Origin, nor for an OPTIONS request that is not
    // a preflight (the plugin would answer it 400 before the key is checked).
    delegator: (request, callback) => {
      const cors = request.headers.origin !== undefined && (request.method !== 'OPTIONS' || isPreflight(request));
      callback(null, cors ? on : off);
    },
  });
}
