// Drives the native engine directly (no tokenizer, no AsyncEngine) for tests that need its raw
// output: logits, prompt logprobs, exact token streams.
import { mkdtempSync } from 'node:fs';
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
