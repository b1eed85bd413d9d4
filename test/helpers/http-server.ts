// Helpers for driving the real HTTP server in end-to-end tests: start it on an ephemeral port,
// post JSON, read an SSE stream into its events, and read Prometheus samples from /metrics.
import net from 'node:net';

import type { LLM } from '../../lib/llm.js';
import { type ServerOptions, createServer } from '../../lib/server/app.js';

export interface RunningServer {
  app: ReturnType<typeof createServer>;
  /** e.g. http://127.0.0.1:40123 */
  origin: string;
  /** origin + /v1, for the openai client */
  baseURL: string;
  close(): Promise<void>;
}

export async function startServer(llm: LLM, options: ServerOptions = {}): Promise<RunningServer> {
  const app = createServer(llm, options);
  const origin = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, origin, baseURL: `${origin}/v1`, close: () => app.close() };
}

/**
 * A port for a child process to listen on (it cannot take port 0 and report back): random below
 * Linux's ephemeral range (32768 and up), where servers of parallel tests (port 0) and outgoing
 * connections never land, and free when probed. A random port in 20000-40000 once collided.
 */
export async function portForChild(): Promise<number> {
  for (;;) {
    const port = 10_000 + Math.floor(Math.random() * 22_000);
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

/** The OpenAI error object every failing route must return. */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | number | null };
}

export function postJSON(url: string, body: unknown, init: { headers?: Record<string, string>; signal?: AbortSignal } = {}) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...init.headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(init.signal && { signal: init.signal }),
  });
}

export interface SSEResult<T> {
  /** Parsed `data:` payloads before [DONE], in order. */
  events: T[];
  /** Whether the stream ended with `data: [DONE]` (and nothing after it). */
  done: boolean;
  /** Every raw `data:` payload, including [DONE]. */
  raw: string[];
}

/** Reads a whole SSE response body and parses each `data:` line. */
export async function readSSE<T = unknown>(response: Response): Promise<SSEResult<T>> {
  const text = await response.text();
  return parseSSE<T>(text);
}

export function parseSSE<T = unknown>(text: string): SSEResult<T> {
  const raw: string[] = [];
  for (const block of text.split('\n\n')) {
    if (block.trim() === '') continue;
    for (const line of block.split('\n')) {
      if (line.startsWith('data: ')) raw.push(line.slice(6));
      else if (line.trim() !== '') throw new Error(`unexpected SSE line: ${JSON.stringify(line)}`);
    }
  }
  const doneAt = raw.indexOf('[DONE]');
  const events = (doneAt === -1 ? raw : raw.slice(0, doneAt)).map((d) => JSON.parse(d) as T);
  return { events, done: doneAt !== -1 && doneAt === raw.length - 1, raw };
}

/** One Prometheus sample's value, matching the metric name and every given label. */
export function metricValue(exposition: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of exposition.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const found: Record<string, string> = {};
    for (const pair of (m[3] ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) found[pair[1]!] = pair[2]!;
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(m[4]);
  }
  return undefined;
}

export async function fetchMetrics(origin: string): Promise<string> {
  const r = await fetch(`${origin}/metrics`);
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
  return r.text();
}
