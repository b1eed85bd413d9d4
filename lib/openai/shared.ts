// Small pieces the OpenAI routes share.
import { randomUUID } from 'node:crypto';

import type { RequestChunk } from '../engine/types.js';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export const SYSTEM_FINGERPRINT = 'nodellm-0.1.0';
export const now = () => Math.floor(Date.now() / 1000);
export const makeId = (prefix: string) => `${prefix}-${randomUUID().replaceAll('-', '')}`;

export interface Started {
  it: AsyncIterator<RequestChunk>;
  first: IteratorResult<RequestChunk>;
}

/**
 * Starts every stream (running each up to its first chunk, which is where validation errors
 * surface); if any fails, the others are ended and the first error is thrown.
 */
export async function startAll(streams: AsyncIterable<RequestChunk>[]): Promise<Started[]> {
  const settled = await Promise.allSettled(
    streams.map(async (s) => {
      const it = s[Symbol.asyncIterator]();
      return { it, first: await it.next() };
    }),
  );
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) {
    for (const r of settled) if (r.status === 'fulfilled') await r.value.it.return?.();
    throw failed.reason;
  }
  return settled.map((r) => (r as PromiseFulfilledResult<Started>).value);
}

/** Interleaves several requests' chunks in arrival order, tagging each with its request's index. */
export async function* mergeStreams(streams: Started[]): AsyncGenerator<{ index: number; chunk: RequestChunk }> {
  const next = (i: number, result: Promise<IteratorResult<RequestChunk>>) => result.then((r) => ({ i, r }));
  const pending = new Map(streams.map((s, i) => [i, next(i, Promise.resolve(s.first))]));
  try {
    while (pending.size > 0) {
      const { i, r } = await Promise.race(pending.values());
      if (r.done) {
        pending.delete(i);
        continue;
      }
      pending.set(i, next(i, streams[i]!.it.next()));
      yield { index: i, chunk: r.value };
    }
  } finally {
    // A consumer that stops early (client gone) ends every request.
    for (const s of streams) await s.it.return?.();
  }
}
