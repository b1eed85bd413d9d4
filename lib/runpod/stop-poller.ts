// The per-job stop channel (runpod-python >= 1.10): a long-poll GET to the take URL with
// `/job-take/` replaced by `/job-stop/`. 204 means nothing to stop; 200 with
// {"jobsToStop": [ids]} stops those jobs (they post no result); 429 waits 5 s, an error 1 s, an
// empty answer 1 s. It polls only while this worker has jobs, since only those can be stopped.
import { type PlatformClient, describeError, sleep } from './http.js';
import type { Logger } from './logger.js';

export interface StopPollerTiming {
  pollTimeoutMs: number;
  errorDelayMs: number;
  emptyDelayMs: number;
  tooManyRequestsDelayMs: number;
}

export const DEFAULT_STOP_TIMING: StopPollerTiming = {
  pollTimeoutMs: 90_000,
  errorDelayMs: 1000,
  emptyDelayMs: 1000,
  tooManyRequestsDelayMs: 5000,
};

export class StopPoller {
  private readonly abort = new AbortController();
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly client: PlatformClient,
    private readonly url: string,
    private readonly hasJobs: () => boolean,
    private readonly stopJob: (jobId: string) => void,
    private readonly log: Logger,
    private readonly timing: StopPollerTiming = DEFAULT_STOP_TIMING,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Call when a job starts, so an idle poller resumes. */
  notify(): void {
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      if (!this.hasJobs()) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = null;
        continue;
      }
      await sleep(await this.pollOnce(signal), signal);
    }
  }

  /** One poll; returns how long to wait before the next. */
  private async pollOnce(signal: AbortSignal): Promise<number> {
    try {
      const response = await this.client.get(this.url, { timeoutMs: this.timing.pollTimeoutMs, signal });
      const text = await response.text();
      if (response.status === 204) return 0;
      if (response.status === 429) return this.timing.tooManyRequestsDelayMs;
      if (!response.ok) {
        this.log.debug(`Stop channel answered HTTP ${response.status}`);
        return this.timing.errorDelayMs;
      }
      const ids = text ? (JSON.parse(text) as { jobsToStop?: unknown }).jobsToStop : undefined;
      if (!Array.isArray(ids) || ids.length === 0) return this.timing.emptyDelayMs;
      for (const id of ids) if (typeof id === 'string') this.stopJob(id);
      return 0;
    } catch (error) {
      if (!signal.aborted) this.log.debug(`Stop channel poll failed (${describeError(error)})`);
      return this.timing.errorDelayMs;
    }
  }
}
