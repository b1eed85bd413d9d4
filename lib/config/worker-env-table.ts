// Every environment variable of worker-vllm's configuration (its classic in-process worker, the
// one whose inputs and outputs nodellm reproduces, and the newer names of its proxy design since
// v2.24.0), plus the RunPod SDK's and the Hugging Face ones. This one table drives both the
// documentation (README's "RunPod worker" tables show it) and the handling of each variable by
// readWorkerConfig (lib/config/worker-config.ts):
//   yes, partly   read by worker-config.ts's own code, which applies the value (partly: some
//                 values; others stop start-up naming the variable);
//   no effect     accepted, parsed as `type`, and logged at start-up as having no effect (`why`);
//   default only  accepted unset or at a default (`isDefault`); any other value stops start-up
//                 with a message naming the variable (`why`).
// `flag` is the `vllm serve` flag that sets the variable, which VLLM_EXTRA_ARGS may use instead.
// test/runpod/config.test.ts sets every variable to `sample` and checks the handling, and checks
// that every variable of worker-vllm's reference list (test/fixtures/worker-vllm-env.json) is here.
import { isFalse, isNumber, isOneOf } from './env-reader.js';

export type Support = 'yes' | 'partly' | 'no effect' | 'default only';

interface EnvVarCommon {
  name: string;
  group: string;
  /** worker-vllm's default (or nodellm's, where nodellm differs; `meaning` says so). */
  default: string;
  /** What nodellm does, for README. */
  meaning: string;
  /** A value other than the default, for the coverage test. */
  sample: string;
  /** The `vllm serve` flag, commander-style: `--max-model-len <n>` takes a value; `--enforce-eager` is a switch (with a --no- form). */
  flag?: string;
  /** Never logged or echoed in a start-up error. */
  secret?: boolean;
}

export type EnvVarDoc = EnvVarCommon &
  (
    | { supported: 'yes' | 'partly' }
    | { supported: 'no effect'; why: string; type: 'bool' | 'text' }
    | { supported: 'default only'; why: string; isDefault: (value: string) => boolean }
  );

type Extra = Pick<EnvVarCommon, 'flag' | 'secret'>;

const LLM = 'LLM';
const LORA = 'LoRA';
const SPEC = 'Speculative decoding';
const SCHED = 'Scheduling and performance';
const TOK = 'Tokenizer';
const BATCH = 'Streaming batch';
const OPENAI = 'OpenAI compatibility';
const SERVERLESS = 'Serverless and logging';
const ADVANCED = 'Advanced and deprecated';
const STORAGE = 'Model files';
const RUNPOD = 'RunPod platform (set by RunPod)';
const SDK = 'RunPod SDK checks and helpers';

/** Read and applied by worker-config.ts. */
const v = (name: string, group: string, dflt: string, supported: 'yes' | 'partly', meaning: string, sample: string, extra: Extra = {}): EnvVarDoc => ({
  name,
  group,
  default: dflt,
  supported,
  meaning,
  sample,
  ...extra,
});

/** Accepted and logged as having no effect. */
const moot = (name: string, group: string, dflt: string, meaning: string, sample: string, why: string, type: 'bool' | 'text', extra: Extra = {}): EnvVarDoc => ({
  name,
  group,
  default: dflt,
  supported: 'no effect',
  meaning,
  sample,
  why,
  type,
  ...extra,
});

/** Refused unless unset or at its default (`isDefault`; none: any value is refused). */
const refused = (
  name: string,
  group: string,
  dflt: string,
  meaning: string,
  sample: string,
  why: string,
  isDefault: (value: string) => boolean = () => false,
  extra: Extra = {},
): EnvVarDoc => ({ name, group, default: dflt, supported: 'default only', meaning, sample, why, isDefault, ...extra });

const notYet = (what: string) => `not supported yet: ${what}; any other value stops start-up`;
const LORA_WHY = 'LoRA adapters are not supported yet';
const SPEC_WHY = 'speculative decoding is not supported yet';
const FITNESS = "nodellm runs none of the SDK's start-up fitness checks (a device that cannot load the model fails start-up)";
const isLoopbackUrl = (value: string) => /^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?\/?$/.test(value);

export const WORKER_ENV: EnvVarDoc[] = [
  // LLM settings
  v('MODEL_NAME', LLM, 'the embedded default model', 'yes', 'HF repo id (downloaded into the HF cache at start-up unless present) or local model directory', 'org/model', { flag: '--model <name>' }),
  v('MODEL_REVISION', LLM, 'main', 'yes', 'branch, tag or commit of MODEL_NAME', 'v1.0', { flag: '--revision <rev>' }),
  v('TOKENIZER', LLM, 'the model', 'yes', "vLLM's name for TOKENIZER_NAME", 'org/tokenizer'),
  v('MODEL', LLM, 'none', 'yes', "vLLM's name for MODEL_NAME, used when MODEL_NAME is unset (as worker-vllm's classic worker read it; since v2.24.0 worker-vllm ignores it); logged when MODEL_NAME overrides it", 'org/model'),
  v('REVISION', LLM, 'main', 'yes', "vLLM's name for MODEL_REVISION (both accepted; they must agree)", 'v1.0'),
  refused('SKIP_TOKENIZER_INIT', LLM, 'false', notYet('prompts as token ids only'), 'true', 'skipping the tokenizer is not supported yet', isFalse, { flag: '--skip-tokenizer-init' }),
  refused('TOKENIZER_MODE', LLM, 'auto', notYet('slow or mistral tokenizers'), 'slow', 'only the "auto" tokenizer mode is supported', isOneOf('auto'), { flag: '--tokenizer-mode <mode>' }),
  moot('TRUST_REMOTE_CODE', LLM, 'false', 'accepted either way: nodellm never runs code from a model repository (a model that needs it is an unsupported architecture)', 'true', 'nodellm never runs code from a model repository', 'bool', { flag: '--trust-remote-code' }),
  v('DOWNLOAD_DIR', LLM, 'the HF cache', 'yes', 'the HF cache directory models are downloaded into and loaded from', '/data/hf', { flag: '--download-dir <dir>' }),
  v('LOAD_FORMAT', LLM, 'auto', 'partly', '`auto` and `safetensors` (the format nodellm reads), `dummy` (seeded random weights from config.json, for benchmarks); others stop start-up', 'pt', { flag: '--load-format <format>' }),
  v('HF_TOKEN', LLM, 'none', 'yes', 'token for gated and private repositories (never logged)', 'hf_sample_token_value', { flag: '--hf-token <token>', secret: true }),
  v('DTYPE', LLM, 'auto', 'yes', '`auto` keeps the checkpoint\'s dtype; `bfloat16`, `float16`/`half` convert at load; `float32`/`float` on the CPU only (the CPU computes in float32 whatever it says)', 'float16', { flag: '--dtype <dtype>' }),
  refused('KV_CACHE_DTYPE', LLM, 'auto', notYet('fp8 KV cache'), 'fp8', 'only the "auto" KV-cache dtype is supported', isOneOf('auto'), { flag: '--kv-cache-dtype <dtype>' }),
  v('MAX_MODEL_LEN', LLM, "the model's", 'yes', 'longest prompt + output (0: the model\'s max_position_embeddings); up to that times a linear, dynamic or YaRN rope_scaling factor', '512', { flag: '--max-model-len <n>' }),
  refused('DISTRIBUTED_EXECUTOR_BACKEND', LLM, 'none', notYet('several devices'), 'ray', 'nodellm runs on one device; distributed serving is not supported yet', undefined, { flag: '--distributed-executor-backend <backend>' }),
  refused('PIPELINE_PARALLEL_SIZE', LLM, '1', notYet('pipeline parallelism'), '2', 'pipeline parallelism is not supported yet (one device)', isNumber(1), { flag: '--pipeline-parallel-size <n>' }),
  refused('TENSOR_PARALLEL_SIZE', LLM, '1', notYet('tensor parallelism'), '2', 'tensor parallelism is not supported yet (one device)', isNumber(1), { flag: '--tensor-parallel-size <n>' }),
  refused('MAX_PARALLEL_LOADING_WORKERS', LLM, 'none', notYet('parallel loading workers (weights are memory-mapped)'), '2', 'parallel loading workers are not supported (weights are memory-mapped)', undefined, { flag: '--max-parallel-loading-workers <n>' }),
  refused('RAY_WORKERS_USE_NSIGHT', LLM, 'false', notYet('Ray'), 'true', 'Ray is not used by nodellm', isFalse, { flag: '--ray-workers-use-nsight' }),
  refused('ENABLE_PREFIX_CACHING', LLM, 'false', notYet('prefix caching'), 'true', 'prefix caching is not supported yet', isFalse, { flag: '--enable-prefix-caching' }),
  refused('DISABLE_SLIDING_WINDOW', LLM, 'false', "sliding windows always apply as the model's config sets them; any other value stops start-up", 'true', "sliding windows always apply as the model's config sets them", isFalse, { flag: '--disable-sliding-window' }),
  refused('NUM_LOOKAHEAD_SLOTS', LLM, '0', notYet('lookahead scheduling'), '4', 'lookahead scheduling is not supported', isNumber(0)),
  refused('SEED', LLM, '0', notYet('an engine-wide seed (send `seed` per request)'), '7', 'an engine-wide seed is not supported yet; send `seed` in sampling_params', isNumber(0), { flag: '--seed <n>' }),
  v('NUM_GPU_BLOCKS_OVERRIDE', LLM, 'none', 'yes', 'exact number of KV-cache blocks', '64', { flag: '--num-gpu-blocks-override <n>' }),
  v('MAX_NUM_BATCHED_TOKENS', LLM, 'max(2048, MAX_NUM_SEQS)', 'yes', 'tokens per step; longer prompts are prefilled in chunks (0: the default)', '1024', { flag: '--max-num-batched-tokens <n>' }),
  v('MAX_NUM_SEQS', LLM, '256', 'yes', 'sequences per step', '8', { flag: '--max-num-seqs <n>' }),
  v('MAX_LOGPROBS', LLM, '20', 'yes', 'largest `logprobs` a request may ask for', '5', { flag: '--max-logprobs <n>' }),
  v('DISABLE_LOG_STATS', LLM, 'false', 'yes', 'when false, engine stats (running, waiting, KV cache) are logged every 10 s while busy', 'true', { flag: '--disable-log-stats' }),
  refused('QUANTIZATION', LLM, 'none', notYet('quantized weights'), 'awq', 'quantized weights are not supported yet', undefined, { flag: '--quantization <method>' }),
  // LoRA
  refused('ENABLE_LORA', LORA, 'false', notYet('LoRA adapters'), 'true', LORA_WHY, isFalse, { flag: '--enable-lora' }),
  refused('MAX_LORAS', LORA, '1', notYet('LoRA adapters'), '2', LORA_WHY, isNumber(1), { flag: '--max-loras <n>' }),
  refused('MAX_LORA_RANK', LORA, '16', notYet('LoRA adapters'), '32', LORA_WHY, isNumber(16), { flag: '--max-lora-rank <n>' }),
  refused('LORA_DTYPE', LORA, 'auto', notYet('LoRA adapters'), 'float16', LORA_WHY, isOneOf('auto'), { flag: '--lora-dtype <dtype>' }),
  refused('MAX_CPU_LORAS', LORA, 'none', notYet('LoRA adapters'), '4', LORA_WHY, undefined, { flag: '--max-cpu-loras <n>' }),
  refused('FULLY_SHARDED_LORAS', LORA, 'false', notYet('LoRA adapters'), 'true', LORA_WHY, isFalse, { flag: '--fully-sharded-loras' }),
  refused('LORA_MODULES', LORA, '[]', notYet('LoRA adapters'), '[{"name":"a","path":"org/a"}]', LORA_WHY, isOneOf('[]'), { flag: '--lora-modules <modules>' }),
  refused('LORA_EXTRA_VOCAB_SIZE', LORA, '256', notYet('LoRA adapters'), '512', LORA_WHY, isNumber(256)),
  refused('LONG_LORA_SCALING_FACTORS', LORA, 'none', notYet('LoRA adapters'), '4,8', LORA_WHY),
  // Speculative decoding
  refused('SPECULATIVE_CONFIG', SPEC, 'none', notYet('speculative decoding'), '{"method":"ngram"}', SPEC_WHY, undefined, { flag: '--speculative-config <json>' }),
  refused('SPECULATIVE_METHOD', SPEC, 'none', notYet('speculative decoding'), 'ngram', SPEC_WHY),
  refused('SPECULATIVE_MODEL', SPEC, 'none', notYet('speculative decoding'), 'org/draft', SPEC_WHY),
  refused('NUM_SPECULATIVE_TOKENS', SPEC, 'none', notYet('speculative decoding'), '3', SPEC_WHY, isNumber(0)),
  refused('SPECULATIVE_DRAFT_TENSOR_PARALLEL_SIZE', SPEC, 'none', notYet('speculative decoding'), '1', SPEC_WHY, isNumber(0)),
  refused('SPECULATIVE_MAX_MODEL_LEN', SPEC, 'none', notYet('speculative decoding'), '1024', SPEC_WHY, isNumber(0)),
  refused('SPECULATIVE_DISABLE_BY_BATCH_SIZE', SPEC, 'none', notYet('speculative decoding'), '4', SPEC_WHY, isNumber(0)),
  refused('NGRAM_PROMPT_LOOKUP_MAX', SPEC, 'none', notYet('speculative decoding'), '4', SPEC_WHY, isNumber(0)),
  refused('NGRAM_PROMPT_LOOKUP_MIN', SPEC, 'none', notYet('speculative decoding'), '1', SPEC_WHY, isNumber(0)),
  refused('SPECULATIVE_QUANTIZATION', SPEC, 'none', notYet('speculative decoding'), 'awq', SPEC_WHY),
  refused('SPECULATIVE_MODEL_REVISION', SPEC, 'none', notYet('speculative decoding'), 'main', SPEC_WHY),
  refused('SPECULATIVE_ENFORCE_EAGER', SPEC, 'none', notYet('speculative decoding'), 'true', SPEC_WHY, isFalse),
  refused('SPEC_DECODING_ACCEPTANCE_METHOD', SPEC, 'rejection_sampler', notYet('speculative decoding'), 'typical_acceptance_sampler', SPEC_WHY, isOneOf('rejection_sampler')),
  refused('TYPICAL_ACCEPTANCE_SAMPLER_POSTERIOR_THRESHOLD', SPEC, 'none', notYet('speculative decoding'), '0.05', SPEC_WHY),
  refused('TYPICAL_ACCEPTANCE_SAMPLER_POSTERIOR_ALPHA', SPEC, 'none', notYet('speculative decoding'), '0.2', SPEC_WHY),
  // Scheduling and performance
  v('GPU_MEMORY_UTILIZATION', SCHED, '0.95', 'yes', 'share of GPU memory for weights, workspaces and KV cache; the cache gets what is left after a profiling step at the largest batch', '0.8', { flag: '--gpu-memory-utilization <share>' }),
  v('BLOCK_SIZE', SCHED, '16', 'yes', 'tokens per KV-cache block: 8, 16 or 32', '32', { flag: '--block-size <n>' }),
  refused('SWAP_SPACE', SCHED, '4', notYet('swapping preempted sequences (they are recomputed)'), '8', 'swapping is not supported (preempted sequences are recomputed)', isNumber(4)),
  v('ENFORCE_EAGER', SCHED, 'false', 'yes', 'true: no CUDA graphs, every step runs eagerly', 'true', { flag: '--enforce-eager' }),
  v('MAX_SEQ_LEN_TO_CAPTURE', SCHED, '8192', 'yes', 'decode steps with longer contexts run without CUDA graphs', '4096', { flag: '--max-seq-len-to-capture <n>' }),
  v('VLLM_BATCH_INVARIANT', SCHED, '0', 'yes', "1: batch-invariant numerics, as vLLM's switch (`--batch-invariant`)", '1'),
  moot('DISABLE_CUSTOM_ALL_REDUCE', SCHED, '0', 'accepted either way: one device, no all-reduce', '1', 'one device, so no all-reduce', 'bool', { flag: '--disable-custom-all-reduce' }),
  refused('ENABLE_EXPERT_PARALLEL', SCHED, 'false', notYet('mixture-of-experts models'), 'true', 'mixture-of-experts models are not supported yet', isFalse, { flag: '--enable-expert-parallel' }),
  refused('ATTENTION_BACKEND', SCHED, 'none', notYet('choosing the attention kernels'), 'FLASHINFER', 'choosing the attention backend is not supported', undefined, { flag: '--attention-backend <backend>' }),
  refused('KV_OFFLOADING_BACKEND', SCHED, 'none', notYet('offloading the KV cache (LMCache, CPU)'), 'lmcache', 'offloading the KV cache is not supported', undefined, { flag: '--kv-offloading-backend <backend>' }),
  refused('KV_TRANSFER_CONFIG', SCHED, 'none', notYet('KV-cache transfer (disaggregated prefill, LMCache)'), '{"kv_connector":"LMCacheConnectorV1"}', 'KV-cache transfer is not supported', undefined, { flag: '--kv-transfer-config <json>' }),
  refused('DISABLE_HYBRID_KV_CACHE_MANAGER', SCHED, 'false', notYet("choosing vLLM's KV-cache manager"), 'true', "the KV-cache manager is not configurable", isFalse, { flag: '--disable-hybrid-kv-cache-manager' }),
  v('ASYNC_SCHEDULING', SCHED, 'true (vLLM >= 0.14)', 'yes', "true: on a GPU the next decode step is scheduled and launched before the last one's tokens are post-processed; false: one step at a time", 'false', { flag: '--async-scheduling' }),
  v('MAX_SEQS_PER_REQUEST', SCHED, '256 (nodellm)', 'yes', "nodellm's own: most sequences (prompts x n) one request may start; more is refused, naming n", '64'),
  v('MAX_WAITING_SEQS', SCHED, 'none (nodellm)', 'yes', "nodellm's own: most sequences waiting for a slot, past which a job fails as overloaded (error_code 503); unset, MAX_CONCURRENCY alone bounds the work taken, so no job is refused", '512'),
  v('MAX_PROMPT_CHARS', SCHED, '16 x max_model_len (nodellm)', 'yes', "nodellm's own: most characters of a prompt (or of the messages' contents, summed), refused before tokenization", '100000'),
  refused('STREAM_INTERVAL', SCHED, '1', notYet('streaming every N steps'), '4', 'streaming every N steps is not supported yet', isNumber(1), { flag: '--stream-interval <n>' }),
  // Tokenizer
  v('TOKENIZER_NAME', TOK, 'the model', 'yes', 'HF repo id or directory of the tokenizer', 'org/tokenizer', { flag: '--tokenizer <name>' }),
  v('TOKENIZER_REVISION', TOK, 'main', 'yes', 'revision of TOKENIZER_NAME', 'v2', { flag: '--tokenizer-revision <rev>' }),
  v('CUSTOM_CHAT_TEMPLATE', TOK, "the model's", 'yes', 'a Jinja chat template replacing the model\'s (standard and OpenAI paths)', '{{ messages[0].content }}', { flag: '--chat-template <template>' }),
  // Streaming batch
  v('DEFAULT_BATCH_SIZE', BATCH, '50', 'yes', 'largest number of tokens per streamed item', '20'),
  v('DEFAULT_MIN_BATCH_SIZE', BATCH, '1', 'yes', 'tokens in the first streamed item', '2'),
  v('DEFAULT_BATCH_SIZE_GROWTH_FACTOR', BATCH, '3', 'yes', 'growth of the item size per item; may be fractional', '1.5'),
  v('MIN_BATCH_SIZE', BATCH, '1', 'yes', 'the name worker-vllm\'s code read for DEFAULT_MIN_BATCH_SIZE (both accepted; they must agree)', '4'),
  v('BATCH_SIZE_GROWTH_FACTOR', BATCH, '3', 'yes', 'the name worker-vllm\'s code read for DEFAULT_BATCH_SIZE_GROWTH_FACTOR', '2'),
  // OpenAI
  v('RAW_OPENAI_OUTPUT', OPENAI, '1', 'yes', '1: streamed OpenAI items are SSE strings; 0: lists of chunk objects', '0'),
  v('OPENAI_SERVED_MODEL_NAME_OVERRIDE', OPENAI, 'MODEL_NAME', 'yes', 'the model name clients send and /v1/models lists', 'my-model'),
  v('SERVED_MODEL_NAME', OPENAI, 'MODEL_NAME', 'yes', "worker-vllm's newer name for OPENAI_SERVED_MODEL_NAME_OVERRIDE (both accepted; they must agree)", 'my-model', { flag: '--served-model-name <name>' }),
  v('OPENAI_RESPONSE_ROLE', OPENAI, 'assistant', 'yes', 'role of chat answers', 'bot'),
  v('RESPONSE_ROLE', OPENAI, 'assistant', 'yes', "worker-vllm's newer name for OPENAI_RESPONSE_ROLE (both accepted; they must agree)", 'bot', { flag: '--response-role <role>' }),
  refused('ENABLE_AUTO_TOOL_CHOICE', OPENAI, 'false', notYet('tool calling'), 'true', 'tool calling is not supported yet', isFalse, { flag: '--enable-auto-tool-choice' }),
  refused('TOOL_CALL_PARSER', OPENAI, 'none', notYet('tool calling'), 'hermes', 'tool calling is not supported yet', undefined, { flag: '--tool-call-parser <parser>' }),
  refused('REASONING_PARSER', OPENAI, 'none', notYet('reasoning parsers'), 'deepseek_r1', 'reasoning parsers are not supported yet', undefined, { flag: '--reasoning-parser <parser>' }),
  refused('TRUST_REQUEST_CHAT_TEMPLATE', OPENAI, 'false', notYet('chat templates sent in requests'), 'true', 'chat templates sent in requests are not supported', isFalse, { flag: '--trust-request-chat-template' }),
  v('RETURN_TOKENS_AS_TOKEN_IDS', OPENAI, 'false', 'yes', 'logprobs name tokens as `token_id:N` unless the request says otherwise', 'true', { flag: '--return-tokens-as-token-ids' }),
  v('EXCLUDE_TOOLS_WHEN_TOOL_CHOICE_NONE', OPENAI, 'false', 'yes', 'drop `tools` from requests whose tool_choice is "none"', 'true', { flag: '--exclude-tools-when-tool-choice-none' }),
  refused('ENABLE_PROMPT_TOKENS_DETAILS', OPENAI, 'false', notYet('usage.prompt_tokens_details'), 'true', 'usage.prompt_tokens_details is not supported yet', isFalse, { flag: '--enable-prompt-tokens-details' }),
  v('ENABLE_FORCE_INCLUDE_USAGE', OPENAI, 'false', 'yes', 'streamed OpenAI responses end with a usage chunk even when not asked', 'true', { flag: '--enable-force-include-usage' }),
  v('ENABLE_LOG_OUTPUTS', OPENAI, 'false', 'yes', 'log each job\'s output (cut to MAX_LOG_LEN)', 'true', { flag: '--enable-log-outputs' }),
  v('LOG_ERROR_STACK', OPENAI, 'false', 'yes', 'log the stack of each failed job', 'true', { flag: '--log-error-stack' }),
  // Serverless and logging
  v('MAX_CONCURRENCY', SERVERLESS, '30', 'yes', 'jobs in flight per worker (the engine batches them)', '4'),
  v('ENABLE_LOG_REQUESTS', SERVERLESS, 'false', 'yes', 'log each job\'s input (cut to MAX_LOG_LEN)', 'true', { flag: '--enable-log-requests' }),
  v('DISABLE_LOG_REQUESTS', SERVERLESS, 'true', 'yes', 'deprecated inverse of ENABLE_LOG_REQUESTS', 'false'),
  v('DISABLE_LOGGING_REQUEST', SERVERLESS, 'true', 'yes', 'older inverse of ENABLE_LOG_REQUESTS', 'false'),
  v('MAX_LOG_LEN', SERVERLESS, 'unlimited', 'yes', 'characters of a logged input or output', '100', { flag: '--max-log-len <n>' }),
  // Advanced and deprecated
  refused('MODEL_LOADER_EXTRA_CONFIG', ADVANCED, 'none', notYet('model loader options'), '{"a":1}', 'model loader options are not supported', undefined, { flag: '--model-loader-extra-config <json>' }),
  v('PREEMPTION_MODE', ADVANCED, 'recompute', 'partly', '`recompute` (what nodellm does); `swap`/`save` stop start-up', 'swap'),
  refused('PREEMPTION_CHECK_PERIOD', ADVANCED, '1.0', notYet('preemption tuning'), '2', 'preemption tuning is not supported', isNumber(1)),
  refused('PREEMPTION_CPU_CAPACITY', ADVANCED, '2', notYet('preemption tuning'), '4', 'preemption tuning is not supported', isNumber(2)),
  v('MAX_CONTEXT_LEN_TO_CAPTURE', ADVANCED, '8192', 'yes', 'deprecated name of MAX_SEQ_LEN_TO_CAPTURE', '2048'),
  refused('VLLM_ATTENTION_BACKEND', ADVANCED, 'none', 'deprecated name of ATTENTION_BACKEND; ' + notYet('choosing the attention kernels'), 'FLASHINFER', 'choosing the attention backend is not supported'),
  moot('USE_V2_BLOCK_MANAGER', ADVANCED, 'none', 'accepted and logged as having no effect (as in worker-vllm)', 'true', 'ignored, as in worker-vllm', 'bool'),
  refused('LIMIT_MM_PER_PROMPT', ADVANCED, 'none', notYet('multimodal inputs'), 'image=1', 'multimodal inputs are not supported yet', undefined, { flag: '--limit-mm-per-prompt <limits>' }),
  refused('VLLM_CONFIG_FILE', ADVANCED, 'none', notYet('vLLM YAML config files (use environment variables)'), '/vllm_config.yaml', 'vLLM YAML config files are not supported; use environment variables', undefined, { flag: '--config <file>' }),
  refused('TRANSFORMERS_VERSION', ADVANCED, 'none', 'nodellm does not use transformers; any value stops start-up', '4.46.0', 'nodellm does not use transformers'),
  refused('VLLM_USE_DEEP_GEMM', ADVANCED, '0', notYet('DeepGEMM kernels'), '1', 'DeepGEMM kernels are not supported', isFalse),
  refused('QUANTIZATION_PARAM_PATH', ADVANCED, 'none', notYet('KV-cache scaling factors'), '/scales.json', 'KV-cache scaling factors are not supported'),
  refused('GUIDED_DECODING_BACKEND', ADVANCED, 'auto', notYet('guided decoding'), 'lm-format-enforcer', 'guided decoding is not supported yet', isOneOf('auto', 'outlines', 'xgrammar')),
  refused('WORKER_USE_RAY', ADVANCED, 'false', notYet('Ray'), 'true', 'Ray is not used by nodellm', isFalse),
  refused('ROPE_SCALING', ADVANCED, 'none', notYet('overriding rope scaling (the model\'s config.json is used)'), '{"type":"linear","factor":2}', "overriding rope scaling is not supported (the model's config.json is used)"),
  refused('ROPE_THETA', ADVANCED, 'none', notYet('overriding rope theta (the model\'s config.json is used)'), '500000', "overriding rope theta is not supported (the model's config.json is used)"),
  refused('HF_OVERRIDES', ADVANCED, 'none', notYet("overriding the model's config.json"), '{"rope_theta":500000}', "overriding the model's config.json is not supported", undefined, { flag: '--hf-overrides <json>' }),
  refused('TOKENIZER_POOL_SIZE', ADVANCED, '0', notYet('tokenizer pools (tokenization already runs off the event loop)'), '4', 'tokenizer pools are not supported (tokenization runs off the event loop)', isNumber(0)),
  refused('TOKENIZER_POOL_TYPE', ADVANCED, 'ray', notYet('tokenizer pools'), 'mp', 'tokenizer pools are not supported', isOneOf('ray')),
  refused('TOKENIZER_POOL_EXTRA_CONFIG', ADVANCED, 'none', notYet('tokenizer pools'), '{"a":1}', 'tokenizer pools are not supported'),
  v('DEVICE', ADVANCED, 'auto', 'yes', '`auto` (CUDA when this build has it and a GPU is usable, else the CPU), `cpu` or `cuda`', 'cpu'),
  refused('SCHEDULER_DELAY_FACTOR', ADVANCED, '0', notYet('delayed scheduling'), '0.5', 'delayed scheduling is not supported', isNumber(0)),
  moot('ENABLE_CHUNKED_PREFILL', ADVANCED, 'false', 'accepted either way and logged: as vLLM V1, prompts longer than MAX_NUM_BATCHED_TOKENS are always prefilled in chunks', 'true', 'prompts longer than MAX_NUM_BATCHED_TOKENS are always prefilled in chunks', 'bool', { flag: '--enable-chunked-prefill' }),
  v('VLLM_EXTRA_ARGS', ADVANCED, 'none', 'partly', '`vllm serve` flags, split as a shell would and read as the variable they set, over its value: a variable\'s flag is its name in lower kebab case (`--max-model-len 4096`, `--enforce-eager`/`--no-enforce-eager`), but `--model`, `--revision`, `--tokenizer`, `--chat-template` and `--config` set MODEL_NAME, MODEL_REVISION, TOKENIZER_NAME, CUSTOM_CHAT_TEMPLATE and VLLM_CONFIG_FILE; other flags stop start-up', '--max-num-seqs 8'),
  moot('VLLM_PORT', ADVANCED, '8000', "logged as having no effect: worker-vllm's port for its `vllm serve` process; nodellm runs the engine in this process", '8001', 'nodellm runs the engine in this process, with no vLLM server to place on a port', 'text'),
  moot('VLLM_STARTUP_TIMEOUT', ADVANCED, '1200', 'logged as having no effect: the engine loads in this process, and start-up fails as soon as loading does', '600', 'the engine loads in this process, and start-up fails as soon as loading does', 'text'),
  moot('REQUEST_TIMEOUT', ADVANCED, '3600', "logged as having no effect: worker-vllm's timeout for its HTTP hop to vLLM; nodellm runs each job in this process (the endpoint's execution timeout still applies)", '600', "it times worker-vllm's HTTP hop to vLLM, and nodellm runs each job in this process", 'text'),
  refused('VLLM_BASE_URL', ADVANCED, 'http://127.0.0.1:8000', 'not supported: sending jobs to another vLLM server; a loopback URL is accepted (it is where nodellm\'s engine is: in this process), any other value stops start-up', 'http://10.0.0.5:8000', 'nodellm runs the engine in this process and cannot send jobs to another vLLM server', isLoopbackUrl),
  moot('VLLM_API_KEY', ADVANCED, 'none', 'logged (never its value) as having no effect, as in worker-vllm since v2.24.0: the engine has no HTTP server to protect', 'sk-sample-vllm-key', 'the engine runs in this process, with no HTTP server to protect', 'text', { secret: true }),
  // Model files
  v('BASE_PATH', STORAGE, '/runpod-volume', 'yes', 'the HF cache is $BASE_PATH/huggingface-cache/hub (at run time too, unlike worker-vllm)', '/models'),
  v('HF_HUB_CACHE', STORAGE, '$HF_HOME/hub', 'yes', 'the HF cache directory (HUGGINGFACE_HUB_CACHE too); wins over BASE_PATH', '/cache/hub'),
  v('HUGGINGFACE_HUB_CACHE', STORAGE, '$HF_HOME/hub', 'yes', 'older name of HF_HUB_CACHE', '/cache/hub2'),
  v('HF_HOME', STORAGE, '~/.cache/huggingface', 'yes', 'the HF cache is $HF_HOME/hub when neither HF_HUB_CACHE nor BASE_PATH is set', '/hfhome'),
  v('HF_ENDPOINT', STORAGE, 'https://huggingface.co', 'yes', 'the hub to download from (a mirror, or a local server in tests)', 'http://127.0.0.1:9999'),
  v('HF_HUB_OFFLINE', STORAGE, '0', 'yes', '1: never download; models must be in the cache (TRANSFORMERS_OFFLINE too)', '1'),
  v('TRANSFORMERS_OFFLINE', STORAGE, '0', 'yes', 'same as HF_HUB_OFFLINE', '1'),
  moot('HF_DATASETS_CACHE', STORAGE, '$HF_HOME/datasets', 'logged as having no effect: nodellm reads no datasets', '/cache/datasets', 'nodellm reads no datasets', 'text'),
  // RunPod platform
  v('RUNPOD_WEBHOOK_GET_JOB', RUNPOD, 'none', 'yes', 'job-take URL ($ID: the worker id); unset means local mode (test_input.json)', 'http://127.0.0.1:1/v2/e/job-take/$ID?gpu=x'),
  v('RUNPOD_WEBHOOK_POST_OUTPUT', RUNPOD, 'none', 'yes', 'job-done URL ($RUNPOD_POD_ID, $ID: the job id)', 'http://127.0.0.1:1/v2/e/job-done/$RUNPOD_POD_ID/$ID?gpu=x'),
  v('RUNPOD_WEBHOOK_POST_STREAM', RUNPOD, 'none', 'yes', 'job-stream URL (same substitutions)', 'http://127.0.0.1:1/v2/e/job-stream/$RUNPOD_POD_ID/$ID?gpu=x'),
  v('RUNPOD_WEBHOOK_PING', RUNPOD, 'none', 'yes', 'heartbeat URL ($RUNPOD_POD_ID)', 'http://127.0.0.1:1/v2/e/ping/$RUNPOD_POD_ID?gpu=x'),
  v('RUNPOD_PING_INTERVAL', RUNPOD, '10000', 'yes', 'heartbeat period in milliseconds', '2000'),
  v('RUNPOD_AI_API_KEY', RUNPOD, 'none', 'yes', 'sent as the Authorization header of every platform request (never logged)', 'rp_sample_key_value', { secret: true }),
  v('RUNPOD_POD_ID', RUNPOD, 'a random id', 'yes', 'the worker id; no heartbeat without it', 'pod-123'),
  v('RUNPOD_POD_HOSTNAME', RUNPOD, 'unknown', 'yes', 'reported in failed jobs\' error info', 'host-1'),
  v('RUNPOD_ENDPOINT_ID', RUNPOD, 'none', 'yes', 'when set, log lines are JSON', 'ep-1'),
  v('RUNPOD_LOG_LEVEL', RUNPOD, 'INFO', 'yes', 'DEBUG, INFO, WARN or ERROR (RUNPOD_DEBUG_LEVEL too)', 'DEBUG'),
  v('RUNPOD_DEBUG_LEVEL', RUNPOD, 'INFO', 'yes', 'older name of RUNPOD_LOG_LEVEL', 'ERROR'),
  v('RUNPOD_UA_INTEGRATION', RUNPOD, 'none', 'yes', 'appended to the User-Agent as Integration/<value>', 'my-integration'),
  refused('RUNPOD_REALTIME_PORT', RUNPOD, '0', notYet("the SDK's realtime mode"), '8080', "the SDK's realtime mode is not supported", isNumber(0)),
  refused('RUNPOD_REALTIME_CONCURRENCY', RUNPOD, '1', notYet("the SDK's realtime mode"), '2', "the SDK's realtime mode is not supported", isNumber(1)),
  // RunPod SDK checks and helpers
  moot('RUNPOD_SKIP_GPU_CHECK', SDK, 'false', `logged as having no effect: ${FITNESS}`, 'true', FITNESS, 'bool'),
  moot('RUNPOD_GPU_TEST_TIMEOUT', SDK, '30', `logged as having no effect: ${FITNESS}`, '60', FITNESS, 'text'),
  moot('RUNPOD_GPU_MAX_ERROR_MESSAGES', SDK, '10', `logged as having no effect: ${FITNESS}`, '5', FITNESS, 'text'),
  moot('RUNPOD_SKIP_AUTO_SYSTEM_CHECKS', SDK, 'false', `logged as having no effect: ${FITNESS}`, 'true', FITNESS, 'bool'),
  moot('RUNPOD_MIN_MEMORY_GB', SDK, '4.0', `logged as having no effect: ${FITNESS}`, '8', FITNESS, 'text'),
  moot('RUNPOD_MIN_DISK_PERCENT', SDK, '10.0', `logged as having no effect: ${FITNESS}`, '20', FITNESS, 'text'),
  moot('RUNPOD_MIN_CUDA_VERSION', SDK, '11.8', `logged as having no effect: ${FITNESS}`, '12.4', FITNESS, 'text'),
  moot('RUNPOD_NETWORK_CHECK_TIMEOUT', SDK, '5', `logged as having no effect: ${FITNESS}`, '10', FITNESS, 'text'),
  moot('RUNPOD_GPU_BENCHMARK_TIMEOUT', SDK, '2', `logged as having no effect: ${FITNESS}`, '4', FITNESS, 'text'),
  moot('UVICORN_LOG_LEVEL', SDK, 'info', "logged as having no effect: the SDK's uvicorn log level; nodellm's local API server (`--rp_serve_api`) logs through the worker's logger", 'debug', "nodellm's local API server is not uvicorn; RUNPOD_LOG_LEVEL sets its logging", 'text'),
  moot('RUNPOD_PROJECT_ID', SDK, 'none', "logged as having no effect: the SDK only shows it in its local API server's docs page", 'proj-1', "the SDK only shows it in its local API server's docs page", 'text'),
  moot('BUCKET_ENDPOINT_URL', SDK, 'none', "logged (never its value) as having no effect: the SDK's S3 upload helper, which worker-vllm's handler never calls", 'https://s3.example.com/bucket', "for the SDK's S3 upload helper, which worker-vllm's handler never calls", 'text', { secret: true }),
  moot('BUCKET_ACCESS_KEY_ID', SDK, 'none', "logged (never its value) as having no effect: the SDK's S3 upload helper, which worker-vllm's handler never calls", 'AKIA-sample-key-id', "for the SDK's S3 upload helper, which worker-vllm's handler never calls", 'text', { secret: true }),
  moot('BUCKET_SECRET_ACCESS_KEY', SDK, 'none', "logged (never its value) as having no effect: the SDK's S3 upload helper, which worker-vllm's handler never calls", 'sample-secret-access-key', "for the SDK's S3 upload helper, which worker-vllm's handler never calls", 'text', { secret: true }),
];
