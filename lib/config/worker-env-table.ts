// Every environment variable of worker-vllm's configuration tables (its classic in-process
// worker, the one whose inputs and outputs nodellm reproduces), plus the RunPod SDK's and the
// Hugging Face ones nodellm honours. This table is documentation as data: README's "RunPod
// worker" table shows it, and a test sets every variable to `sample` and checks that it is
// either applied (the configuration changes) or refused at start-up with its name in the message.
// lib/config/worker-config.ts is where each one is read.

export type Support = 'yes' | 'partly' | 'default only';

export interface EnvVarDoc {
  name: string;
  group: string;
  /** worker-vllm's default (or nodellm's, where nodellm differs; `meaning` says so). */
  default: string;
  /** yes: applied; partly: some values applied, others refused; default only: other values refused. */
  supported: Support;
  meaning: string;
  /** A value other than the default, for the coverage test. */
  sample: string;
}

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

const v = (name: string, group: string, dflt: string, supported: Support, meaning: string, sample: string): EnvVarDoc => ({
  name,
  group,
  default: dflt,
  supported,
  meaning,
  sample,
});

const notYet = (what: string) => `not supported yet: ${what}; any other value stops start-up`;

export const WORKER_ENV: EnvVarDoc[] = [
  // LLM settings
  v('MODEL_NAME', LLM, 'the embedded default model', 'yes', 'HF repo id (downloaded into the HF cache at start-up unless present) or local model directory', 'org/model'),
  v('MODEL_REVISION', LLM, 'main', 'yes', 'branch, tag or commit of MODEL_NAME', 'v1.0'),
  v('TOKENIZER', LLM, 'the model', 'yes', "vLLM's name for TOKENIZER_NAME", 'org/tokenizer'),
  v('SKIP_TOKENIZER_INIT', LLM, 'false', 'default only', notYet('prompts as token ids only'), 'true'),
  v('TOKENIZER_MODE', LLM, 'auto', 'default only', notYet('slow or mistral tokenizers'), 'slow'),
  v('TRUST_REMOTE_CODE', LLM, 'false', 'yes', 'accepted either way: nodellm never runs code from a model repository (a model that needs it is an unsupported architecture)', 'true'),
  v('DOWNLOAD_DIR', LLM, 'the HF cache', 'yes', 'the HF cache directory models are downloaded into and loaded from', '/data/hf'),
  v('LOAD_FORMAT', LLM, 'auto', 'partly', '`auto` and `safetensors` (the format nodellm reads), `dummy` (seeded random weights from config.json, for benchmarks); others stop start-up', 'pt'),
  v('HF_TOKEN', LLM, 'none', 'yes', 'token for gated and private repositories (never logged)', 'hf_sample_token_value'),
  v('DTYPE', LLM, 'auto', 'yes', '`auto` keeps the checkpoint\'s dtype; `bfloat16`, `float16`/`half` convert at load; `float32`/`float` on the CPU only (the CPU computes in float32 whatever it says)', 'float16'),
  v('KV_CACHE_DTYPE', LLM, 'auto', 'default only', notYet('fp8 KV cache'), 'fp8'),
  v('MAX_MODEL_LEN', LLM, "the model's", 'yes', 'longest prompt + output (0: the model\'s max_position_embeddings); up to that times a linear, dynamic or YaRN rope_scaling factor', '512'),
  v('DISTRIBUTED_EXECUTOR_BACKEND', LLM, 'none', 'default only', notYet('several devices'), 'ray'),
  v('PIPELINE_PARALLEL_SIZE', LLM, '1', 'default only', notYet('pipeline parallelism'), '2'),
  v('TENSOR_PARALLEL_SIZE', LLM, '1', 'default only', notYet('tensor parallelism'), '2'),
  v('MAX_PARALLEL_LOADING_WORKERS', LLM, 'none', 'default only', notYet('parallel loading workers (weights are memory-mapped)'), '2'),
  v('RAY_WORKERS_USE_NSIGHT', LLM, 'false', 'default only', notYet('Ray'), 'true'),
  v('ENABLE_PREFIX_CACHING', LLM, 'false', 'default only', notYet('prefix caching'), 'true'),
  v('DISABLE_SLIDING_WINDOW', LLM, 'false', 'default only', 'sliding windows always apply as the model\'s config sets them', 'true'),
  v('NUM_LOOKAHEAD_SLOTS', LLM, '0', 'default only', notYet('lookahead scheduling'), '4'),
  v('SEED', LLM, '0', 'default only', notYet('an engine-wide seed (send `seed` per request)'), '7'),
  v('NUM_GPU_BLOCKS_OVERRIDE', LLM, 'none', 'yes', 'exact number of KV-cache blocks', '64'),
  v('MAX_NUM_BATCHED_TOKENS', LLM, 'max(2048, MAX_NUM_SEQS)', 'yes', 'tokens per step; longer prompts are prefilled in chunks (0: the default)', '1024'),
  v('MAX_NUM_SEQS', LLM, '256', 'yes', 'sequences per step', '8'),
  v('MAX_LOGPROBS', LLM, '20', 'yes', 'largest `logprobs` a request may ask for', '5'),
  v('DISABLE_LOG_STATS', LLM, 'false', 'yes', 'when false, engine stats (running, waiting, KV cache) are logged every 10 s while busy', 'true'),
  v('QUANTIZATION', LLM, 'none', 'default only', notYet('quantized weights'), 'awq'),
  // LoRA
  v('ENABLE_LORA', LORA, 'false', 'default only', notYet('LoRA adapters'), 'true'),
  v('MAX_LORAS', LORA, '1', 'default only', notYet('LoRA adapters'), '2'),
  v('MAX_LORA_RANK', LORA, '16', 'default only', notYet('LoRA adapters'), '32'),
  v('LORA_DTYPE', LORA, 'auto', 'default only', notYet('LoRA adapters'), 'float16'),
  v('MAX_CPU_LORAS', LORA, 'none', 'default only', notYet('LoRA adapters'), '4'),
  v('FULLY_SHARDED_LORAS', LORA, 'false', 'default only', notYet('LoRA adapters'), 'true'),
  v('LORA_MODULES', LORA, '[]', 'default only', notYet('LoRA adapters'), '[{"name":"a","path":"org/a"}]'),
  v('LORA_EXTRA_VOCAB_SIZE', LORA, '256', 'default only', notYet('LoRA adapters'), '512'),
  v('LONG_LORA_SCALING_FACTORS', LORA, 'none', 'default only', notYet('LoRA adapters'), '4,8'),
  // Speculative decoding
  v('SPECULATIVE_CONFIG', SPEC, 'none', 'default only', notYet('speculative decoding'), '{"method":"ngram"}'),
  v('SPECULATIVE_METHOD', SPEC, 'none', 'default only', notYet('speculative decoding'), 'ngram'),
  v('SPECULATIVE_MODEL', SPEC, 'none', 'default only', notYet('speculative decoding'), 'org/draft'),
  v('NUM_SPECULATIVE_TOKENS', SPEC, 'none', 'default only', notYet('speculative decoding'), '3'),
  v('SPECULATIVE_DRAFT_TENSOR_PARALLEL_SIZE', SPEC, 'none', 'default only', notYet('speculative decoding'), '1'),
  v('SPECULATIVE_MAX_MODEL_LEN', SPEC, 'none', 'default only', notYet('speculative decoding'), '1024'),
  v('SPECULATIVE_DISABLE_BY_BATCH_SIZE', SPEC, 'none', 'default only', notYet('speculative decoding'), '4'),
  v('NGRAM_PROMPT_LOOKUP_MAX', SPEC, 'none', 'default only', notYet('speculative decoding'), '4'),
  v('NGRAM_PROMPT_LOOKUP_MIN', SPEC, 'none', 'default only', notYet('speculative decoding'), '1'),
  v('SPECULATIVE_QUANTIZATION', SPEC, 'none', 'default only', notYet('speculative decoding'), 'awq'),
  v('SPECULATIVE_MODEL_REVISION', SPEC, 'none', 'default only', notYet('speculative decoding'), 'main'),
  v('SPECULATIVE_ENFORCE_EAGER', SPEC, 'none', 'default only', notYet('speculative decoding'), 'true'),
  // Scheduling and performance
  v('GPU_MEMORY_UTILIZATION', SCHED, '0.95', 'yes', 'share of GPU memory for weights, workspaces and KV cache; the cache gets what is left after a profiling step at the largest batch', '0.8'),
  v('BLOCK_SIZE', SCHED, '16', 'yes', 'tokens per KV-cache block: 8, 16 or 32', '32'),
  v('SWAP_SPACE', SCHED, '4', 'default only', notYet('swapping preempted sequences (they are recomputed)'), '8'),
  v('ENFORCE_EAGER', SCHED, 'false', 'yes', 'true: no CUDA graphs, every step runs eagerly', 'true'),
  v('MAX_SEQ_LEN_TO_CAPTURE', SCHED, '8192', 'yes', 'decode steps with longer contexts run without CUDA graphs', '4096'),
  v('VLLM_BATCH_INVARIANT', SCHED, '0', 'yes', "1: batch-invariant numerics, as vLLM's switch (`--batch-invariant`)", '1'),
  v('DISABLE_CUSTOM_ALL_REDUCE', SCHED, '0', 'yes', 'accepted either way: one device, no all-reduce', '1'),
  v('ENABLE_EXPERT_PARALLEL', SCHED, 'false', 'default only', notYet('mixture-of-experts models'), 'true'),
  v('ATTENTION_BACKEND', SCHED, 'none', 'default only', notYet('choosing the attention kernels'), 'FLASHINFER'),
  v('ASYNC_SCHEDULING', SCHED, 'true (vLLM >= 0.14)', 'yes', "true: on a GPU the next decode step is scheduled and launched before the last one's tokens are post-processed; false: one step at a time", 'false'),
  v('MAX_SEQS_PER_REQUEST', SCHED, '256 (nodellm)', 'yes', "nodellm's own: most sequences (prompts x n) one request may start; more is refused, naming n", '64'),
  v('MAX_WAITING_SEQS', SCHED, 'none (nodellm)', 'yes', "nodellm's own: most sequences waiting for a slot, past which a job fails as overloaded (error_code 503); unset, MAX_CONCURRENCY alone bounds the work taken, so no job is refused", '512'),
  v('MAX_PROMPT_CHARS', SCHED, '16 x max_model_len (nodellm)', 'yes', "nodellm's own: most characters of a prompt (or of the messages' contents, summed), refused before tokenization", '100000'),
  v('STREAM_INTERVAL', SCHED, '1', 'default only', notYet('streaming every N steps'), '4'),
  // Tokenizer
  v('TOKENIZER_NAME', TOK, 'the model', 'yes', 'HF repo id or directory of the tokenizer', 'org/tokenizer'),
  v('TOKENIZER_REVISION', TOK, 'main', 'yes', 'revision of TOKENIZER_NAME', 'v2'),
  v('CUSTOM_CHAT_TEMPLATE', TOK, "the model's", 'yes', 'a Jinja chat template replacing the model\'s (standard and OpenAI paths)', '{{ messages[0].content }}'),
  // Streaming batch
  v('DEFAULT_BATCH_SIZE', BATCH, '50', 'yes', 'largest number of tokens per streamed item', '20'),
  v('DEFAULT_MIN_BATCH_SIZE', BATCH, '1', 'yes', 'tokens in the first streamed item', '2'),
  v('DEFAULT_BATCH_SIZE_GROWTH_FACTOR', BATCH, '3', 'yes', 'growth of the item size per item; may be fractional', '1.5'),
  v('MIN_BATCH_SIZE', BATCH, '1', 'yes', 'the name worker-vllm\'s code read for DEFAULT_MIN_BATCH_SIZE (both accepted; they must agree)', '4'),
  v('BATCH_SIZE_GROWTH_FACTOR', BATCH, '3', 'yes', 'the name worker-vllm\'s code read for DEFAULT_BATCH_SIZE_GROWTH_FACTOR', '2'),
  // OpenAI
  v('RAW_OPENAI_OUTPUT', OPENAI, '1', 'yes', '1: streamed OpenAI items are SSE strings; 0: lists of chunk objects', '0'),
  v('OPENAI_SERVED_MODEL_NAME_OVERRIDE', OPENAI, 'MODEL_NAME', 'yes', 'the model name clients send and /v1/models lists', 'my-model'),
  v('OPENAI_RESPONSE_ROLE', OPENAI, 'assistant', 'yes', 'role of chat answers', 'bot'),
  v('ENABLE_AUTO_TOOL_CHOICE', OPENAI, 'false', 'default only', notYet('tool calling'), 'true'),
  v('TOOL_CALL_PARSER', OPENAI, 'none', 'default only', notYet('tool calling'), 'hermes'),
  v('REASONING_PARSER', OPENAI, 'none', 'default only', notYet('reasoning parsers'), 'deepseek_r1'),
  v('TRUST_REQUEST_CHAT_TEMPLATE', OPENAI, 'false', 'default only', notYet('chat templates sent in requests'), 'true'),
  v('RETURN_TOKENS_AS_TOKEN_IDS', OPENAI, 'false', 'yes', 'logprobs name tokens as `token_id:N` unless the request says otherwise', 'true'),
  v('EXCLUDE_TOOLS_WHEN_TOOL_CHOICE_NONE', OPENAI, 'false', 'yes', 'drop `tools` from requests whose tool_choice is "none"', 'true'),
  v('ENABLE_PROMPT_TOKENS_DETAILS', OPENAI, 'false', 'default only', notYet('usage.prompt_tokens_details'), 'true'),
  v('ENABLE_FORCE_INCLUDE_USAGE', OPENAI, 'false', 'yes', 'streamed OpenAI responses end with a usage chunk even when not asked', 'true'),
  v('ENABLE_LOG_OUTPUTS', OPENAI, 'false', 'yes', 'log each job\'s output (cut to MAX_LOG_LEN)', 'true'),
  v('LOG_ERROR_STACK', OPENAI, 'false', 'yes', 'log the stack of each failed job', 'true'),
  // Serverless and logging
  v('MAX_CONCURRENCY', SERVERLESS, '30', 'yes', 'jobs in flight per worker (the engine batches them)', '4'),
  v('ENABLE_LOG_REQUESTS', SERVERLESS, 'false', 'yes', 'log each job\'s input (cut to MAX_LOG_LEN)', 'true'),
  v('DISABLE_LOG_REQUESTS', SERVERLESS, 'true', 'yes', 'deprecated inverse of ENABLE_LOG_REQUESTS', 'false'),
  v('DISABLE_LOGGING_REQUEST', SERVERLESS, 'true', 'yes', 'older inverse of ENABLE_LOG_REQUESTS', 'false'),
  v('MAX_LOG_LEN', SERVERLESS, 'unlimited', 'yes', 'characters of a logged input or output', '100'),
  // Advanced and deprecated
  v('MODEL_LOADER_EXTRA_CONFIG', ADVANCED, 'none', 'default only', notYet('model loader options'), '{"a":1}'),
  v('PREEMPTION_MODE', ADVANCED, 'recompute', 'partly', '`recompute` (what nodellm does); `swap`/`save` stop start-up', 'swap'),
  v('PREEMPTION_CHECK_PERIOD', ADVANCED, '1.0', 'default only', notYet('preemption tuning'), '2'),
  v('PREEMPTION_CPU_CAPACITY', ADVANCED, '2', 'default only', notYet('preemption tuning'), '4'),
  v('MAX_CONTEXT_LEN_TO_CAPTURE', ADVANCED, '8192', 'yes', 'deprecated name of MAX_SEQ_LEN_TO_CAPTURE', '2048'),
  v('VLLM_ATTENTION_BACKEND', ADVANCED, 'none', 'default only', 'deprecated name of ATTENTION_BACKEND; ' + notYet('choosing the attention kernels'), 'FLASHINFER'),
  v('USE_V2_BLOCK_MANAGER', ADVANCED, 'none', 'yes', 'accepted and logged as having no effect (as in worker-vllm)', 'true'),
  v('LIMIT_MM_PER_PROMPT', ADVANCED, 'none', 'default only', notYet('multimodal inputs'), 'image=1'),
  v('VLLM_CONFIG_FILE', ADVANCED, 'none', 'default only', notYet('vLLM YAML config files (use environment variables)'), '/vllm_config.yaml'),
  v('TRANSFORMERS_VERSION', ADVANCED, 'none', 'default only', 'nodellm does not use transformers; any value stops start-up', '4.46.0'),
  v('VLLM_USE_DEEP_GEMM', ADVANCED, '0', 'default only', notYet('DeepGEMM kernels'), '1'),
  v('QUANTIZATION_PARAM_PATH', ADVANCED, 'none', 'default only', notYet('KV-cache scaling factors'), '/scales.json'),
  v('GUIDED_DECODING_BACKEND', ADVANCED, 'auto', 'default only', notYet('guided decoding'), 'lm-format-enforcer'),
  v('WORKER_USE_RAY', ADVANCED, 'false', 'default only', notYet('Ray'), 'true'),
  v('ROPE_SCALING', ADVANCED, 'none', 'default only', notYet('overriding rope scaling (the model\'s config.json is used)'), '{"type":"linear","factor":2}'),
  v('ROPE_THETA', ADVANCED, 'none', 'default only', notYet('overriding rope theta (the model\'s config.json is used)'), '500000'),
  v('TOKENIZER_POOL_SIZE', ADVANCED, '0', 'default only', notYet('tokenizer pools (tokenization already runs off the event loop)'), '4'),
  v('TOKENIZER_POOL_TYPE', ADVANCED, 'ray', 'default only', notYet('tokenizer pools'), 'mp'),
  v('TOKENIZER_POOL_EXTRA_CONFIG', ADVANCED, 'none', 'default only', notYet('tokenizer pools'), '{"a":1}'),
  v('DEVICE', ADVANCED, 'auto', 'yes', '`auto` (CUDA when this build has it and a GPU is usable, else the CPU), `cpu` or `cuda`', 'cpu'),
  v('SCHEDULER_DELAY_FACTOR', ADVANCED, '0', 'default only', notYet('delayed scheduling'), '0.5'),
  v('ENABLE_CHUNKED_PREFILL', ADVANCED, 'false', 'yes', 'accepted either way and logged: as vLLM V1, prompts longer than MAX_NUM_BATCHED_TOKENS are always prefilled in chunks', 'true'),
  // Model files
  v('BASE_PATH', STORAGE, '/runpod-volume', 'yes', 'the HF cache is $BASE_PATH/huggingface-cache/hub (at run time too, unlike worker-vllm)', '/models'),
  v('HF_HUB_CACHE', STORAGE, '$HF_HOME/hub', 'yes', 'the HF cache directory (HUGGINGFACE_HUB_CACHE too); wins over BASE_PATH', '/cache/hub'),
  v('HUGGINGFACE_HUB_CACHE', STORAGE, '$HF_HOME/hub', 'yes', 'older name of HF_HUB_CACHE', '/cache/hub2'),
  v('HF_HOME', STORAGE, '~/.cache/huggingface', 'yes', 'the HF cache is $HF_HOME/hub when neither HF_HUB_CACHE nor BASE_PATH is set', '/hfhome'),
  v('HF_ENDPOINT', STORAGE, 'https://huggingface.co', 'yes', 'the hub to download from (a mirror, or a local server in tests)', 'http://127.0.0.1:9999'),
  v('HF_HUB_OFFLINE', STORAGE, '0', 'yes', '1: never download; models must be in the cache (TRANSFORMERS_OFFLINE too)', '1'),
  v('TRANSFORMERS_OFFLINE', STORAGE, '0', 'yes', 'same as HF_HUB_OFFLINE', '1'),
  // RunPod platform
  v('RUNPOD_WEBHOOK_GET_JOB', RUNPOD, 'none', 'yes', 'job-take URL ($ID: the worker id); unset means local mode (test_input.json)', 'http://127.0.0.1:1/v2/e/job-take/$ID?gpu=x'),
  v('RUNPOD_WEBHOOK_POST_OUTPUT', RUNPOD, 'none', 'yes', 'job-done URL ($RUNPOD_POD_ID, $ID: the job id)', 'http://127.0.0.1:1/v2/e/job-done/$RUNPOD_POD_ID/$ID?gpu=x'),
  v('RUNPOD_WEBHOOK_POST_STREAM', RUNPOD, 'none', 'yes', 'job-stream URL (same substitutions)', 'http://127.0.0.1:1/v2/e/job-stream/$RUNPOD_POD_ID/$ID?gpu=x'),
  v('RUNPOD_WEBHOOK_PING', RUNPOD, 'none', 'yes', 'heartbeat URL ($RUNPOD_POD_ID)', 'http://127.0.0.1:1/v2/e/ping/$RUNPOD_POD_ID?gpu=x'),
  v('RUNPOD_PING_INTERVAL', RUNPOD, '10000', 'yes', 'heartbeat period in milliseconds', '2000'),
  v('RUNPOD_AI_API_KEY', RUNPOD, 'none', 'yes', 'sent as the Authorization header of every platform request (never logged)', 'rp_sample_key_value'),
  v('RUNPOD_POD_ID', RUNPOD, 'a random id', 'yes', 'the worker id; no heartbeat without it', 'pod-123'),
  v('RUNPOD_POD_HOSTNAME', RUNPOD, 'unknown', 'yes', 'reported in failed jobs\' error info', 'host-1'),
  v('RUNPOD_ENDPOINT_ID', RUNPOD, 'none', 'yes', 'when set, log lines are JSON', 'ep-1'),
  v('RUNPOD_LOG_LEVEL', RUNPOD, 'INFO', 'yes', 'DEBUG, INFO, WARN or ERROR (RUNPOD_DEBUG_LEVEL too)', 'DEBUG'),
  v('RUNPOD_DEBUG_LEVEL', RUNPOD, 'INFO', 'yes', 'older name of RUNPOD_LOG_LEVEL', 'ERROR'),
  v('RUNPOD_UA_INTEGRATION', RUNPOD, 'none', 'yes', 'appended to the User-Agent as Integration/<value>', 'my-integration'),
  v('RUNPOD_REALTIME_PORT', RUNPOD, '0', 'default only', notYet("the SDK's realtime mode"), '8080'),
  v('RUNPOD_REALTIME_CONCURRENCY', RUNPOD, '1', 'default only', notYet("the SDK's realtime mode"), '2'),
];
