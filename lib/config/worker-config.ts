// The worker's configuration, read once from the environment (worker-vllm's variables, RunPod's
// and Hugging Face's) into one typed object. lib/config/worker-env-table.ts says how each variable
// is handled: the ones it marks supported (yes, partly) are read and applied by the code below;
// the others are handled from the table itself (logged as having no effect, or refused unless at
// their default). Every problem is collected and reported together, before anything is loaded.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

import type { LogLevel } from '../runpod/logger.js';
import { DEVICES, DTYPES, type EngineOptions, gpuMemoryShare, LOAD_FORMATS } from './engine-options.js';
import { ConfigError, EnvReader } from './env-reader.js';
import { readExtraArgs } from './vllm-extra-args.js';
import { WORKER_ENV } from './worker-env-table.js';

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

/** An EnvReader that records the names it was asked for (see traceWorkerConfigReads). */
class TracingReader extends EnvReader {
  constructor(
    env: Record<string, string | undefined>,
    readonly names: Set<string>,
  ) {
    super(env);
  }

  override raw(name: string): string | undefined {
    this.names.add(name);
    return super.raw(name);
  }
}

/** `newer` and `older` name one setting: either may be set, but not to different values. */
function sameSetting<T extends string | number = string>(r: EnvReader, older: string, newer: string, read?: (name: string) => T | undefined): T | undefined {
  const get = read ?? ((name: string) => r.string(name) as T | undefined);
  const a = get(older);
  const b = get(newer);
  if (a !== undefined && b !== undefined && a !== b) r.problem(newer, `disagrees with ${older} (${b} vs ${a}); set one`);
  return a ?? b;
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
  return readConfig(environment, options, new Set());
}

/**
 * The names readWorkerConfig asks the environment for, whether set or not (for the test that
 * checks the table against the code); the configuration, or the ConfigError, is ignored.
 */
export function traceWorkerConfigReads(environment: Record<string, string | undefined>, options: { localModelArgsPath?: string } = {}): Set<string> {
  const names = new Set<string>();
  try {
    readConfig(environment, options, names);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
  }
  return names;
}

function readConfig(environment: Record<string, string | undefined>, options: { localModelArgsPath?: string }, names: Set<string>): WorkerConfig {
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
  // Reads `env`, which VLLM_EXTRA_ARGS may still change below.
  const r = new TracingReader(env, names);

  // VLLM_EXTRA_ARGS: worker-vllm appends these flags to `vllm serve` after the ones it builds
  // from the variables, so each wins over the variable it sets.
  const fromFlags = new Map<string, string>();
  const extraArgs = r.text('VLLM_EXTRA_ARGS');
  if (extraArgs !== undefined) {
    const extra = readExtraArgs(extraArgs, WORKER_ENV);
    for (const problem of extra.problems) r.problem('VLLM_EXTRA_ARGS', problem);
    for (const [name, { flag, value }] of extra.values) {
      env[name] = value;
      fromFlags.set(name, flag);
    }
    if (extra.values.size > 0) {
      const read = [...extra.values].map(([name, { flag }]) => `${flag} as ${name}`);
      notes.push(`VLLM_EXTRA_ARGS: reading ${read.join(', ')}`);
    }
  }

  // Model and tokenizer. MODEL, REVISION and TOKENIZER are vLLM's field names, which
  // worker-vllm's classic worker read from the environment like any other field; its own names
  // (MODEL_NAME, MODEL_REVISION, TOKENIZER_NAME) win over them.
  const modelName = r.string('MODEL_NAME');
  const modelField = r.string('MODEL');
  if (modelName !== undefined && modelField !== undefined && modelName !== modelField) {
    notes.push(`MODEL=${modelField} has no effect: MODEL_NAME (${modelName}) wins over it`);
  }
  const revision = sameSetting(r, 'MODEL_REVISION', 'REVISION');
  const tokenizer = sameSetting(r, 'TOKENIZER_NAME', 'TOKENIZER');
  const model: ModelSource = {
    ...((modelName ?? modelField) && { name: modelName ?? modelField }),
    ...(revision && { revision }),
    ...(tokenizer && { tokenizer }),
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
  // SERVED_MODEL_NAME and RESPONSE_ROLE: worker-vllm's newer names (v2.24.0 on).
  const served = sameSetting(r, 'OPENAI_SERVED_MODEL_NAME_OVERRIDE', 'SERVED_MODEL_NAME') ?? model.name;
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

  // The variables the table handles itself: accepted and logged as having no effect (one line
  // per reason), or accepted at their defaults only (not supported yet). Secrets are named, never
  // shown.
  const moot = new Map<string, { set: string[]; secret: boolean }>();
  for (const v of WORKER_ENV) {
    if (v.supported === 'no effect') {
      const value = v.type === 'bool' ? r.bool(v.name) : r.string(v.name);
      if (value === undefined) continue;
      const group = moot.get(v.why) ?? { set: [], secret: false };
      group.set.push(v.secret ? v.name : `${v.name}=${value}`);
      group.secret ||= v.secret === true;
      moot.set(v.why, group);
    } else if (v.supported === 'default only') {
      if (!v.secret) r.onlyDefault(v.name, v.why, v.isDefault);
      else if (r.has(v.name) && !v.isDefault(r.string(v.name)!)) r.problem(v.name, `${v.why}; unset it or use the default`);
    }
  }
  for (const [why, { set, secret }] of moot) {
    const verb = set.length > 1 ? 'have' : secret ? 'is set but has' : 'has';
    notes.push(`${set.join(', ')} ${verb} no effect: ${why}`);
  }

  // Streaming batches: the documented names and the ones worker-vllm's code read.
  const positive = z.number().positive('must be a number > 0');
  const batch: BatchSettings = {
    max: r.int('DEFAULT_BATCH_SIZE') ?? 50,
    min: sameSetting(r, 'DEFAULT_MIN_BATCH_SIZE', 'MIN_BATCH_SIZE', (n) => r.int(n)) ?? 1,
    growth: sameSetting(r, 'DEFAULT_BATCH_SIZE_GROWTH_FACTOR', 'BATCH_SIZE_GROWTH_FACTOR', (n) => r.number(n, positive)) ?? 3,
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
    responseRole: sameSetting(r, 'OPENAI_RESPONSE_ROLE', 'RESPONSE_ROLE') ?? 'assistant',
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
  if (r.problems.length > 0) {
    // A problem with a value VLLM_EXTRA_ARGS set names the flag, where the value came from.
    throw new ConfigError(
      r.problems.map((problem) => {
        const name = problem.slice(0, problem.indexOf(': '));
        const flag = fromFlags.get(name);
        return flag ? `VLLM_EXTRA_ARGS: ${flag} (read as ${name}): ${problem.slice(name.length + 2)}` : problem;
      }),
    );
  }
  return { model, engine, hub, handler, log, runpod, maxConcurrency, notes };
}
