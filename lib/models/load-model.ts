// Reads what the engine needs from a model directory (config, generation defaults, tensor
// locations) and turns it, with the engine options, into the native engine's configuration.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';

import type { EngineOptions } from '../config/engine-options.js';
import type { NativeEngineConfig } from '../engine/native.js';
import { ModelLoadError } from '../errors.js';
import type { NativeRope } from '../engine/native.js';
import { modelTensors } from './checkpoint-tensors.js';
import { type GenerationConfig, type ModelConfig, readGenerationConfig, readModelConfig } from './hf-config.js';
import { type RopeConfig, ropeFrequencies } from './rope.js';
import { type TensorEntry, readSafetensorsIndex } from './safetensors.js';

export interface ModelFiles {
  dir: string;
  config: ModelConfig;
  generation: GenerationConfig;
  tensors: TensorEntry[];
}

/** Reads the config files and the tensor table (none with `dummy`, where weights are random). */
export async function readModelFiles(dir: string, options: { dummy?: boolean } = {}): Promise<ModelFiles> {
  const abs = resolve(dir);
  if (!existsSync(abs) || !statSync(abs).isDirectory()) {
    throw new ModelLoadError(`Model directory ${abs} does not exist (nodellm loads local HF model directories)`);
  }
  try {
    const [config, generation, tensors] = await Promise.all([
      readModelConfig(abs),
      readGenerationConfig(abs),
      options.dummy ? Promise.resolve([]) : readSafetensorsIndex(abs),
    ]);
    return { dir: abs, config, generation, tensors };
  } catch (err) {
    throw new ModelLoadError((err as Error).message);
  }
}

function nativeDtype(dtype: EngineOptions['dtype']): NativeEngineConfig['dtype'] {
  if (dtype === 'half') return 'float16';
  if (dtype === 'float') return 'float32';
  return dtype ?? 'auto';
}

export function nativeEngineConfig(model: ModelFiles, options: EngineOptions, maxModelLen: number): NativeEngineConfig {
  const files: string[] = [];
  const fileIndex = new Map<string, number>();
  const tensors = modelTensors(model.tensors, model.config).map((t) => {
    let index = fileIndex.get(t.file);
    if (index === undefined) {
      index = files.length;
      files.push(t.file);
      fileIndex.set(t.file, index);
    }
    return { name: t.name, source: t.source, dtype: t.dtype, shape: t.shape, file: index, offset: t.offset, nbytes: t.nbytes };
  });
  const { torchDtype: _dtype, rope, localRope, ...shape } = model.config;
  const frequencies = (r: RopeConfig): NativeRope => ({
    theta: r.theta,
    ...ropeFrequencies(r, shape.rotaryDim, shape.maxPositionEmbeddings, maxModelLen),
  });
  const modelConfig = { ...shape, rope: frequencies(rope), localRope: localRope ? frequencies(localRope) : null };
  const maxNumSeqs = options.maxNumSeqs ?? 256;
  return {
    model: modelConfig,
    weightFiles: files,
    tensors,
    eosTokenIds: model.generation.eosTokenIds,
    blockSize: options.blockSize ?? 16,
    numBlocks: options.numKvBlocks ?? 0,
    kvCacheBytes: options.kvCacheBytes ?? 0,
    gpuMemoryUtilization: options.gpuMemoryUtilization ?? 0.9,
    maxNumSeqs,
    maxNumBatchedTokens: options.maxNumBatchedTokens ?? Math.max(2048, maxNumSeqs),
    maxModelLen,
    maxLogprobs: options.maxLogprobs ?? 20,
    numThreads: options.numThreads ?? 0,
    device: options.device ?? 'auto',
    enforceEager: options.enforceEager ?? false,
    maxSeqLenToCapture: options.maxSeqLenToCapture ?? 8192,
    batchInvariant: options.batchInvariant ?? false,
    asyncScheduling: options.asyncScheduling ?? true,
    dummyWeights: options.loadFormat === 'dummy',
    dummyDtype: model.config.torchDtype,
    dtype: nativeDtype(options.dtype),
    returnLogits: options.returnLogits ?? false,
    ...(options.launchAhead !== undefined ? { launchAhead: options.launchAhead } : {}),
  };
}
