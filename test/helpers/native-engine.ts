// Drives the native engine directly (no tokenizer, no AsyncEngine) for tests that need its raw
// output: logits, prompt logprobs, exact token streams.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { EngineOptions } from '../../lib/config/engine-options.js';
import { type NativeEngine, type NativeSamplingParams, type NativeStepResult, addon } from '../../lib/engine/native.js';
import { nativeEngineConfig, readModelFiles } from '../../lib/models/load-model.js';
import { type RandomModelOptions, writeRandomLlamaModel } from '../../lib/models/random-model.js';

import { seededInts } from './random.js';

export { seededInts };

export function tempDir(prefix = 'nodellm-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function writeModel(opts: RandomModelOptions): string {
  const dir = tempDir('nodellm-model-');
  writeRandomLlamaModel(dir, opts);
  return dir;
}

export async function loadNativeEngine(dir: string, options: EngineOptions = {}): Promise<NativeEngine> {
  const model = await readModelFiles(dir, { dummy: options.loadFormat === 'dummy' });
  const engine = new addon.Engine(
    nativeEngineConfig(model, { numThreads: 2, ...options }, options.maxModelLen ?? model.config.maxPositionEmbeddings),
  );
  await engine.load();
  return engine;
}

export function greedy(maxTokens: number, extra: Partial<NativeSamplingParams> = {}): NativeSamplingParams {
  return {
    temperature: 0,
    topP: 1,
    topK: 0,
    minP: 0,
    repetitionPenalty: 1,
    frequencyPenalty: 0,
    presencePenalty: 0,
    logitBias: [],
    seed: null,
    maxTokens,
    minTokens: 0,
    stopTokenIds: [],
    ignoreEos: true,
    logprobs: -1,
    promptLogprobs: -1,
    ...extra,
  };
}

/** Steps the engine until it is idle, handing each step's result to `onStep`. */
export async function drain(engine: NativeEngine, onStep: (r: NativeStepResult) => void = () => {}): Promise<void> {
  while (engine.hasWork()) onStep(await engine.step());
}

/**
 * What steps produced, by sequence id: the sampled tokens; when the engine returns logits and
 * `vocab` is given, each sampled row's logits; and the prompt logprobs scored, by prompt position.
 * Pass `add` to drain().
 */
export class SequenceRows {
  readonly tokens = new Map<number, number[]>();
  readonly logits = new Map<number, Float32Array[]>();
  readonly promptLogprobs = new Map<number, Map<number, number>>();
  constructor(private readonly vocab = 0) {}

  readonly add = (r: NativeStepResult): void => {
    const p = r.promptLogprobs;
    for (let row = 0; p && row < p.seqIds.length; row++) {
      const id = Number(p.seqIds[row]);
      const scored = this.promptLogprobs.get(id) ?? new Map<number, number>();
      scored.set(p.positions[row]!, p.logprobs[row]!);
      this.promptLogprobs.set(id, scored);
    }
    for (let row = 0; row < r.seqIds.length; row++) {
      const id = Number(r.seqIds[row]);
      this.tokens.set(id, [...(this.tokens.get(id) ?? []), r.tokens[row]!]);
      if (r.logits && this.vocab > 0)
        this.logits.set(id, [...(this.logits.get(id) ?? []), r.logits.slice(row * this.vocab, (row + 1) * this.vocab)]);
    }
  };
}

/**
 * Issue 5's seeded-sampling case: a seeded request (a 100-token prompt, 64 tokens at temperature
 * 0.8, top_p 0.95) with `companions` other requests (prompts of 50 + i tokens, temperature 1, seeds
 * of their own), added before them or after them. The request has id `firstId`, the companions
 * the next ones. Returns the request's tokens and, when the engine returns logits, its logits.
 */
export async function seededRequestAmong(
  engine: NativeEngine,
  vocab: number,
  companions: number,
  { firstId = 1, targetFirst = true }: { firstId?: number; targetFirst?: boolean } = {},
): Promise<{ tokens: number[]; logits: Float32Array[] }> {
  const addTarget = () =>
    engine.addRequest(firstId, Int32Array.from(seededInts(4242, 100, vocab)), greedy(64, { temperature: 0.8, topP: 0.95, seed: 1234 }));
  if (targetFirst) addTarget();
  for (let i = 0; i < companions; i++)
    engine.addRequest(firstId + 1 + i, Int32Array.from(seededInts(5000 + i, 50 + i, vocab)), greedy(64, { temperature: 1, seed: 77 + i }));
  if (!targetFirst) addTarget();
  const rows = new SequenceRows(vocab);
  await drain(engine, rows.add);
  return { tokens: rows.tokens.get(firstId)!, logits: rows.logits.get(firstId) ?? [] };
}

/** Writes rows of `vocab` float32 values to one row-major file (the parity scripts' logit files). */
export function writeF32Rows(file: string, rows: Float32Array[], vocab: number): void {
  const all = new Float32Array(rows.length * vocab);
  rows.forEach((r, j) => all.set(r, j * vocab));
  writeFileSync(file, all);
}
