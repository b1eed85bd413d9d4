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

/** An HTTP response read off a raw socket. */
export interface RawResponse {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  /** The body, de-chunked. */
  body: string;
  /** The body's length in bytes as it came (before de-chunking). */
  bodyBytes: number;
  /** Bytes of the whole response, head and body (where the next one on the socket starts). */
  totalBytes: number;
}

/** Parses the first HTTP/1.1 response in `data`, or undefined while it is incomplete (`head`: an answer to HEAD, without a body). */
export function parseRawResponse(data: Buffer, { head = false }: { head?: boolean } = {}): RawResponse | undefined {
  const headEnd = data.indexOf('\r\n\r\n');
  if (headEnd === -1) return undefined;
  const [statusLine, ...lines] = data.subarray(0, headEnd).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const rest = data.subarray(headEnd + 4);
  const status = Number(statusLine!.split(' ')[1]);
  const result = (body: string, bodyBytes: number) => ({ status, headers, body, bodyBytes, totalBytes: headEnd + 4 + bodyBytes });
  if (head) return result('', 0);
  if (headers['transfer-encoding'] === 'chunked') {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const lineEnd = rest.indexOf('\r\n', at);
      if (lineEnd === -1) return undefined;
      const size = parseInt(rest.subarray(at, lineEnd).toString('latin1'), 16);
      if (size === 0) return result(Buffer.concat(parts).toString('utf8'), lineEnd + 4);
      if (rest.length < lineEnd + 2 + size + 2) return undefined;
      parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  const length = Number(headers['content-length'] ?? 0);
  if (rest.length < length) return undefined;
  return result(rest.subarray(0, length).toString('utf8'), length);
}

/**
 * A client on a raw TCP socket, for what fetch cannot send (a request target as given, a body
 * that never comes, 20 KB of headers, garbage) and for watching when the server closes it.
 */
export class RawClient {
  data = Buffer.alloc(0);
  readonly openedAt = Date.now();
  /** Milliseconds from connecting to the socket's close. */
  readonly closed: Promise<number>;
  error: NodeJS.ErrnoException | undefined;
  private listeners = new Set<() => void>();

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.data = Buffer.concat([this.data, d]);
      for (const l of this.listeners) l();
    });
    socket.on('error', (e) => (this.error = e));
    this.closed = new Promise((resolve) => socket.on('close', () => resolve(Date.now() - this.openedAt)));
  }

  static connect(origin: string): Promise<RawClient> {
    const { hostname, port } = new URL(origin);
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(port), hostname);
      socket.once('connect', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  get isClosed(): boolean {
    return this.socket.destroyed || this.socket.closed;
  }

  /** The first complete response (rejects if the socket closes or `timeoutMs` passes first). */
  response(timeoutMs = 30_000, { head = false }: { head?: boolean } = {}): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const r = parseRawResponse(this.data, { head });
        if (r) done(() => resolve(r));
      };
      const done = (f: () => void) => {
        this.listeners.delete(check);
        clearTimeout(timer);
        f();
      };
      const timer = setTimeout(() => done(() => reject(new Error(`no response in ${timeoutMs} ms; got ${JSON.stringify(this.data.toString())}`))), timeoutMs);
      this.listeners.add(check);
      void this.closed.then(() =>
        done(() => {
          const r = parseRawResponse(this.data, { head });
          if (r) resolve(r);
          else reject(new Error(`closed without a response; got ${JSON.stringify(this.data.toString())}`));
        }),
      );
      check();
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Request bytes: the target exactly as given, a Content-Length for the body, and Connection: close unless told. */
export function rawRequestBytes(method: string, target: string, { headers = {}, body }: { headers?: Record<string, string>; body?: unknown } = {}): string {
  const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  const all: Record<string, string> = {
    host: 'localhost',
    connection: 'close',
    ...(body !== undefined && { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) }),
    ...headers,
  };
  return `${method} ${target} HTTP/1.1\r\n${Object.entries(all).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${text}`;
}

/** One request on a fresh raw socket, with its response. */
export async function rawRequest(origin: string, method: string, target: string, init: { headers?: Record<string, string>; body?: unknown } = {}): Promise<RawResponse> {
  const client = await RawClient.connect(origin);
  try {
    client.write(rawRequestBytes(method, target, init));
    return await client.response(30_000, { head: method === 'HEAD' });
  } finally {
    client.destroy();
  }
}
