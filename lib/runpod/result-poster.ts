// Sends a job's streamed items and its result to the platform. The bodies and query strings are
// runpod-python's: {"output": item} to the stream URL with isStream=false; the result
// ({"output": [...]} or {"error": "..."}) to the done URL with isStream=true (worker-vllm's
// handler is a generator). Where the SDK tries 3 times and drops, this retries network errors,
// timeouts, 429 and 5xx with backoff until a deadline (10 minutes for results by default), so a
// platform hiccup does not lose an answer; a result that still cannot be sent is logged.
import { HttpStatusError, type PlatformClient, describeError, withRetries } from './http.js';
import type { JobResult } from './job.js';
import type { Logger } from './logger.js';
import type { RunpodUrls } from './urls.js';

export interface PosterTiming {
  postTimeoutMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  streamDeadlineMs: number;
  resultDeadlineMs: number;
}

export const DEFAULT_POSTER_TIMING: PosterTiming = {
  postTimeoutMs: 60_000,
  retryBaseMs: 500,
  retryMaxMs: 30_000,
  streamDeadlineMs: 120_000,
  resultDeadlineMs: 600_000,
};

export class ResultPoster {
  constructor(
    private readonly client: PlatformClient,
    private readonly urls: RunpodUrls,
    private readonly log: Logger,
    private readonly timing: PosterTiming = DEFAULT_POSTER_TIMING,
  ) {}

  /** Posts one streamed item; resolves once sent, or once given up (the result still has it). */
  async stream(jobId: string, item: unknown): Promise<void> {
    const ok = await this.send(jobId, this.urls.stream(jobId), { output: item }, this.timing.streamDeadlineMs, 'stream item');
    if (!ok) this.log.warn('A streamed item could not be sent; the job result still holds it', jobId);
  }

  /** Posts the job's result; resolves true once the platform accepted it. */
  async done(jobId: string, result: JobResult): Promise<boolean> {
    const ok = await this.send(jobId, this.urls.done(jobId, true), result, this.timing.resultDeadlineMs, 'result');
    if (!ok) this.log.error('The job result could not be sent', jobId);
    return ok;
  }

  private async send(jobId: string, url: string, body: unknown, deadlineMs: number, what: string): Promise<boolean> {
    try {
      await withRetries(() => this.client.post(url, body, { jobId, timeoutMs: this.timing.postTimeoutMs }), {
        baseMs: this.timing.retryBaseMs,
        maxMs: this.timing.retryMaxMs,
        deadlineMs,
        onRetry: (error, delay) =>
          this.log.warn(`Sending the ${what} failed (${describeError(error)}); retrying in ${Math.round(delay)} ms`, jobId),
      });
      return true;
    } catch (error) {
      const why = error instanceof HttpStatusError && error.status < 500 ? 'the platform refused it' : 'giving up';
      this.log.error(`Sending the ${what} failed (${describeError(error)}); ${why}`, jobId);
      return false;
    }
  }
}
