// The load generator of `bench serve`: sends every request at its scheduled arrival (all at once,
// or Poisson / gamma arrivals), at most --max-concurrency in flight, and collects each request's
// timings. Failed requests come back as outputs too (success false, with the error): the metrics
// count them.
import { Semaphore, arrivalOffsets } from './arrivals.js';
import type { SampleRequest } from './dataset.js';
import { NO_PROGRESS, type Progress } from './progress.js';
import type { Rng } from './rng.js';
import { type EndpointKind, type RequestOutput, sendRequest } from './serve-client.js';

export interface LoadOptions {
  url: string;
  kind: EndpointKind;
  model: string;
  requests: SampleRequest[];
  requestRate: number;
  burstiness: number;
  maxConcurrency?: number;
  ignoreEos: boolean;
  extraBody?: Record<string, unknown>;
  apiKey?: string;
  /** Requests sent (and awaited) before the measured run, not counted. */
  numWarmups?: number;
  rng: Rng;
  progress?: Progress;
}

export async function runLoad(o: LoadOptions): Promise<{ outputs: RequestOutput[]; durationS: number }> {
  const semaphore = new Semaphore(o.maxConcurrency ?? Infinity);
  const send = async (r: SampleRequest) => {
    await semaphore.acquire();
    try {
      return await sendRequest({
        url: o.url,
        kind: o.kind,
        model: o.model,
        prompt: r.prompt,
        promptLen: r.promptLen,
        outputLen: r.expectedOutputLen,
        ignoreEos: o.ignoreEos,
        ...(o.extraBody && { extraBody: o.extraBody }),
        ...(o.apiKey && { apiKey: o.apiKey }),
      });
    } finally {
      semaphore.release();
    }
  };

  if (o.numWarmups && o.requests.length > 0) {
    await Promise.all(Array.from({ length: o.numWarmups }, () => send(o.requests[0]!)));
  }

  const offsets = arrivalOffsets(o.requests.length, o.requestRate, o.burstiness, o.rng);
  const progress = o.progress ?? NO_PROGRESS;
  const start = performance.now();
  const pending: Promise<RequestOutput>[] = [];
  for (const [i, request] of o.requests.entries()) {
    const wait = start + offsets[i]! * 1000 - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    pending.push(
      send(request).then((out) => {
        progress.increment();
        return out;
      }),
    );
  }
  const outputs = await Promise.all(pending);
  const durationS = (performance.now() - start) / 1000;
  progress.stop();
  return { outputs, durationS };
}
