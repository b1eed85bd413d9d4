// Runs one job through a generator handler the way runpod-python's handle_job does with
// return_aggregate_stream (worker-vllm's setting): every yielded item is handed on to be
// streamed, and the result is {"output": [every item]}. An item that is an object with a truthy
// `error` ends the job with that error (not streamed); an exception ends it with the SDK's
// error-info JSON string. A job stopped through its signal has no result at all (null).
import { type ErrorInfoContext, type Handler, type Job, type JobResult, errorString } from './job.js';

export interface RunJobOptions {
  signal: AbortSignal;
  /** Called with each item before the next is produced (the stream post). */
  onItem?: (item: unknown) => Promise<void>;
  /** Called with the exception that failed the job (logging, device-fault checks). */
  onError?: (error: unknown) => void;
  errorContext: ErrorInfoContext;
}

function errorItem(item: unknown): string | null {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) return null;
  const error = (item as { error?: unknown }).error;
  if (!error) return null;
  return typeof error === 'string' ? error : JSON.stringify(error);
}

/** Runs the job to its end; resolves to its result, or null when it was stopped. */
export async function runJob(handler: Handler, job: Job, options: RunJobOptions): Promise<JobResult | null> {
  const outputs: unknown[] = [];
  let iterator: AsyncIterator<unknown> | undefined;
  try {
    iterator = handler(job, { signal: options.signal })[Symbol.asyncIterator]();
    for (;;) {
      const next = await iterator.next();
      if (options.signal.aborted) return null;
      if (next.done) break;
      const error = errorItem(next.value);
      if (error !== null) return { error };
      outputs.push(next.value);
      await options.onItem?.(next.value);
    }
    iterator = undefined;
    return options.signal.aborted ? null : { output: outputs };
  } catch (error) {
    if (options.signal.aborted) return null;
    options.onError?.(error);
    return { error: errorString(error, options.errorContext) };
  } finally {
    // Leaving early (an error item, a stop) ends the handler, which ends its engine request.
    await iterator?.return?.().catch(() => undefined);
  }
}
