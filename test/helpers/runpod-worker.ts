// Runs the real serverless job loop in-process against a fake RunPod server, with the real
// handler over a loaded model, short retry delays, and its log lines collected.
import { createHandler } from '../../lib/runpod/handler.js';
import { type WorkerConfig, readWorkerConfig } from '../../lib/config/worker-config.js';
import type { LLM } from '../../lib/llm.js';
import type { Handler } from '../../lib/runpod/job.js';
import type { JobLoop, JobLoopTiming } from '../../lib/runpod/job-loop.js';
import { createLogger } from '../../lib/runpod/logger.js';
import { createJobLoop } from '../../lib/runpod/worker.js';
import type { FakeRunpod } from './fake-runpod.js';

export const FAST_TIMING: Partial<JobLoopTiming> = {
  takeRetryBaseMs: 10,
  takeRetryMaxMs: 100,
  retryBaseMs: 10,
  retryMaxMs: 100,
  minEmptyPollMs: 10,
  postTimeoutMs: 5000,
  stop: { pollTimeoutMs: 5000, errorDelayMs: 20, emptyDelayMs: 20, tooManyRequestsDelayMs: 50 },
};

export const WORKER_ID = 'pod-test-1';

export interface TestWorker {
  loop: JobLoop;
  done: Promise<number>;
  logs: string[];
  config: WorkerConfig;
  stop(): Promise<number>;
}

export function startTestWorker(
  llm: LLM,
  fake: FakeRunpod,
  env: Record<string, string> = {},
  options: { handler?: Handler; timing?: Partial<JobLoopTiming> } = {},
): TestWorker {
  const config = readWorkerConfig({ ...fake.env(), RUNPOD_POD_ID: WORKER_ID, ...env }, { localModelArgsPath: '/nonexistent/local_model_args.json' });
  const handler = options.handler ?? createHandler(llm, config.handler);
  const logs: string[] = [];
  const log = createLogger({ level: 'DEBUG', write: (line) => logs.push(line), secrets: [fake.options.apiKey] });
  const loop = createJobLoop(config, handler, log, { timing: { ...FAST_TIMING, ...options.timing } });
  const done = loop.start();
  return { loop, done, logs, config, stop: () => loop.stop() };
}
