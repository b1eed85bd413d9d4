// The worker's configuration, read once from the environment (worker-vllm's variables, RunPod's
// and Hugging Face's) into one typed object. Each variable of lib/config/worker-env-table.ts is
// read here: applied, or, where nodellm does not support it yet, refused with its name; every
// problem is collected and reported together, before anything is loaded.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

import type { LogLevel } from '../runpod/logger.js';
import { DEVICES, DTYPES, type EngineOptions, gpuMemoryShare, LOAD_FORMATS } from './engine-options.js';
import { ConfigError, EnvReader, isFalse, isNumber, isOneOf } from './env-reader.js';

export { ConfigError } from './env-reader.js';

/** Where the model comes from: a HF repo id or a local directory (undefined: the embedded model). */
export interface ModelSource {
  name?: string;
  revision?: string;
  tokenizer?: string;
  tokenizerRevision?: string;
}

export interface HubSettings {
  token?: string;
  /** HF_ENDPOINT, without a trailing slash. */
  endpoint: string;
  /** The HF cache (models--org--name/{blobs,refs,snapshots}). */
  cacheDir: string;
  /** Never download (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE, or a model baked into the image). */
  offline: boolean;
}

/** Streamed items grow from `min` tokens by `growth` per item up to `max` (worker-vllm's BatchSize). */
export interface BatchSettings {
  max: number;
  min: number;
  growth: number;
}

export interface HandlerSettings {
  batch: BatchSettings;
  rawOpenAIOutput: boolean;
  responseRole: string;
  returnTokensAsTokenIds: boolean;
  excludeToolsWhenToolChoiceNone: boolean;
  forceIncludeUsage: boolean;
  /** Standard path: max_tokens when sampling_params has none (worker-vllm injects 100). */
  defaultMaxTokens: number;
}

export interface LogSettings {
  level: LogLevel;
  json: boolean;
  logRequests: boolean;
  logOutputs: boolean;
  logErrorStack: boolean;
  /** Characters of a logged input or output; null: all. */
  maxLogLen: number | null;
  logStats: boolean;
}

export interface RunpodSettings {
  getJobUrl?: string;
  postOutputUrl?: string;
  postStreamUrl?: string;
  pingUrl?: string;
  pingIntervalMs: number;
  apiKey?: string;
  podId?: string;
  hostname: string;
  endpointId?: string;
  uaIntegration?: string;
}

export interface WorkerConfig {
  model: ModelSource;
  /** Engine options besides the model and tokenizer paths (resolved from `model` at start-up). */
  engine: Omit<EngineOptions, 'model' | 'tokenizer'>;
  hub: HubSettings;
  handler: HandlerSettings;
  log: LogSettings;
  runpod: RunpodSettings;
  maxConcurrency: number;
  /** Lines to log at start-up: variables accepted without effect, a baked model, ... */
  notes: string[];
}

/** The HF cache, endpoint, token and offline flag (what `nodellm download` needs too). */
export function readHubSettings(r: EnvReader, forceOffline = false): HubSettings {
  const offline = forceOffline || r.bool('HF_HUB_OFFLINE') === true || r.bool('TRANSFORMERS_OFFLINE') === true;
  const basePath = r.string('BASE_PATH');
  const hfHome = r.string('HF_HOME');
  const cacheDir =
    r.string('DOWNLOAD_DIR') ??
    r.string('HF_HUB_CACHE') ??
    r.string('HUGGINGFACE_HUB_CACHE') ??
    (basePath ? join(basePath, 'huggingface-cache', 'hub') : undefined) ??
    join(hfHome ?? join(homedir(), '.cache', 'huggingface'), 'hub');
  const endpoint = (r.string('HF_ENDPOINT') ?? 'https://huggingface.co').replace(/\/+$/, '');
  if (!/^https?:\/\//.test(endpoint)) r.problem('HF_ENDPOINT', `must be an http(s) URL, but is ${JSON.stringify(endpoint)}`);
  const token = r.string('HF_TOKEN');
  return { endpoint, cacheDir, offline, ...(token && { token }) };
}

/** Hub settings alone, for `nodellm download`. */
export function hubSettingsFromEnv(env: Record<string, string | undefined> = process.env): HubSettings {
  const r = new EnvReader(env);
  const hub = readHubSettings(r);
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return hub;
}

export const DEFAULT_LOCAL_MODEL_ARGS = '/local_model_args.json';
const BAKED_KEYS = ['MODEL_NAME', 'MODEL_REVISION', 'TOKENIZER_NAME', 'TOKENIZER_REVISION', 'QUANTIZATION', 'HF_HUB_CACHE'] as const;

/**
 * Reads the configuration. `localModelArgsPath` is the file a baked image carries (worker-vllm's
 * /local_model_args.json): its values win over the environment and the worker runs offline.
 */
export function readWorkerConfig(
  environment: Record<string, string | undefined> = process.env,
  options: { localModelArgsPath?: string } = {},
): WorkerConfig {
  const notes: string[] = [];
  const env = { ...environment };
  let baked: Record<string, unknown> | null = null;
  const argsPath = options.localModelArgsPath ?? DEFAULT_LOCAL_MODEL_ARGS;
  if (existsSync(argsPath)) {
    try {
      baked = JSON.parse(readFileSync(argsPath, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new ConfigError([`${argsPath}: not valid JSON (${(error as Error).message})`]);
    }
    for (const key of BAKED_KEYS) if (typeof baked[key] === 'string' && baked[key] !== '') env[key] = baked[key];
    notes.push(`Using the model baked into the image (${argsPath}): ${String(baked.MODEL_NAME)}; running offline`);
  }
  const r = new EnvReader(env);

  // Model and tokenizer.
  const tokenizerName = r.string('TOKENIZER_NAME');
  const tokenizerAlias = r.string('TOKENIZER');
  if (tokenizerName && tokenizerAlias && tokenizerName !== tokenizerAlias) {
    r.problem('TOKENIZER', `disagrees with TOKENIZER_NAME (${tokenizerAlias} vs ${tokenizerName}); set one`);
  }
  const model: ModelSource = {
    ...(r.string('MODEL_NAME') && { name: r.string('MODEL_NAME') }),
    ...(r.string('MODEL_REVISION') && { revision: r.string('MODEL_REVISION') }),
    ...((tokenizerName ?? tokenizerAlias) && { tokenizer: tokenizerName ?? tokenizerAlias }),
    ...(r.string('TOKENIZER_REVISION') && { tokenizerRevision: r.string('TOKENIZER_REVISION') }),
  };

  // Engine.
  const engine: WorkerConfig['engine'] = {};
  const maxModelLen = r.int('MAX_MODEL_LEN', { min: 0 });
  if (maxModelLen) engine.maxModelLen = maxModelLen;
  const maxNumSeqs = r.int('MAX_NUM_SEQS');
  if (maxNumSeqs !== undefined) engine.maxNumSeqs = maxNumSeqs;
  const batched = r.int('MAX_NUM_BATCHED_TOKENS', { min: 0 });
  if (batched) engine.maxNumBatchedTokens = batched;
  const blockSize = r.oneOf('BLOCK_SIZE', ['8', '16', '32'] as const);
  if (blockSize) engine.blockSize = Number(blockSize) as 8 | 16 | 32;
  const blocks = r.int('NUM_GPU_BLOCKS_OVERRIDE', { min: 0 });
  if (blocks) engine.numKvBlocks = blocks;
  // worker-vllm's default is 0.95 (vLLM's own is 0.9).
  engine.gpuMemoryUtilization =
    r.number('GPU_MEMORY_UTILIZATION', gpuMemoryShare) ?? 0.95;
  const maxLogprobs = r.int('MAX_LOGPROBS', { min: 0 });
  if (maxLogprobs !== undefined) engine.maxLogprobs = maxLogprobs;
  const template = r.text('CUSTOM_CHAT_TEMPLATE');
  if (template !== undefined) engine.chatTemplate = template;
  const device = r.oneOf('DEVICE', DEVICES);
  if (device) engine.device = device;
  const loadFormat = r.oneOf('LOAD_FORMAT', LOAD_FORMATS);
  if (loadFormat) engine.loadFormat = loadFormat;
  const dtype = r.oneOf('DTYPE', DTYPES);
  if (dtype) engine.dtype = dtype;
  const eager = r.bool('ENFORCE_EAGER');
  if (eager !== undefined) engine.enforceEager = eager;
  const capture = r.int('MAX_SEQ_LEN_TO_CAPTURE');
  const captureOld = r.int('MAX_CONTEXT_LEN_TO_CAPTURE');
  if (capture !== undefined && captureOld !== undefined && capture !== captureOld) {
    r.problem('MAX_CONTEXT_LEN_TO_CAPTURE', `disagrees with MAX_SEQ_LEN_TO_CAPTURE (${captureOld} vs ${capture}); set MAX_SEQ_LEN_TO_CAPTURE only`);
  }
  if ((capture ?? captureOld) !== undefined) engine.maxSeqLenToCapture = (capture ?? captureOld)!;
  // vLLM's switch for batch-invariant numerics (worker-vllm passes the environment to vLLM).
  const invariant = r.bool('VLLM_BATCH_INVARIANT');
  if (invariant !== undefined) engine.batchInvariant = invariant;
  const served = r.string('OPENAI_SERVED_MODEL_NAME_OVERRIDE') ?? model.name;
  if (served) engine.servedModelName = served;

  r.oneOf('PREEMPTION_MODE', ['recompute'] as const);
  // vLLM's async scheduling: the next decode step is launched before the last one's tokens are
  // post-processed (on by default in both).
  const asyncScheduling = r.bool('ASYNC_SCHEDULING');
  if (asyncScheduling !== undefined) engine.asyncScheduling = asyncScheduling;
  // nodellm's own limits (issue 16): what one job may ask for, and how much may wait.
  const perRequest = r.int('MAX_SEQS_PER_REQUEST');
  if (perRequest !== undefined) engine.maxSeqsPerRequest = perRequest;
  // No bound unless set: MAX_CONCURRENCY already bounds the jobs taken, and a job refused as
  // overloaded would be a job lost, where waiting a little longer loses nothing.
  const maxWaiting = r.int('MAX_WAITING_SEQS');
  if (maxWaiting !== undefined) engine.maxWaitingSeqs = maxWaiting;
  const promptChars = r.int('MAX_PROMPT_CHARS');
  if (promptChars !== undefined) engine.maxPromptChars = promptChars;

  // Accepted either way; logged so that nothing passes unseen.
  const moot: [string, string][] = [
    ['TRUST_REMOTE_CODE', 'nodellm never runs code from a model repository'],
    ['DISABLE_CUSTOM_ALL_REDUCE', 'one device, so no all-reduce'],
    ['USE_V2_BLOCK_MANAGER', 'ignored, as in worker-vllm'],
    ['ENABLE_CHUNKED_PREFILL', 'prompts longer than MAX_NUM_BATCHED_TOKENS are always prefilled in chunks'],
  ];
  for (const [name, why] of moot) {
    const value = r.bool(name);
    if (value !== undefined) notes.push(`${name}=${value} has no effect: ${why}`);
  }

  // Not supported yet: accepted at their defaults only.
  const unsupported: [string, string, ((value: string) => boolean)?][] = [
    ['SKIP_TOKENIZER_INIT', 'skipping the tokenizer is not supported yet', isFalse],
    ['TOKENIZER_MODE', 'only the "auto" tokenizer mode is supported', isOneOf('auto')],
    ['KV_CACHE_DTYPE', 'only the "auto" KV-cache dtype is supported', isOneOf('auto')],
    ['DISTRIBUTED_EXECUTOR_BACKEND', 'nodellm runs on one device; distributed serving is not supported yet'],
    ['PIPELINE_PARALLEL_SIZE', 'pipeline parallelism is not supported yet (one device)', isNumber(1)],
    ['TENSOR_PARALLEL_SIZE', 'tensor parallelism is not supported yet (one device)', isNumber(1)],
    ['MAX_PARALLEL_LOADING_WORKERS', 'parallel loading workers are not supported (weights are memory-mapped)'],
    ['RAY_WORKERS_USE_NSIGHT', 'Ray is not used by nodellm', isFalse],
    ['ENABLE_PREFIX_CACHING', 'prefix caching is not supported yet', isFalse],
    ['DISABLE_SLIDING_WINDOW', 'sliding windows always apply as the model\'s config sets them', isFalse],
    ['NUM_LOOKAHEAD_SLOTS', 'lookahead scheduling is not supported', isNumber(0)],
    ['SEED', 'an engine-wide seed is not supported yet; send `seed` in sampling_params', isNumber(0)],
    ['QUANTIZATION', 'quantized weights are not supported yet'],
    ['ENABLE_LORA', 'LoRA adapters are not supported yet', isFalse],
    ['MAX_LORAS', 'LoRA adapters are not supported yet', isNumber(1)],
    ['MAX_LORA_RANK', 'LoRA adapters are not supported yet', isNumber(16)],
    ['LORA_DTYPE', 'LoRA adapters are not supported yet', isOneOf('auto')],
    ['MAX_CPU_LORAS', 'LoRA adapters are not supported yet'],
    ['FULLY_SHARDED_LORAS', 'LoRA adapters are not supported yet', isFalse],
    ['LORA_MODULES', 'LoRA adapters are not supported yet', isOneOf('[]')],
    ['LORA_EXTRA_VOCAB_SIZE', 'LoRA adapters are not supported yet', isNumber(256)],
    ['LONG_LORA_SCALING_FACTORS', 'LoRA adapters are not supported yet'],
    ['SPECULATIVE_CONFIG', 'speculative decoding is not supported yet'],
    ['SPECULATIVE_METHOD', 'speculative decoding is not supported yet'],
    ['SPECULATIVE_MODEL', 'speculative decoding is not supported yet'],
    ['NUM_SPECULATIVE_TOKENS', 'speculative decoding is not supported yet', isNumber(0)],
    ['SPECULATIVE_DRAFT_TENSOR_PARALLEL_SIZE', 'speculative decoding is not supported yet', isNumber(0)],
    ['SPECULATIVE_MAX_MODEL_LEN', 'speculative decoding is not supported yet', isNumber(0)],
    ['SPECULATIVE_DISABLE_BY_BATCH_SIZE', 'speculative decoding is not supported yet', isNumber(0)],
    ['NGRAM_PROMPT_LOOKUP_MAX', 'speculative decoding is not supported yet', isNumber(0)],
    ['NGRAM_PROMPT_LOOKUP_MIN', 'speculative decoding is not supported yet', isNumber(0)],
    ['SPECULATIVE_QUANTIZATION', 'speculative decoding is not supported yet'],
    ['SPECULATIVE_MODEL_REVISION', 'speculative decoding is not supported yet'],
    ['SPECULATIVE_ENFORCE_EAGER', 'speculative decoding is not supported yet', isFalse],
    ['SWAP_SPACE', 'swapping is not supported (preempted sequences are recomputed)', isNumber(4)],
    ['ENABLE_EXPERT_PARALLEL', 'mixture-of-experts models are not supported yet', isFalse],
    ['ATTENTION_BACKEND', 'choosing the attention backend is not supported'],
    ['VLLM_ATTENTION_BACKEND', 'choosing the attention backend is not supported'],
    ['STREAM_INTERVAL', 'streaming every N steps is not supported yet', isNumber(1)],
    ['ENABLE_AUTO_TOOL_CHOICE', 'tool calling is not supported yet', isFalse],
    ['TOOL_CALL_PARSER', 'tool calling is not supported yet'],
    ['REASONING_PARSER', 'reasoning parsers are not supported yet'],
    ['TRUST_REQUEST_CHAT_TEMPLATE', 'chat templates sent in requests are not supported', isFalse],
    ['ENABLE_PROMPT_TOKENS_DETAILS', 'usage.prompt_tokens_details is not supported yet', isFalse],
    ['MODEL_LOADER_EXTRA_CONFIG', 'model loader options are not supported'],
    ['PREEMPTION_CHECK_PERIOD', 'preemption tuning is not supported', isNumber(1)],
    ['PREEMPTION_CPU_CAPACITY', 'preemption tuning is not supported', isNumber(2)],
    ['LIMIT_MM_PER_PROMPT', 'multimodal inputs are not supported yet'],
    ['VLLM_CONFIG_FILE', 'vLLM YAML config files are not supported; use environment variables'],
    ['TRANSFORMERS_VERSION', 'nodellm does not use transformers'],
    ['VLLM_USE_DEEP_GEMM', 'DeepGEMM kernels are not supported', isFalse],
    ['QUANTIZATION_PARAM_PATH', 'KV-cache scaling factors are not supported'],
    ['GUIDED_DECODING_BACKEND', 'guided decoding is not supported yet', isOneOf('auto', 'outlines', 'xgrammar')],
    ['WORKER_USE_RAY', 'Ray is not used by nodellm', isFalse],
    ['ROPE_SCALING', "overriding rope scaling is not supported (the model's config.json is used)"],
    ['ROPE_THETA', "overriding rope theta is not supported (the model's config.json is used)"],
    ['TOKENIZER_POOL_SIZE', 'tokenizer pools are not supported (tokenization runs off the event loop)', isNumber(0)],
    ['TOKENIZER_POOL_TYPE', 'tokenizer pools are not supported', isOneOf('ray')],
    ['TOKENIZER_POOL_EXTRA_CONFIG', 'tokenizer pools are not supported'],
    ['SCHEDULER_DELAY_FACTOR', 'delayed scheduling is not supported', isNumber(0)],
    ['RUNPOD_REALTIME_PORT', "the SDK's realtime mode is not supported", isNumber(0)],
    ['RUNPOD_REALTIME_CONCURRENCY', "the SDK's realtime mode is not supported", isNumber(1)],
  ];
  for (const [name, why, isDefault] of unsupported) r.onlyDefault(name, why, isDefault);

  // Streaming batches: the documented names and the ones worker-vllm's code read.
  const pick = (documented: string, old: string, read: (name: string) => number | undefined) => {
    const a = read(documented);
    const b = read(old);
    if (a !== undefined && b !== undefined && a !== b) r.problem(old, `disagrees with ${documented} (${b} vs ${a}); set one`);
    return a ?? b;
  };
  const positive = z.number().positive('must be a number > 0');
  const batch: BatchSettings = {
    max: r.int('DEFAULT_BATCH_SIZE') ?? 50,
    min: pick('DEFAULT_MIN_BATCH_SIZE', 'MIN_BATCH_SIZE', (n) => r.int(n)) ?? 1,
    growth: pick('DEFAULT_BATCH_SIZE_GROWTH_FACTOR', 'BATCH_SIZE_GROWTH_FACTOR', (n) => r.number(n, positive)) ?? 3,
  };

  // OpenAI.
  let rawOpenAIOutput = true;
  const rawValue = r.string('RAW_OPENAI_OUTPUT');
  if (rawValue !== undefined) {
    if (/^-?\d+$/.test(rawValue)) rawOpenAIOutput = Number(rawValue) !== 0;
    else rawOpenAIOutput = r.bool('RAW_OPENAI_OUTPUT') ?? true;
  }
  const handler: HandlerSettings = {
    batch,
    rawOpenAIOutput,
    responseRole: r.string('OPENAI_RESPONSE_ROLE') ?? 'assistant',
    returnTokensAsTokenIds: r.bool('RETURN_TOKENS_AS_TOKEN_IDS') ?? false,
    excludeToolsWhenToolChoiceNone: r.bool('EXCLUDE_TOOLS_WHEN_TOOL_CHOICE_NONE') ?? false,
    forceIncludeUsage: r.bool('ENABLE_FORCE_INCLUDE_USAGE') ?? false,
    defaultMaxTokens: 100,
  };

  // Logging.
  const enableLog = r.bool('ENABLE_LOG_REQUESTS');
  const disableLog = r.bool('DISABLE_LOG_REQUESTS') ?? r.bool('DISABLE_LOGGING_REQUEST');
  if (enableLog !== undefined && disableLog !== undefined && enableLog === disableLog) {
    r.problem('DISABLE_LOG_REQUESTS', `contradicts ENABLE_LOG_REQUESTS=${enableLog}; set only ENABLE_LOG_REQUESTS`);
  }
  const levelRaw = r.has('RUNPOD_LOG_LEVEL') ? 'RUNPOD_LOG_LEVEL' : 'RUNPOD_DEBUG_LEVEL';
  const levelValue = r.string(levelRaw)?.toUpperCase();
  let level: LogLevel = 'INFO';
  if (levelValue !== undefined) {
    const normal = levelValue === 'WARNING' ? 'WARN' : levelValue;
    if (['DEBUG', 'INFO', 'WARN', 'ERROR'].includes(normal)) level = normal as LogLevel;
    else r.problem(levelRaw, `must be DEBUG, INFO, WARN or ERROR, but is ${JSON.stringify(r.raw(levelRaw))}`);
  }
  const log: LogSettings = {
    level,
    json: r.has('RUNPOD_ENDPOINT_ID'),
    logRequests: enableLog ?? (disableLog === undefined ? false : !disableLog),
    logOutputs: r.bool('ENABLE_LOG_OUTPUTS') ?? false,
    logErrorStack: r.bool('LOG_ERROR_STACK') ?? false,
    maxLogLen: r.int('MAX_LOG_LEN', { min: 0 }) ?? null,
    logStats: !(r.bool('DISABLE_LOG_STATS') ?? false),
  };

  // Model files.
  const hub = readHubSettings(r, baked !== null);
  // The baked files are where the image put them, whatever DOWNLOAD_DIR or BASE_PATH say now.
  if (typeof baked?.HF_HUB_CACHE === 'string' && baked.HF_HUB_CACHE) hub.cacheDir = baked.HF_HUB_CACHE;

  // RunPod platform.
  const runpod: RunpodSettings = {
    pingIntervalMs: r.int('RUNPOD_PING_INTERVAL') ?? 10_000,
    hostname: r.string('RUNPOD_POD_HOSTNAME') ?? 'unknown',
  };
  const urls = [
    ['RUNPOD_WEBHOOK_GET_JOB', 'getJobUrl'],
    ['RUNPOD_WEBHOOK_POST_OUTPUT', 'postOutputUrl'],
    ['RUNPOD_WEBHOOK_POST_STREAM', 'postStreamUrl'],
    ['RUNPOD_WEBHOOK_PING', 'pingUrl'],
  ] as const;
  for (const [name, key] of urls) {
    const url = r.string(name);
    if (url === undefined) continue;
    try {
      new URL(url.replaceAll('$RUNPOD_POD_ID', 'x').replaceAll('$ID', 'x'));
      runpod[key] = url;
    } catch {
      r.problem(name, `is not a URL: ${JSON.stringify(url)}`);
    }
  }
  if (runpod.getJobUrl && !(runpod.postOutputUrl && runpod.postStreamUrl)) {
    r.problem('RUNPOD_WEBHOOK_POST_OUTPUT', 'RUNPOD_WEBHOOK_GET_JOB is set, so RUNPOD_WEBHOOK_POST_OUTPUT and RUNPOD_WEBHOOK_POST_STREAM are needed too');
  }
  const optional = [
    ['RUNPOD_AI_API_KEY', 'apiKey'],
    ['RUNPOD_POD_ID', 'podId'],
    ['RUNPOD_ENDPOINT_ID', 'endpointId'],
    ['RUNPOD_UA_INTEGRATION', 'uaIntegration'],
  ] as const;
  for (const [name, key] of optional) {
    const value = r.string(name);
    if (value !== undefined) runpod[key] = value;
  }

  const maxConcurrency = r.int('MAX_CONCURRENCY') ?? 30;
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return { model, engine, hub, handler, log, runpod, maxConcurrency, notes };
}
