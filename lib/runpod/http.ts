// HTTP to the RunPod platform with runpod-python's headers, plus what the SDK lacks: timeouts on
// every call and retries with exponential backoff (and jitter) on network errors, timeouts,
// 429 and 5xx answers. The API key is only ever put in the Authorization header; it never
// appears in an error message.
import os from 'node:os';

import { VERSION } from '../server/app.js';
import { RUNPOD_PROTOCOL_VERSION } from './urls.js';

export class HttpStatusError extends Error {
  override readonly name = 'HttpStatusError';
  constructor(
    readonly status: number,
    readonly url: string,
  ) {
    super(`HTTP ${status} from ${url.split('?')[0]}`);
  }
}

/** Network errors, timeouts, 429 and 5xx are worth another try; other 4xx are not. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof HttpStatusError) return error.status === 429 || error.status >= 500;
  return true;
}

export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/** Exponential backoff with jitter: base, 2 base, 4 base ... up to max, each scaled by [0.5, 1). */
export class Backoff {
  private attempt = 0;
  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
  ) {}

  next(): number {
    const ceiling = Math.min(this.maxMs, this.baseMs * 2 ** this.attempt);
    this.attempt++;
    return ceiling * (0.5 + Math.random() / 2);
  }

  reset(): void {
    this.attempt = 0;
  }
}

export interface RetryOptions {
  baseMs: number;
  maxMs: number;
  /** Stop retrying once this much time has passed since the first try. */
  deadlineMs: number;
  onRetry?: (error: unknown, delayMs: number) => void;
}

/** Runs `attempt` until it succeeds, a non-retryable error, or the deadline; then throws. */
export async function withRetries<T>(attempt: () => Promise<T>, options: RetryOptions): Promise<T> {
  const started = Date.now();
  const backoff = new Backoff(options.baseMs, options.maxMs);
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      const delay = backoff.next();
      if (!isRetryable(error) || Date.now() - started + delay > options.deadlineMs) throw error;
      options.onRetry?.(error, delay);
      await sleep(delay);
    }
  }
}

export function describeError(error: unknown): string {
  if (error instanceof HttpStatusError) return error.message;
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
    if (error.name === 'TimeoutError') return 'timed out';
    return cause?.code ?? cause?.message ?? error.message;
  }
  return String(error);
}

export interface PlatformClientOptions {
  apiKey?: string;
  uaIntegration?: string;
}

/** The headers runpod-python's session sends, and the calls the worker makes with them. */
export class PlatformClient {
  readonly headers: Record<string, string>;

  constructor(options: PlatformClientOptions) {
    const ua =
      `RunPod-Python-SDK/${RUNPOD_PROTOCOL_VERSION} (${os.type()} ${os.release()}; ${os.machine()}) ` +
      `Language/Node.js ${process.versions.node} nodellm/${VERSION}` +
      (options.uaIntegration ? ` Integration/${options.uaIntegration}` : '');
    this.headers = {
      'Content-Type': 'application/json',
      'User-Agent': ua,
      'Accept-Encoding': 'gzip, deflate',
      ...(options.apiKey !== undefined && { Authorization: options.apiKey }),
    };
  }

  /** A GET; resolves once the headers are in (the body is read by the caller). */
  async get(url: string, init: { timeoutMs: number; signal?: AbortSignal }): Promise<Response> {
    const timeout = AbortSignal.timeout(init.timeoutMs);
    const signal = init.signal ? AbortSignal.any([timeout, init.signal]) : timeout;
    return fetch(url, { method: 'GET', headers: this.headers, signal });
  }

  /**
   * A result or stream POST as the SDK sends it: JSON text labelled
   * application/x-www-form-urlencoded, with `charset: utf-8` and the job's X-Request-ID.
   * Throws HttpStatusError for an answer outside 2xx.
   */
  async post(url: string, body: unknown, init: { jobId: string; timeoutMs: number }): Promise<void> {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        ...this.headers,
        'Content-Type': 'application/x-www-form-urlencoded',
        charset: 'utf-8',
        'X-Request-ID': init.jobId,
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(init.timeoutMs),
    });
    await response.arrayBuffer().catch(() => undefined);
    if (!response.ok) throw new HttpStatusError(response.status, url);
  }
}
