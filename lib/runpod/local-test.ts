// Local test mode, as runpod-python's `--test_input '<json>'` or ./test_input.json: one job
// ({"input": ..., "id"?: ...}, id "local_test" by default) runs through the real handler, each
// streamed item is logged, and the result ({"output": [...]} or {"error": "..."}) is printed as
// one JSON line. Unlike the SDK, generator handlers really run. Exit code 1 when the input is
// missing or unusable, or the job failed.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { ErrorInfoContext, Handler, Job } from './job.js';
import type { Logger } from './logger.js';
import { runJob } from './run-job.js';

/** The job to run, from --test_input or ./test_input.json; a string says why there is none. */
export function readTestJob(testInput: string | undefined, cwd: string = process.cwd()): Job | string {
  let text = testInput;
  if (text === undefined) {
    const file = join(cwd, 'test_input.json');
    if (!existsSync(file)) {
      return 'No test input: pass --test_input \'{"input": {...}}\', put a test_input.json in the working directory, or set RUNPOD_WEBHOOK_GET_JOB';
    }
    text = readFileSync(file, 'utf8');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return `The test input is not JSON: ${(error as Error).message}`;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || !('input' in parsed)) {
    return 'The test input must be a JSON object with an "input" key';
  }
  const raw = parsed as Record<string, unknown>;
  return { ...raw, id: typeof raw.id === 'string' ? raw.id : 'local_test', input: raw.input };
}

export interface LocalTestOptions {
  handler: Handler;
  job: Job;
  log: Logger;
  errorContext: ErrorInfoContext;
  /** Where the result line goes. Default: stdout. */
  print?: (line: string) => void;
}

/** Runs the job, prints its result line, and returns the exit code. */
export async function runLocalTest(options: LocalTestOptions): Promise<number> {
  const { log, job } = options;
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  log.info('Running the job locally', job.id);
  const result = await runJob(options.handler, job, {
    signal: new AbortController().signal,
    errorContext: options.errorContext,
    onItem: async (item) => log.debug(`Streamed: ${JSON.stringify(item)}`, job.id),
  });
  print(JSON.stringify(result));
  if (result === null || 'error' in result) {
    log.error('The job failed', job.id);
    return 1;
  }
  log.info('The job completed', job.id);
  return 0;
}
