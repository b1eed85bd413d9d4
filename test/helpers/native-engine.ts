// Drives the native engine directly (no tokenizer, no AsyncEngine) for tests that need its raw
// output: logits, prompt logprobs, exact token streams.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { EngineOptions } from '../../lib/config/engine-options.js';
import { type NativeEngine, type NativeSamplingParams, type NativeStepResult, addon } from '../../lib/engine/native.js';
import { nativeEngineConfig, readModelFiles } from '../../lib/models/load-model.js';
import { type RandomModelOptions, writeRandomLlamaModel } from '../../lib/models/random-model.js';

export { seededInts } from './random.js';

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
 * What steps produced, by sequence id: the sampled tokens and, when the engine returns logits and
 * `vocab` is given, each sampled row's logits. Pass `add` to drain().
 */
export class SequenceRows {
  readonly tokens = new Map<number, number[]>();
  readonly logits = new Map<number, Float32Array[]>();
  constructor(private readonly vocab = 0) {}

  readonly add = (r: NativeStepResult): void => {
    for (let row = 0; row < r.seqIds.length; row++) {
      const id = Number(r.seqIds[row]);
      this.tokens.set(id, [...(this.tokens.get(id) ?? []), r.tokens[row]!]);
      if (r.logits && this.vocab > 0)
        this.logits.set(id, [...(this.logits.get(id) ?? []), r.logits.slice(row * this.vocab, (row + 1) * this.vocab)]);
    }
  };
}

/** Writes rows of `vocab` float32 values to one row-major file (the parity scripts' logit files). */
export function writeF32Rows(file: string, rows: Float32Array[], vocab: number): void {
  const all = new Float32Array(rows.length * vocab);
  rows.forEach((r, j) => all.set(r, j * vocab));
  writeFileSync(file, all);
}
