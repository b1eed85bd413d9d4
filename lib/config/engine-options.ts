// The engine's options: what LLM.load() and `nodellm serve` accept, validated once with errors
// that name the option. Names follow vLLM's engine arguments in camelCase.
import { z } from 'zod';

import { ValidationError, describeEmpty } from '../errors.js';

export interface EngineOptions {
  /** A local HF model directory. Default: the embedded default model (models/brown-llama-6l). */
  model?: string;
  /** Directory of tokenizer.json / tokenizer_config.json when it differs from the model's. */
  tokenizer?: string;
  /** The name the model is reported under. Default: the model path (or the default's name). */
  servedModelName?: string;
  /** 'auto' (default) picks CUDA when this build has it and a GPU is usable, else the CPU. */
  device?: (typeof DEVICES)[number];
  /** Run every step eagerly, without CUDA graphs (vLLM's ENFORCE_EAGER). */
  enforceEager?: boolean;
  /** Decode steps whose contexts are longer run without CUDA graphs. Default 8192. */
  maxSeqLenToCapture?: number;
  /**
   * Compute every row the same way whatever it is batched with (vLLM's VLLM_BATCH_INVARIANT), so a
   * seeded request gives the same tokens alone and inside any batch (on CUDA, short of the
   * exceptions README's "Batch invariance" lists, such as a preempted request's recompute). It
   * costs speed at small batches (no one-row GEMV, no context split); the CPU backend is always
   * batch-invariant.
   */
  batchInvariant?: boolean;
  /**
   * On a GPU, launch each step of decodes before handing the previous step's tokens to
   * JavaScript, so the GPU works meanwhile (vLLM's async scheduling). Default true; requests
   * added meanwhile join one step later. No effect on the CPU, which computes as it is called.
   */
  asyncScheduling?: boolean;
  /** 'auto'/'safetensors' read the weights; 'dummy' fills seeded random ones from config.json alone (vLLM's LOAD_FORMAT=dummy, for benchmarks). */
  loadFormat?: (typeof LOAD_FORMATS)[number];
  /**
   * The dtype weights and activations run in (vLLM's --dtype): 'auto' (default) keeps the
   * checkpoint's 16-bit dtype (float32 checkpoints run in bfloat16 on a GPU); 'bfloat16' or
   * 'float16' ('half') convert at load. The CPU backend computes in float32 whatever this says
   * ('float32', 'float': CPU only).
   */
  dtype?: (typeof DTYPES)[number];
  /** Longest prompt + output, in tokens. Default: the model's max_position_embeddings; at most that times a linear, dynamic or YaRN rope_scaling factor. */
  maxModelLen?: number;
  /** Most sequences in one step. Default 256. */
  maxNumSeqs?: number;
  /** Most tokens in one step (prefill chunks + decodes). Default max(2048, maxNumSeqs). */
  maxNumBatchedTokens?: number;
  /** Tokens per KV-cache block: 8, 16 or 32. Default 16. */
  blockSize?: 8 | 16 | 32;
  /**
   * Bytes of memory for the KV cache. Default: 1 GiB on the CPU; on a GPU, what
   * gpuMemoryUtilization leaves once the weights and a profiling step at the largest batch have
   * taken theirs.
   */
  kvCacheBytes?: number;
  /** Share of the GPU's memory the engine may use, in (0, 1]. Default 0.9 (vLLM's gpu_memory_utilization). */
  gpuMemoryUtilization?: number;
  /** Exact number of KV-cache blocks, overriding kvCacheBytes (vLLM: num_gpu_blocks_override). */
  numKvBlocks?: number;
  /** Worker threads of the CPU backend. Default: one per core. */
  numThreads?: number;
  /** Largest logprobs / prompt_logprobs a request may ask for. Default 20 (as vLLM). */
  maxLogprobs?: number;
  /**
   * Most characters of one prompt (or of a conversation's contents, summed), refused before they
   * are tokenized. Default 16 x maxModelLen: a prompt that fits the context cannot average more
   * per token, short of long runs of one character (lib/engine/input-limits.ts).
   */
  maxPromptChars?: number;
  /** Most sequences (prompts x n) one request may start. Default 256 (or maxWaitingSeqs, if lower). */
  maxSeqsPerRequest?: number;
  /**
   * Most sequences waiting for a running slot; past it, new requests are refused with an
   * OverloadedError (HTTP 503 with Retry-After). Default: no bound in the library (your code
   * decides what it submits) and the worker (MAX_CONCURRENCY bounds the jobs it takes, and a job
   * refused would be a job lost); `nodellm serve` defaults to 4096.
   */
  maxWaitingSeqs?: number;
  /** A chat template (or a path to one) replacing the model's (CUSTOM_CHAT_TEMPLATE). */
  chatTemplate?: string;
  /** Testing: return each sampled row's raw logits from the native step. */
  returnLogits?: boolean;
  /** Testing: force launch-ahead on (the CPU too) or off, whatever asyncScheduling and the backend say. */
  launchAhead?: boolean;
}

const positiveInt = z.number().int().min(1, 'must be a positive integer');
/** maxWaitingSeqs of `nodellm serve`, where a bound protects the other users. */
export const SERVER_MAX_WAITING_SEQS = 4096;

/** The values of `device` and `loadFormat`, for every place that reads them (flags, env, options). */
export const DEVICES = ['auto', 'cpu', 'cuda'] as const;
export const LOAD_FORMATS = ['auto', 'safetensors', 'dummy'] as const;
/** vLLM's --dtype values ('half' is float16, 'float' float32). */
export const DTYPES = ['auto', 'bfloat16', 'float16', 'half', 'float32', 'float'] as const;

/** A share of the GPU's memory (gpuMemoryUtilization, GPU_MEMORY_UTILIZATION, --gpu-memory-utilization). */
export const gpuMemoryShare = z.number({ error: 'must be a number in (0, 1]' }).gt(0, 'must be in (0, 1]').max(1, 'must be in (0, 1]');

const schema = z
  .object({
    model: z.string().min(1).optional(),
    tokenizer: z.string().min(1).optional(),
    servedModelName: z.string().min(1).optional(),
    device: z.enum(DEVICES).optional(),
    loadFormat: z.enum(LOAD_FORMATS).optional(),
    dtype: z.enum(DTYPES).optional(),
    enforceEager: z.boolean().optional(),
    maxSeqLenToCapture: positiveInt.optional(),
    batchInvariant: z.boolean().optional(),
    asyncScheduling: z.boolean().optional(),
    maxModelLen: positiveInt.optional(),
    maxNumSeqs: positiveInt.optional(),
    maxNumBatchedTokens: positiveInt.optional(),
    blockSize: z.union([z.literal(8), z.literal(16), z.literal(32)]).optional(),
    kvCacheBytes: positiveInt.optional(),
    gpuMemoryUtilization: gpuMemoryShare.optional(),
    numKvBlocks: positiveInt.optional(),
    numThreads: positiveInt.optional(),
    maxLogprobs: z.number().int().min(0).optional(),
    maxPromptChars: positiveInt.optional(),
    maxSeqsPerRequest: positiveInt.optional(),
    maxWaitingSeqs: positiveInt.optional(),
    chatTemplate: z.string().optional(),
    returnLogits: z.boolean().optional(),
    launchAhead: z.boolean().optional(),
  })
  .strict();

export function validateEngineOptions(options: EngineOptions | undefined): EngineOptions {
  const parsed = schema.safeParse(options ?? {});
  if (parsed.success) return parsed.data as EngineOptions;
  const issue = parsed.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    throw new ValidationError(issue.keys[0]!, `Unknown engine option: ${issue.keys[0]}`);
  }
  const field = issue.path.map(String).join('.');
  const value = (options as Record<string, unknown> | undefined)?.[field];
  const received = describeEmpty(value) ?? JSON.stringify(value);
  throw new ValidationError(field, `Invalid engine option ${field}: ${issue.message}, but received ${received}`);
}
