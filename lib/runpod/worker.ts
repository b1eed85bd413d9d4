// `nodellm worker`: reads the configuration, loads the model (downloading it first if needed,
// with progress on the log), and only then serves, in the mode runpod-python would pick:
//   --rp_serve_api                          the local endpoint API (lib/runpod/dev-api.ts)
//   --test_input, or no RUNPOD_WEBHOOK_GET_JOB   one local job (lib/runpod/local-test.ts)
//   otherwise                               the serverless job loop (lib/runpod/job-loop.ts)
// SIGTERM or SIGINT stops taking work, lets what is in flight finish, and exits.
import { randomUUID } from 'node:crypto';

import { ConfigError, type WorkerConfig, readWorkerConfig } from '../config/worker-config.js';
import { explainBackendNote } from '../engine/backend-note.js';
import { LLM } from '../llm.js';
import { createDownloadProgress } from '../models/download-progress.js';
import { resolveModel } from '../models/resolve-model.js';
import { createDevApi } from './dev-api.js';
import { createHandler } from './handler.js';
import { PlatformClient } from './http.js';
import { type ErrorInfoContext, type Handler, type Job, type JobResult } from './job.js';
import { JobLoop, type JobLoopTiming } from './job-loop.js';
import { readTestJob, runLocalTest } from './local-test.js';
import { type LogLevel, type Logger, createLogger } from './logger.js';
import { RunpodUrls } from './urls.js';

export interface WorkerCliOptions {
  testInput?: string;
  serveApi?: boolean;
  apiHost?: string;
  apiPort?: number;
  /** Hosts a job's `webhook` may point at (--rp_webhook_hosts); none when absent. */
  webhookHosts?: string[];
  logLevel?: LogLevel;
}

function cut(text: string, max: number | null): string {
  return max !== null && text.length > max ? `${text.slice(0, max)}...` : text;
}

/** Logging of inputs, outputs and failures as ENABLE_LOG_REQUESTS and friends ask. */
function jobHooks(config: WorkerConfig, log: Logger) {
  return {
    onJobStart: (job: Job) => {
      if (config.log.logRequests) log.info(`Input: ${cut(JSON.stringify(job.input) ?? 'undefined', config.log.maxLogLen)}`, job.id);
    },
    onJobEnd: (job: Job, result: JobResult | null, error?: unknown) => {
      if (result && 'error' in result) {
        const message = error instanceof Error ? error.message : result.error;
        log.warn(`Failed: ${message}`, job.id);
        if (config.log.logErrorStack && error instanceof Error && error.stack) log.error(error.stack, job.id);
      } else if (result && config.log.logOutputs) {
        log.info(`Output: ${cut(JSON.stringify(result.output), config.log.maxLogLen)}`, job.id);
      }
    },
  };
}

/** The serverless job loop for a configuration (the CLI's, or a test's). */
export function createJobLoop(
  config: WorkerConfig,
  handler: Handler,
  log: Logger,
  options: { workerId?: string; timing?: Partial<JobLoopTiming> } = {},
): JobLoop {
  const rp = config.runpod;
  if (!rp.getJobUrl || !rp.postOutputUrl || !rp.postStreamUrl) throw new Error('RUNPOD_WEBHOOK_GET_JOB, _POST_OUTPUT and _POST_STREAM are needed');
  const workerId = options.workerId ?? rp.podId ?? randomUUID();
  const urls = new RunpodUrls({ getJob: rp.getJobUrl, postOutput: rp.postOutputUrl, postStream: rp.postStreamUrl, ...(rp.pingUrl && { ping: rp.pingUrl }) }, workerId);
  // As the SDK: the heartbeat needs the API key, the pod id and the ping URL.
  const heartbeat = rp.apiKey !== undefined && rp.podId !== undefined && rp.pingUrl !== undefined;
  if (!heartbeat) log.info('No heartbeat (it needs RUNPOD_AI_API_KEY, RUNPOD_POD_ID and RUNPOD_WEBHOOK_PING)');
  return new JobLoop({
    urls,
    client: new PlatformClient({ ...(rp.apiKey !== undefined && { apiKey: rp.apiKey }), ...(rp.uaIntegration && { uaIntegration: rp.uaIntegration }) }),
    handler,
    concurrency: config.maxConcurrency,
    log,
    errorContext: { hostname: rp.hostname, workerId },
    ...(heartbeat && { heartbeatMs: rp.pingIntervalMs }),
    ...(options.timing && { timing: options.timing }),
    ...jobHooks(config, log),
  });
}

/** Logs engine stats every 10 s while requests run (unless DISABLE_LOG_STATS). */
function startStatsLog(llm: LLM, log: Logger): () => void {
  let wasBusy = false;
  const timer = setInterval(() => {
    const s = llm.stats();
    const busy = s.numRunning + s.numWaiting > 0;
    if (busy || wasBusy) {
      const kv = s.numBlocks > 0 ? ((100 * (s.numBlocks - s.numFreeBlocks)) / s.numBlocks).toFixed(1) : '0.0';
      log.info(`Engine: ${s.numRunning} running, ${s.numWaiting} waiting, KV cache ${kv}% used, ${s.totalPreemptions} preemptions`);
    }
    wasBusy = busy;
  }, 10_000);
  timer.unref();
  return () => clearInterval(timer);
}

/** Runs the worker to its end; resolves with the process exit code. */
export async function runWorker(cli: WorkerCliOptions = {}, env: Record<string, string | undefined> = process.env): Promise<number> {
  let config: WorkerConfig;
  try {
    config = readWorkerConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`nodellm worker: ${error.message}\n`);
    return 1;
  }
  const mode = cli.serveApi ? 'api' : cli.testInput !== undefined || !config.runpod.getJobUrl ? 'local' : 'serverless';
  const log = createLogger({
    level: cli.logLevel ?? config.log.level,
    json: config.log.json,
    // In local test mode stdout carries the result line only.
    ...(mode === 'local' && { write: (line: string) => process.stderr.write(`${line}\n`) }),
  });
  for (const note of config.notes) log.info(note);
  // Local mode needs a job: say so before spending time on the model.
  const testJob = mode === 'local' ? readTestJob(cli.testInput) : null;
  if (typeof testJob === 'string') {
    log.error(testJob);
    return 1;
  }

  const started = Date.now();
  const dirs = await resolveModel(config.model, config.hub, {
    log: (line) => log.info(line),
    progress: (label) => createDownloadProgress(`Downloading ${label}`, { log: (line) => log.info(line) }),
  });
  log.info(`Loading ${config.model.name ?? 'the embedded default model'}`);
  const llm = await LLM.load({ ...config.engine, ...dirs });
  const stats = llm.stats();
  log.info(
    `Model ${llm.modelName} ready in ${((Date.now() - started) / 1000).toFixed(1)} s | device ${stats.backend}` +
      (stats.backendNote ? ` (${explainBackendNote(stats.backendNote)})` : '') +
      ` | KV cache ${stats.numBlocks} blocks x ${stats.blockSize} tokens | max_model_len ${llm.engine.maxModelLen}` +
      (config.engine.batchInvariant ? ' | batch-invariant' : '') +
      ` | mode ${mode}`,
  );
  const handler = createHandler(llm, config.handler);
  const workerId = config.runpod.podId ?? randomUUID();
  const errorContext: ErrorInfoContext = { hostname: config.runpod.hostname, workerId };
  const stopStats = config.log.logStats && mode !== 'local' ? startStatsLog(llm, log) : () => {};

  let code: number;
  try {
    if (testJob) {
      code = await runLocalTest({ handler, job: testJob, log, errorContext });
    } else if (mode === 'api') {
      const webhookHosts = cli.webhookHosts ?? [];
      const app = createDevApi({ handler, concurrency: config.maxConcurrency, log, errorContext, webhookHosts });
      // Loopback only unless told otherwise: the API has no authentication.
      const host = cli.apiHost ?? '127.0.0.1';
      const address = await app.listen({ host, port: cli.apiPort ?? 8000 });
      log.info(`Local endpoint API on ${address} (/run, /runsync, /stream/{id}, /status/{id}, /cancel/{id}, /health)`);
      if (!isLoopback(host)) log.warn(`The local API listens on ${host} and has no authentication: anyone who can reach it can run jobs`);
      log.info(webhookHosts.length > 0 ? `Job webhooks allowed to: ${webhookHosts.join(', ')}` : 'Job webhooks are off (--rp_webhook_hosts allows hosts)');
      await new Promise<void>((resolve) => onSignal(() => resolve()));
      await app.close();
      code = 0;
    } else {
      const loop = createJobLoop(config, handler, log, { workerId });
      onSignal((signal) => {
        log.info(`${signal}: taking no more jobs; finishing the ${loop.jobsInProgress.length} in progress`);
        void loop.stop();
      });
      code = await loop.start();
      log.info('All jobs answered; exiting');
    }
  } finally {
    stopStats();
    await llm.close();
  }
  return code;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** SIGTERM/SIGINT run `handler` once; a second signal exits at once. */
function onSignal(handler: (signal: string) => void): void {
  let seen = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (seen) process.exit(1);
      seen = true;
      handler(signal);
    });
  }
}
