// The N-API addon's surface, typed. Everything the native core exposes goes through this file.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import type { ModelConfig } from '../models/hf-config.js';
import { packageRoot } from '../package-root.js';

/** One rotary embedding as the native model takes it: frequencies with any scaling applied. */
export interface NativeRope {
  invFreq: number[];
  theta: number;
  attentionFactor: number;
}

/**
 * The model's shape and switches as config.json gives them (lib/models/hf-config.ts, one entry per
 * family in lib/models/architectures.ts), RoPE computed for the engine's max_model_len.
 */
export type NativeModelConfig = Omit<ModelConfig, 'torchDtype' | 'rope' | 'localRope'> & {
  rope: NativeRope;
  localRope: NativeRope | null;
};

export interface NativeTensorInfo {
  name: string;
  /** The checkpoint's own name, for messages, where the decoder asks for it by another. */
  source?: string;
  dtype: string;
  shape: number[];
  file: number; // index into weightFiles
  offset: number;
  nbytes: number;
}

export interface NativeEngineConfig {
  model: NativeModelConfig;
  weightFiles: string[];
  tensors: NativeTensorInfo[];
  eosTokenIds: number[];
  blockSize?: number;
  numBlocks?: number; // 0: as many as kvCacheBytes holds
  /** 0: 1 GiB on the CPU; on a GPU, what gpuMemoryUtilization leaves after a profiling step. */
  kvCacheBytes?: number;
  /** Share of the GPU's memory the engine may use (vLLM's gpu_memory_utilization). */
  gpuMemoryUtilization?: number;
  maxNumSeqs?: number;
  maxNumBatchedTokens?: number;
  maxModelLen?: number;
  maxLogprobs?: number;
  numThreads?: number;
  device?: 'auto' | 'cpu' | 'cuda';
  /** No CUDA graphs (vLLM's ENFORCE_EAGER). */
  enforceEager?: boolean;
  /** Decode steps with longer contexts run without graphs. */
  maxSeqLenToCapture?: number;
  /** A row's numbers never depend on what it is batched with (slower on CUDA at small batches). */
  batchInvariant?: boolean;
  /** Launch decode steps ahead where the backend runs asynchronously (default true). */
  asyncScheduling?: boolean;
  /** LOAD_FORMAT=dummy: seeded random weights standing for a checkpoint of dummyDtype. */
  dummyWeights?: boolean;
  dummyDtype?: 'float32' | 'float16' | 'bfloat16';
  /** DTYPE: what weights and activations run in; 'auto' keeps the checkpoint's. */
  dtype?: 'auto' | 'float32' | 'float16' | 'bfloat16';
  returnLogits?: boolean; // testing: each sampled row's raw logits come back in StepResult.logits
  /** Testing: force launching decode steps ahead on (the CPU too) or off; unset, as asyncScheduling and the backend say. */
  launchAhead?: boolean;
}

/** Sampling parameters as the native core takes them: validated, defaults applied. */
export interface NativeSamplingParams {
  temperature: number;
  topP: number;
  topK: number;
  minP: number;
  repetitionPenalty: number;
  frequencyPenalty: number;
  presencePenalty: number;
  logitBias: [number, number][];
  seed: bigint | number | null;
  maxTokens: number;
  minTokens: number;
  stopTokenIds: number[];
  ignoreEos: boolean;
  logprobs: number; // -1: none
  promptLogprobs: number; // -1: none
}

export const enum NativeFinishReason {
  None = 0,
  Stop = 1,
  Length = 2,
  Abort = 3,
}

export interface NativeLogprobRows {
  logprobs: Float32Array;
  topK: number;
  topIds: Int32Array;
  topLogprobs: Float32Array;
}

export interface NativePromptLogprobs extends NativeLogprobRows {
  seqIds: Float64Array;
  positions: Int32Array;
  tokens: Int32Array;
}

/** One step's output: row i is the token sequence seqIds[i] got. */
export interface NativeStepResult extends NativeLogprobRows {
  seqIds: Float64Array;
  tokens: Int32Array;
  finishReasons: Uint8Array;
  logits?: Float32Array;
  promptLogprobs?: NativePromptLogprobs;
  numScheduledTokens: number;
  numPreempted: number;
  /**
   * Host time between the previous step's results and this step's launch (scheduling, inputs,
   * and the caller's own work between steps): the device idled. 0 when unknown: the first step
   * after the engine ran out of work, or after a step that returned without waiting for the
   * device (a prefill chunk that samples nothing).
   */
  idleBeforeLaunchMs: number;
  /** From this step's launch to its sampled tokens (or prompt logprobs) being back; 0 when the step did not wait. */
  launchToResultMs: number;
  /**
   * The part of this step's host time before its launch spent inside the engine (scheduling and
   * inputs); idleBeforeLaunchMs minus this passed outside it (the caller and the thread hand-offs).
   */
  prepareMs: number;
  /** The engine's counters after the step. */
  stats: NativeEngineStats;
}

export interface NativeEngineStats {
  numRunning: number;
  numWaiting: number;
  numFreeBlocks: number;
  numBlocks: number;
  blockSize: number;
  totalPreemptions: number;
  /** 'cpu' or 'cuda'. */
  backend: string;
  /** Why device auto chose the CPU; '' when it did not have to. */
  backendNote: string;
}

export interface NativeEngine {
  load(): Promise<void>;
  /** `group`: the caller's request the sequence belongs to (running slots are shared fairly between groups); default: its own. */
  addRequest(id: number, promptTokenIds: Int32Array, params: NativeSamplingParams, group?: number): void;
  /**
   * Ends a request and frees its KV blocks. A request that the step launched ahead (see step())
   * holds is removed once that step is done, so it may still appear in that step's result.
   */
  abort(id: number): boolean;
  /**
   * Advances every running request by one step. On a GPU, a step of decodes is launched before
   * the previous step's tokens are returned, so the device works while JavaScript handles them
   * (asyncScheduling: false turns this off; the testing option launchAhead forces it either way,
   * on the CPU too); requests added between two
   * calls then join from the step after the one already launched.
   */
  step(): Promise<NativeStepResult>;
  stats(): NativeEngineStats;
  hasWork(): boolean;
  close(): void;
}

export interface NativeSamplingRow {
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repetitionPenalty?: number;
  frequencyPenalty?: number;
  presencePenalty?: number;
  seed?: number;
  outputPos?: number;
  logprobs?: number;
  history?: number[];
  promptLen?: number;
  logitBias?: [number, number][];
}

interface NativeAddon {
  Engine: new (config: NativeEngineConfig) => NativeEngine;
  testing: {
    sampleLogits(logits: Float32Array, vocab: number, rows: NativeSamplingRow[]): NativeLogprobRows & { tokens: Int32Array };
  };
}

function loadAddon(): NativeAddon {
  const path = join(packageRoot(), 'build', 'Release', 'nodellm.node');
  if (!existsSync(path)) {
    throw new Error(`nodellm: the native addon is not built (${path} is missing); run \`npm run build:native\``);
  }
  return createRequire(import.meta.url)(path) as NativeAddon;
}

export const addon: NativeAddon = loadAddon();
