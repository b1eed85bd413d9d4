// A RunPod job and the handler that serves it. Handlers are async generators, as worker-vllm's
// is: each yielded item is one streamed output; the job's result is the list of them all.
import { OpenAIError } from '../openai/errors.js';
import { ValidationError } from '../errors.js';
import { RUNPOD_PROTOCOL_VERSION } from './urls.js';

/** The job object the platform hands out: every key is kept (the handler receives it whole). */
export interface Job {
  id: string;
  input: unknown;
  webhook?: string;
  batchId?: string;
  [key: string]: unknown;
}

export interface HandlerContext {
  /** Aborted when the job is stopped (stop channel, cancel): the handler must end its work. */
  signal: AbortSignal;
}

export type Handler = (job: Job, context: HandlerContext) => AsyncIterable<unknown>;

/** What the worker posts when a job ends: the aggregated outputs, or an error string. */
export type JobResult = { output: unknown[] } | { error: string };

/** Bad job input: the job fails once with this message; nothing is retried. */
export class JobInputError extends Error {
  override readonly name = 'JobInputError';
  constructor(
    message: string,
    readonly field: string | null = null,
  ) {
    super(message);
  }
}

export interface ErrorInfoContext {
  hostname: string;
  workerId: string;
}

/**
 * A failed job's `error`, as runpod-python sends it for a handler exception: a string holding
 * JSON with error_type, error_message, error_traceback, hostname, worker_id, runpod_version
 * (plus error_param / error_code when the error names a field or an HTTP status).
 */
export function errorString(error: unknown, context: ErrorInfoContext): string {
  const err = error instanceof Error ? error : new Error(String(error));
  let type = err.name;
  let param: string | null = null;
  let code: number | null = null;
  if (err instanceof ValidationError) param = err.field;
  if (err instanceof JobInputError) param = err.field;
  if (err instanceof OpenAIError) {
    type = err.status === 404 ? 'NotFoundError' : err.status >= 500 ? 'InternalServerError' : 'BadRequestError';
    param = err.param;
    code = err.status;
  }
  return JSON.stringify({
    error_type: type,
    error_message: err.message,
    ...(param !== null && { error_param: param }),
    ...(code !== null && { error_code: code }),
    error_traceback: err.stack ?? `${err.name}: ${err.message}`,
    hostname: context.hostname,
    worker_id: context.workerId,
    runpod_version: RUNPOD_PROTOCOL_VERSION,
  });
}

/**
 * A device fault (worker-vllm's test: the message mentions CUDA) makes the worker unhealthy.
 * Errors about the request itself never do, whatever text they quote from it.
 */
export function isDeviceFault(error: unknown): boolean {
  if (error instanceof ValidationError || error instanceof JobInputError) return false;
  if (error instanceof OpenAIError && error.status < 500) return false;
  const message = error instanceof Error ? error.message : String(error);
  return /cuda/i.test(message);
}
