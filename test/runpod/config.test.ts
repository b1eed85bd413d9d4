// Every environment variable of nodellm's table (lib/config/worker-env-table.ts) is read: applied
// (the configuration changes), logged as having no effect, or, where nodellm does not support it
// yet, refused at start-up with its name; none is silently ignored, and each is in README's table.
// test/runpod/worker-vllm-env.test.ts checks the table against worker-vllm's own list.
import { readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { WORKER_ENV } from '../../lib/config/worker-env-table.js';
import { ConfigError, type WorkerConfig, readWorkerConfig } from '../../lib/config/worker-config.js';
import { parseJobInput } from '../../lib/runpod/job-input.js';
import { useTempDirs } from '../helpers/temp-dirs.js';

const tempDir = useTempDirs();
const NO_BAKED = { localModelArgsPath: '/nonexistent/local_model_args.json' };
// POST_OUTPUT and POST_STREAM go with GET_JOB; they are set in the baseline so GET_JOB can be tried alone.
const BASE = {
  RUNPOD_WEBHOOK_POST_OUTPUT: 'http://127.0.0.1:2/done/$RUNPOD_POD_ID/$ID?gpu=y',
  RUNPOD_WEBHOOK_POST_STREAM: 'http://127.0.0.1:2/stream/$RUNPOD_POD_ID/$ID?gpu=y',
};
const read = (env: Record<string, string>) => readWorkerConfig({ ...BASE, ...env }, NO_BAKED);
const problems = (env: Record<string, string>): string[] => {
  try {
    read(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
};

describe('every variable of the table', () => {
  const baseline = read({});

  it.each(WORKER_ENV.map((v) => [v.name, v]))('%s is applied, logged or refused by name, never ignored', (name, v) => {
    let config: WorkerConfig | null = null;
    let error: unknown = null;
    try {
      config = read({ [name]: v.sample });
    } catch (e) {
      error = e;
    }
    if (v.supported === 'default only') {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems.some((p) => p.startsWith(`${name}: `))).toBe(true);
    } else if (v.supported === 'no effect') {
      expect(error).toBeNull();
      expect({ ...config!, notes: [] }).toEqual({ ...baseline, notes: [] });
      expect(config!.notes.some((n) => n.startsWith(name))).toBe(true);
    } else if (error) {
      expect(v.supported).toBe('partly');
      expect((error as ConfigError).problems.some((p) => p.startsWith(`${name}: `))).toBe(true);
    } else {
      expect(config).not.toEqual(baseline);
    }
  });

  it.each(WORKER_ENV.filter((v) => v.supported === 'default only').map((v) => [v.name, v.default]))(
    '%s at its default (%s) is accepted',
    (name, dflt) => {
      expect(problems({ [name]: dflt === 'none' ? 'None' : dflt })).toEqual([]);
    },
  );

  it("is documented in README.md: under its group, the row is the table's", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const start = readme.indexOf('### Environment variables', readme.indexOf('## RunPod worker'));
    const section = readme.slice(start, readme.indexOf('\n## ', start));
    const groups = new Map<string, string[]>();
    for (const block of section.split(/\n(?=\*\*)/).slice(1)) groups.set(block.slice(2, block.indexOf('**', 2)), block.split('\n'));
    for (const v of WORKER_ENV) {
      expect(groups.get(v.group), v.group).toContain(`| \`${v.name}\` | ${v.default} | ${v.supported} | ${v.meaning} |`);
    }
    const documented = [...section.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.filter((name) => !WORKER_ENV.some((v) => v.name === name))).toEqual([]);
  });
});

describe('all variables set at once', () => {
  it('the supported ones map onto the engine, handler, logging, hub and platform settings', () => {
    const env: Record<string, string> = {};
    for (const v of WORKER_ENV) if (v.supported !== 'default only') env[v.name] = v.sample;
    // Values the refused samples of 'partly' variables would break, and names that must agree.
    Object.assign(env, {
      LOAD_FORMAT: 'dummy',
      ASYNC_SCHEDULING: 'true',
      PREEMPTION_MODE: 'recompute',
      MIN_BATCH_SIZE: env.DEFAULT_MIN_BATCH_SIZE,
      BATCH_SIZE_GROWTH_FACTOR: env.DEFAULT_BATCH_SIZE_GROWTH_FACTOR,
      TOKENIZER: env.TOKENIZER_NAME,
      MAX_CONTEXT_LEN_TO_CAPTURE: env.MAX_SEQ_LEN_TO_CAPTURE,
      ENABLE_LOG_REQUESTS: 'true',
      DISABLE_LOG_REQUESTS: 'false',
      DISABLE_LOGGING_REQUEST: 'false',
    });
    const config = readWorkerConfig(env, NO_BAKED);
    expect(config).toEqual({
      model: { name: 'org/model', revision: 'v1.0', tokenizer: 'org/tokenizer', tokenizerRevision: 'v2' },
      engine: {
        maxModelLen: 512,
        maxNumSeqs: 8,
        maxNumBatchedTokens: 1024,
        blockSize: 32,
        numKvBlocks: 64,
        maxLogprobs: 5,
        gpuMemoryUtilization: 0.8,
        chatTemplate: '{{ messages[0].content }}',
        device: 'cpu',
        loadFormat: 'dummy',
        dtype: 'float16',
        enforceEager: true,
        maxSeqLenToCapture: 4096,
        batchInvariant: true,
        asyncScheduling: true,
        maxSeqsPerRequest: 64,
        maxWaitingSeqs: 512,
        maxPromptChars: 100000,
        servedModelName: 'my-model',
      },
      hub: { endpoint: 'http://127.0.0.1:9999', cacheDir: '/data/hf', offline: true, token: 'hf_sample_token_value' },
      handler: {
        batch: { max: 20, min: 2, growth: 1.5 },
        rawOpenAIOutput: false,
        responseRole: 'bot',
        returnTokensAsTokenIds: true,
        excludeToolsWhenToolChoiceNone: true,
        forceIncludeUsage: true,
        defaultMaxTokens: 100,
      },
      log: { level: 'DEBUG', json: true, logRequests: true, logOutputs: true, logErrorStack: true, maxLogLen: 100, logStats: false },
      runpod: {
        getJobUrl: 'http://127.0.0.1:1/v2/e/job-take/$ID?gpu=x',
        postOutputUrl: 'http://127.0.0.1:1/v2/e/job-done/$RUNPOD_POD_ID/$ID?gpu=x',
        postStreamUrl: 'http://127.0.0.1:1/v2/e/job-stream/$RUNPOD_POD_ID/$ID?gpu=x',
        pingUrl: 'http://127.0.0.1:1/v2/e/ping/$RUNPOD_POD_ID?gpu=x',
        pingIntervalMs: 2000,
        apiKey: 'rp_sample_key_value',
        podId: 'pod-123',
        hostname: 'host-1',
        endpointId: 'ep-1',
        uaIntegration: 'my-integration',
      },
      maxConcurrency: 4,
      notes: [
        'VLLM_EXTRA_ARGS: reading --max-num-seqs as MAX_NUM_SEQS',
        'TRUST_REMOTE_CODE=true has no effect: nodellm never runs code from a model repository',
        'DISABLE_CUSTOM_ALL_REDUCE=true has no effect: one device, so no all-reduce',
        'USE_V2_BLOCK_MANAGER=true has no effect: ignored, as in worker-vllm',
        'ENABLE_CHUNKED_PREFILL=true has no effect: prompts longer than MAX_NUM_BATCHED_TOKENS are always prefilled in chunks',
        'VLLM_PORT=8001 has no effect: nodellm runs the engine in this process, with no vLLM server to place on a port',
        'VLLM_STARTUP_TIMEOUT=600 has no effect: the engine loads in this process, and start-up fails as soon as loading does',
        "REQUEST_TIMEOUT=600 has no effect: it times worker-vllm's HTTP hop to vLLM, and nodellm runs each job in this process",
        'VLLM_API_KEY is set but has no effect: the engine runs in this process, with no HTTP server to protect',
        'HF_DATASETS_CACHE=/cache/datasets has no effect: nodellm reads no datasets',
        "RUNPOD_SKIP_GPU_CHECK=true, RUNPOD_GPU_TEST_TIMEOUT=60, RUNPOD_GPU_MAX_ERROR_MESSAGES=5, RUNPOD_SKIP_AUTO_SYSTEM_CHECKS=true, RUNPOD_MIN_MEMORY_GB=8, RUNPOD_MIN_DISK_PERCENT=20, RUNPOD_MIN_CUDA_VERSION=12.4, RUNPOD_NETWORK_CHECK_TIMEOUT=10, RUNPOD_GPU_BENCHMARK_TIMEOUT=4 have no effect: nodellm runs none of the SDK's start-up fitness checks (a device that cannot load the model fails start-up)",
        "UVICORN_LOG_LEVEL=debug has no effect: nodellm's local API server is not uvicorn; RUNPOD_LOG_LEVEL sets its logging",
        "RUNPOD_PROJECT_ID=proj-1 has no effect: the SDK only shows it in its local API server's docs page",
        "BUCKET_ENDPOINT_URL, BUCKET_ACCESS_KEY_ID, BUCKET_SECRET_ACCESS_KEY have no effect: for the SDK's S3 upload helper, which worker-vllm's handler never calls",
      ],
    });
  });

  it('the unsupported ones are all named in one start-up error', () => {
    const unsupported = WORKER_ENV.filter((v) => v.supported === 'default only');
    const found = problems(Object.fromEntries(unsupported.map((v) => [v.name, v.sample])));
    expect(found.map((p) => p.split(':')[0]).sort()).toEqual(unsupported.map((v) => v.name).sort());
    expect(found).toContain(
      'TENSOR_PARALLEL_SIZE: tensor parallelism is not supported yet (one device) (set to "2"); unset it or use the default',
    );
  });
});

describe('reading rules', () => {
  it('defaults: worker-vllm\'s batch sizes, concurrency and RAW_OPENAI_OUTPUT; the HF cache under HOME', () => {
    const config = readWorkerConfig({}, NO_BAKED);
    expect(config.handler.batch).toEqual({ max: 50, min: 1, growth: 3 });
    expect(config.maxConcurrency).toBe(30);
    expect(config.handler.rawOpenAIOutput).toBe(true);
    expect(config.runpod.pingIntervalMs).toBe(10_000);
    expect(config.hub).toEqual({ endpoint: 'https://huggingface.co', cacheDir: join(homedir(), '.cache', 'huggingface', 'hub'), offline: false });
    expect(config.model).toEqual({});
  });

  it('"", None and none mean unset; 0 means unset for MAX_MODEL_LEN and MAX_NUM_BATCHED_TOKENS', () => {
    expect(read({ QUANTIZATION: 'None', TENSOR_PARALLEL_SIZE: '', SPECULATIVE_MODEL: 'none', MAX_MODEL_LEN: '0', MAX_NUM_BATCHED_TOKENS: '0' }).engine).toEqual({ gpuMemoryUtilization: 0.95 });
  });

  it("GPU_MEMORY_UTILIZATION defaults to worker-vllm's 0.95 and must be in (0, 1]", () => {
    expect(read({}).engine.gpuMemoryUtilization).toBe(0.95);
    expect(read({ GPU_MEMORY_UTILIZATION: '0.5' }).engine.gpuMemoryUtilization).toBe(0.5);
    expect(problems({ GPU_MEMORY_UTILIZATION: '1.5' })).toEqual(['GPU_MEMORY_UTILIZATION: must be in (0, 1], but is "1.5"']);
    expect(problems({ GPU_MEMORY_UTILIZATION: '0' })).toEqual(['GPU_MEMORY_UTILIZATION: must be in (0, 1], but is "0"']);
  });

  it("ASYNC_SCHEDULING=false runs one step at a time (vLLM's switch); unset leaves the default on", () => {
    expect(read({ ASYNC_SCHEDULING: 'false' }).engine.asyncScheduling).toBe(false);
    expect(read({}).engine.asyncScheduling).toBeUndefined();
    expect(problems({ ASYNC_SCHEDULING: 'later' })).toEqual(['ASYNC_SCHEDULING: must be true or false (or 1/0, yes/no, on/off), but is "later"']);
  });

  it('RAW_OPENAI_OUTPUT takes true/false or an integer', () => {
    expect(read({ RAW_OPENAI_OUTPUT: 'false' }).handler.rawOpenAIOutput).toBe(false);
    expect(read({ RAW_OPENAI_OUTPUT: '0' }).handler.rawOpenAIOutput).toBe(false);
    expect(read({ RAW_OPENAI_OUTPUT: '2' }).handler.rawOpenAIOutput).toBe(true);
  });

  it('bad values are named with what was received', () => {
    expect(problems({ MAX_CONCURRENCY: '0', ENFORCE_EAGER: 'maybe', BLOCK_SIZE: '12', DEFAULT_BATCH_SIZE_GROWTH_FACTOR: '-1', VLLM_BATCH_INVARIANT: 'sometimes' })).toEqual([
      'BLOCK_SIZE: must be one of 8, 16, 32, but is "12"',
      'ENFORCE_EAGER: must be true or false (or 1/0, yes/no, on/off), but is "maybe"',
      'VLLM_BATCH_INVARIANT: must be true or false (or 1/0, yes/no, on/off), but is "sometimes"',
      'DEFAULT_BATCH_SIZE_GROWTH_FACTOR: must be a number > 0, but is "-1"',
      'MAX_CONCURRENCY: must be an integer >= 1, but is "0"',
    ]);
    expect(problems({ MAX_WAITING_SEQS: 'lots', MAX_PROMPT_CHARS: '0' })).toEqual([
      'MAX_WAITING_SEQS: must be a number, but is "lots"',
      'MAX_PROMPT_CHARS: must be an integer >= 1, but is "0"',
    ]);
  });

  it('documented and old batch names must agree when both are set', () => {
    expect(problems({ DEFAULT_MIN_BATCH_SIZE: '2', MIN_BATCH_SIZE: '3' })).toEqual(['MIN_BATCH_SIZE: disagrees with DEFAULT_MIN_BATCH_SIZE (3 vs 2); set one']);
    expect(read({ BATCH_SIZE_GROWTH_FACTOR: '2.5' }).handler.batch.growth).toBe(2.5);
  });

  it('the HF cache: DOWNLOAD_DIR, then HF_HUB_CACHE, then BASE_PATH, then HF_HOME', () => {
    expect(read({ BASE_PATH: '/runpod-volume' }).hub.cacheDir).toBe('/runpod-volume/huggingface-cache/hub');
    expect(read({ BASE_PATH: '/b', HF_HOME: '/h' }).hub.cacheDir).toBe('/b/huggingface-cache/hub');
    expect(read({ BASE_PATH: '/b', HF_HUB_CACHE: '/c' }).hub.cacheDir).toBe('/c');
    expect(read({ HF_HUB_CACHE: '/c', DOWNLOAD_DIR: '/d' }).hub.cacheDir).toBe('/d');
  });

  it('RUNPOD_WEBHOOK_GET_JOB needs the output and stream URLs', () => {
    expect(() => readWorkerConfig({ RUNPOD_WEBHOOK_GET_JOB: 'http://x/job-take/$ID?gpu=1' }, NO_BAKED)).toThrow(
      /RUNPOD_WEBHOOK_POST_OUTPUT: RUNPOD_WEBHOOK_GET_JOB is set, so RUNPOD_WEBHOOK_POST_OUTPUT and RUNPOD_WEBHOOK_POST_STREAM are needed too/,
    );
  });

  it('a baked /local_model_args.json wins over the environment and turns downloads off', () => {
    const file = join(tempDir(), 'local_model_args.json');
    writeFileSync(file, JSON.stringify({ MODEL_NAME: 'org/baked', MODEL_REVISION: 'abc', HF_HUB_CACHE: '/models/hub' }));
    const config = readWorkerConfig({ MODEL_NAME: 'org/other', HF_HUB_CACHE: '/elsewhere', DOWNLOAD_DIR: '/dl' }, { localModelArgsPath: file });
    expect(config.model).toEqual({ name: 'org/baked', revision: 'abc' });
    expect(config.hub).toMatchObject({ cacheDir: '/models/hub', offline: true });
    expect(config.engine.servedModelName).toBe('org/baked');
    expect(config.notes[0]).toMatch(/baked into the image/);
  });
});

describe('.runpod hub files', () => {
  const json = (file: string) => JSON.parse(readFileSync(new URL(`../../.runpod/${file}`, import.meta.url), 'utf8'));

  it('hub.json offers supported variables only, with defaults the worker accepts', () => {
    const hub = json('hub.json') as { config: { env: { key: string; input: { default?: unknown } }[] } };
    const env: Record<string, string> = {};
    for (const { key, input } of hub.config.env) {
      const doc = WORKER_ENV.find((v) => v.name === key);
      expect(doc?.supported, key).not.toBe('default only');
      expect(doc?.supported, key).not.toBe('no effect');
      if (input.default !== undefined) env[key] = String(input.default);
    }
    expect(problems(env)).toEqual([]);
  });

  it('tests.json: its environment is accepted and its inputs are valid jobs', () => {
    const tests = json('tests.json') as { tests: { input: unknown }[]; config: { env: { key: string; value: string }[] } };
    expect(problems(Object.fromEntries(tests.config.env.map((e) => [e.key, e.value])))).toEqual([]);
    const defaults = read({}).handler.batch;
    for (const t of tests.tests) expect(() => parseJobInput(t.input, defaults)).not.toThrow();
  });
});
