// One job-take request, read as runpod-python reads it: 204 and 400 mean no job; 429 means wait;
// other non-2xx answers are errors (the caller retries them with backoff, unlike the SDK);
// a 2xx that is not JSON, or is empty, means no job; a JSON object is one job; a JSON array is a
// batch. The server holds the request open (a long poll) until it has work.
import { HttpStatusError, type PlatformClient } from './http.js';
import type { Job } from './job.js';

export type TakeResult = { kind: 'jobs'; jobs: unknown[] } | { kind: 'none' } | { kind: 'rate-limited' };

export interface TakeOptions {
  timeoutMs: number;
  signal: AbortSignal;
  /** Called once the answer's headers are in: from then on the answer must be read to the end. */
  onHeaders?: () => void;
}

export async function takeJobs(client: PlatformClient, url: string, options: TakeOptions): Promise<TakeResult> {
  const response = await client.get(url, { timeoutMs: options.timeoutMs, signal: options.signal });
  options.onHeaders?.();
  const text = await response.text();
  if (response.status === 204 || response.status === 400) return { kind: 'none' };
  if (response.status === 429) return { kind: 'rate-limited' };
  if (!response.ok) throw new HttpStatusError(response.status, url);
  if (!(response.headers.get('content-type') ?? '').includes('application/json') || text.trim() === '') return { kind: 'none' };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { kind: 'none' };
  }
  if (Array.isArray(body)) return { kind: 'jobs', jobs: body };
  if (body !== null && typeof body === 'object') return { kind: 'jobs', jobs: [body] };
  return { kind: 'none' };
}

/**
 * A job as handed out, or why it cannot be one. Only a job without an id cannot be answered; a
 * job without a usable input is run, and fails once with a message naming the problem.
 */
export function asJob(value: unknown): { job: Job } | { invalid: string } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { invalid: 'a job must be a JSON object' };
  const id = (value as Record<string, unknown>).id;
  if (typeof id !== 'string' || id === '') return { invalid: 'the job has no id' };
  return { job: value as Job };
}
