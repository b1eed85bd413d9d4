// The serverless job loop: runpod-python's JobScaler for a handler whose concurrency modifier is
// a constant (worker-vllm's MAX_CONCURRENCY). It keeps up to `concurrency` jobs in progress:
// it asks the take route for exactly the number of free slots (the batch route when more than
// one), runs each job, streams its items, posts its result, and takes more as slots free up.
// A job counts as in progress from the moment it is taken until its result is sent, so the
// platform never sees more than `concurrency` unanswered jobs from this worker.
//
// What it adds to the SDK: failed takes (network, 5xx) are retried with backoff instead of in a
// tight loop; a job id already in progress is never run twice; results are retried until a
// deadline. stop() (SIGTERM) stops taking jobs (cancelling a long poll that has not answered
// yet), runs the jobs it holds to the end, sends their results, and resolves with the exit
// code. A device fault (a CUDA error) fails its job, stops taking jobs, lets the others finish,
// reports the worker unhealthy on the ping URL, and resolves with exit code 1.
import { Heartbeat } from './heartbeat.js';
import { Backoff, type PlatformClient, describeError, sleep } from './http.js';
import { type ErrorInfoContext, type Handler, type Job, type JobResult, isDeviceFault } from './job.js';
import { asJob, takeJobs } from './job-take.js';
import type { Logger } from './logger.js';
import { DEFAULT_POSTER_TIMING, type PosterTiming, ResultPoster } from './result-poster.js';
import { runJob } from './run-job.js';
import { DEFAULT_STOP_TIMING, StopPoller, type StopPollerTiming } from './stop-poller.js';
import type { RunpodUrls } from './urls.js';

export interface JobLoopTiming extends PosterTiming {
  /** The take route is a long poll; the SDK gives up on it after 90 s. */
  takeTimeoutMs: number;
  takeRetryBaseMs: number;
  takeRetryMaxMs: number;
  /** After a 429 from the take route (the SDK's 5 s). */
  tooManyRequestsDelayMs: number;
  /** An empty take answer that came back sooner than this waits out the rest (no spinning). */
  minEmptyPollMs: number;
  stop: StopPollerTiming;
}

export const DEFAULT_TIMING: JobLoopTiming = {
  ...DEFAULT_POSTER_TIMING,
  takeTimeoutMs: 90_000,
  takeRetryBaseMs: 250,
  takeRetryMaxMs: 10_000,
  tooManyRequestsDelayMs: 5000,
  minEmptyPollMs: 100,
  stop: DEFAULT_STOP_TIMING,
};

export interface JobLoopOptions {
  urls: RunpodUrls;
  client: PlatformClient;
  handler: Handler;
  concurrency: number;
  log: Logger;
  errorContext: ErrorInfoContext;
  /** Heartbeat period; no heartbeat when undefined. */
  heartbeatMs?: number;
  timing?: Partial<JobLoopTiming>;
  /** Hooks for request/output logging. */
  onJobStart?: (job: Job) => void;
  onJobEnd?: (job: Job, result: JobResult | null, error?: unknown) => void;
}

export class JobLoop {
  private readonly timing: JobLoopTiming;
  private readonly poster: ResultPoster;
  private readonly heartbeat: Heartbeat | null;
  private readonly stopPoller: StopPoller | null;
  /** Taken and not yet answered: queued or running. */
  private readonly inProgress = new Set<string>();
  private readonly queue: Job[] = [];
  private readonly running = new Map<string, AbortController>();
  private readonly tasks = new Set<Promise<void>>();
  private waiters: (() => void)[] = [];
  private stopping = false;
  private readonly stopSignal = new AbortController();
  private takeAbort: AbortController | null = null;
  private takeAnswered = false;
  private unhealthyReason: string | null = null;
  private finished: Promise<number> | null = null;

  constructor(private readonly options: JobLoopOptions) {
    this.timing = { ...DEFAULT_TIMING, ...options.timing };
    this.poster = new ResultPoster(options.client, options.urls, options.log, this.timing);
    this.heartbeat =
      options.heartbeatMs === undefined
        ? null
        : new Heartbeat(options.client, options.urls, options.heartbeatMs, () => [...this.inProgress], options.log);
    const stopUrl = options.urls.stop();
    if (!stopUrl) options.log.warn('RUNPOD_WEBHOOK_GET_JOB has no /job-take/, so the per-job stop channel is off');
    this.stopPoller = stopUrl
      ? new StopPoller(options.client, stopUrl, () => this.running.size > 0, (id) => this.stopJob(id), options.log, this.timing.stop)
      : null;
  }

  /** Starts taking jobs; the promise resolves with the exit code once stopped and drained. */
  start(): Promise<number> {
    this.finished ??= this.run();
    return this.finished;
  }

  /** Stops taking jobs; resolves with the exit code once every job held is answered. */
  stop(): Promise<number> {
    if (!this.stopping) {
      this.stopping = true;
      this.stopSignal.abort();
      // A long poll with no answer yet holds no job: cancel it. One whose answer is arriving is
      // read to the end, and its jobs are run like the others.
      if (!this.takeAnswered) this.takeAbort?.abort();
      this.notify();
    }
    return this.start();
  }

  /** Ids of the jobs taken and not yet answered (the heartbeat's job_id). */
  get jobsInProgress(): string[] {
    return [...this.inProgress];
  }

  /** The stop channel asked to stop a job: it ends now and posts no result. */
  stopJob(id: string): void {
    const queued = this.queue.findIndex((j) => j.id === id);
    if (queued !== -1) {
      this.queue.splice(queued, 1);
      this.inProgress.delete(id);
      this.options.log.info('Job stopped before it started; no result is sent', id);
      this.notify();
      return;
    }
    const controller = this.running.get(id);
    if (controller && !controller.signal.aborted) {
      this.options.log.info('Stopping the job (stop channel)', id);
      controller.abort();
    }
  }

  private async run(): Promise<number> {
    this.heartbeat?.start();
    this.stopPoller?.start();
    await this.takeLoop();
    while (this.inProgress.size > 0 || this.tasks.size > 0) await this.change();
    await this.stopPoller?.stop();
    await this.heartbeat?.stop();
    if (this.unhealthyReason !== null) {
      await this.reportUnhealthy(this.unhealthyReason);
      return 1;
    }
    return 0;
  }

  private change(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  private async takeLoop(): Promise<void> {
    const { client, urls, concurrency, log } = this.options;
    const backoff = new Backoff(this.timing.takeRetryBaseMs, this.timing.takeRetryMaxMs);
    while (!this.stopping) {
      const needed = concurrency - this.inProgress.size;
      if (needed <= 0) {
        await this.change();
        continue;
      }
      const started = Date.now();
      this.takeAbort = new AbortController();
      this.takeAnswered = false;
      try {
        const result = await takeJobs(client, urls.take(needed, this.inProgress.size > 0), {
          timeoutMs: this.timing.takeTimeoutMs,
          signal: this.takeAbort.signal,
          onHeaders: () => (this.takeAnswered = true),
        });
        backoff.reset();
        if (result.kind === 'rate-limited') {
          log.debug('Job take: too many requests; waiting');
          await sleep(this.timing.tooManyRequestsDelayMs, this.stopSignal.signal);
        } else if (result.kind === 'none') {
          await sleep(this.timing.minEmptyPollMs - (Date.now() - started), this.stopSignal.signal);
        } else {
          for (const raw of result.jobs) this.accept(raw);
        }
      } catch (error) {
        if (this.takeAbort.signal.aborted && this.stopping) break;
        if ((error as Error).name === 'TimeoutError') {
          log.debug('Job take: the long poll timed out; polling again');
          continue;
        }
        const delay = backoff.next();
        log.warn(`Taking jobs failed (${describeError(error)}); retrying in ${Math.round(delay)} ms`);
        await sleep(delay, this.stopSignal.signal);
      } finally {
        this.takeAbort = null;
      }
    }
  }

  private accept(raw: unknown): void {
    const { log } = this.options;
    const parsed = asJob(raw);
    if ('invalid' in parsed) {
      log.error(`The platform handed out something that is not a job (${parsed.invalid}); it cannot be answered`);
      return;
    }
    const job = parsed.job;
    if (this.inProgress.has(job.id)) {
      log.warn('This job is already in progress here; the duplicate is ignored', job.id);
      return;
    }
    this.inProgress.add(job.id);
    this.queue.push(job);
    this.pump();
  }

  private pump(): void {
    while (this.running.size < this.options.concurrency && this.queue.length > 0) {
      const job = this.queue.shift()!;
      const controller = new AbortController();
      this.running.set(job.id, controller);
      this.stopPoller?.notify();
      const task: Promise<void> = this.runOne(job, controller.signal)
        .catch((error) => this.options.log.error(`Unexpected error while running the job: ${describeError(error)}`, job.id))
        .finally(() => {
          this.running.delete(job.id);
          this.inProgress.delete(job.id);
          this.tasks.delete(task);
          this.pump();
          this.notify();
        });
      this.tasks.add(task);
    }
  }

  private async runOne(job: Job, signal: AbortSignal): Promise<void> {
    const { log, handler } = this.options;
    const started = Date.now();
    log.info('Job started', job.id);
    this.options.onJobStart?.(job);
    let failure: unknown;
    const result = await runJob(handler, job, {
      signal,
      errorContext: this.options.errorContext,
      onItem: (item) => this.poster.stream(job.id, item),
      onError: (error) => {
        failure = error;
        if (isDeviceFault(error)) this.markUnhealthy(describeError(error));
      },
    });
    this.options.onJobEnd?.(job, result, failure);
    if (result === null) {
      log.info('Job stopped; no result is sent', job.id);
      return;
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(2);
    if ('error' in result) log.info(`Job failed after ${seconds} s`, job.id);
    else log.info(`Job completed in ${seconds} s`, job.id);
    await this.poster.done(job.id, result);
  }

  private markUnhealthy(reason: string): void {
    if (this.unhealthyReason !== null) return;
    this.unhealthyReason = reason;
    this.options.log.error(
      `Device fault (${reason}): this worker takes no more jobs, finishes those it holds, reports itself unhealthy and exits`,
    );
    void this.stop();
  }

  private async reportUnhealthy(reason: string): Promise<void> {
    const url = this.options.urls.unhealthy('device', reason);
    if (!url) return;
    try {
      const response = await this.options.client.get(url, { timeoutMs: 2000 });
      await response.arrayBuffer().catch(() => undefined);
    } catch (error) {
      this.options.log.warn(`The unhealthy report failed (${describeError(error)})`);
    }
  }
}
