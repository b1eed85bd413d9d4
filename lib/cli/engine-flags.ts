// The model and engine flags of every command that runs the engine in this process (`serve`,
// `bench latency`, `bench throughput`): declared once, so the commands cannot drift apart.
import { type Command, InvalidArgumentError, Option } from 'commander';

import { DEVICES, DTYPES, type EngineOptions, gpuMemoryShare, LOAD_FORMATS, SERVER_MAX_WAITING_SEQS } from '../config/engine-options.js';
import { integer, received } from './arguments.js';

export function addEngineFlags(command: Command): Command {
  return command
    .option('--model <dir>', 'local HF model directory', process.env.MODEL_NAME)
    .option('--served-model-name <name>', 'model name reported by the API', process.env.OPENAI_SERVED_MODEL_NAME_OVERRIDE)
    .option('--max-model-len <n>', "longest prompt + output in tokens (default: max_position_embeddings; up to that times a linear, dynamic or YaRN rope_scaling factor)", integer('--max-model-len'))
    .option('--max-num-seqs <n>', 'most sequences per step', integer('--max-num-seqs'))
    .option('--max-num-batched-tokens <n>', 'most tokens per step', integer('--max-num-batched-tokens'))
    .option('--block-size <n>', 'tokens per KV-cache block: 8, 16 or 32', integer('--block-size'))
    .option('--chat-template <template>', "chat template (or a path to one) replacing the model's", process.env.CUSTOM_CHAT_TEMPLATE)
    .addOption(new Option('--device <device>', 'where the model runs').choices(DEVICES).default('auto'))
    .option('--gpu-memory-utilization <share>', 'share of GPU memory for weights, workspaces and KV cache (default 0.9)', gpuShare)
    .option('--num-gpu-blocks-override <n>', 'exact number of KV-cache blocks', integer('--num-gpu-blocks-override'))
    .addOption(new Option('--load-format <format>', 'dummy: seeded random weights from config.json alone').choices(LOAD_FORMATS))
    .addOption(new Option('--dtype <dtype>', "weights' and activations' dtype: auto keeps the checkpoint's (the CPU computes in float32)").choices(DTYPES))
    .option('--enforce-eager', 'run every step eagerly, without CUDA graphs')
    .option('--batch-invariant', 'compute each request the same way whatever it is batched with (seeded sampling reproducible across batches; slower on CUDA)')
    .option('--no-async-scheduling', 'on a GPU, run one step at a time instead of launching the next decode step before handing back the last one\'s tokens')
    .option('--max-prompt-chars <n>', 'most characters of a prompt (or of the messages, summed), refused before tokenization (default 16 x max-model-len)', integer('--max-prompt-chars'))
    .option('--max-seqs-per-request <n>', 'most sequences (prompts x n) one request may start (default 256)', integer('--max-seqs-per-request'))
    .option('--max-waiting-seqs <n>', `most sequences waiting for a slot before new requests get 503 (serve's default ${SERVER_MAX_WAITING_SEQS}; none in bench)`, integer('--max-waiting-seqs'));
}

const gpuShare = (value: string) => {
  const parsed = gpuMemoryShare.safeParse(value.trim() === '' ? NaN : Number(value));
  if (!parsed.success) throw new InvalidArgumentError(`--gpu-memory-utilization ${parsed.error.issues[0]!.message}, but received ${received(value)}`);
  return parsed.data;
};

/** The parsed flags of addEngineFlags as LLM.load() options (unset flags left out). */
export function engineOptionsFromFlags(opts: Record<string, unknown>): EngineOptions {
  return {
    ...(opts.model ? { model: opts.model as string } : {}),
    ...(opts.servedModelName ? { servedModelName: opts.servedModelName as string } : {}),
    ...(opts.maxModelLen ? { maxModelLen: opts.maxModelLen as number } : {}),
    ...(opts.maxNumSeqs ? { maxNumSeqs: opts.maxNumSeqs as number } : {}),
    ...(opts.maxNumBatchedTokens ? { maxNumBatchedTokens: opts.maxNumBatchedTokens as number } : {}),
    ...(opts.blockSize ? { blockSize: opts.blockSize as EngineOptions['blockSize'] } : {}),
    ...(opts.chatTemplate ? { chatTemplate: opts.chatTemplate as string } : {}),
    ...(opts.gpuMemoryUtilization ? { gpuMemoryUtilization: opts.gpuMemoryUtilization as number } : {}),
    ...(opts.numGpuBlocksOverride ? { numKvBlocks: opts.numGpuBlocksOverride as number } : {}),
    ...(opts.loadFormat ? { loadFormat: opts.loadFormat as EngineOptions['loadFormat'] } : {}),
    ...(opts.dtype ? { dtype: opts.dtype as EngineOptions['dtype'] } : {}),
    ...(opts.enforceEager ? { enforceEager: true } : {}),
    ...(opts.batchInvariant ? { batchInvariant: true } : {}),
    ...(opts.asyncScheduling === false ? { asyncScheduling: false } : {}),
    ...(opts.maxPromptChars ? { maxPromptChars: opts.maxPromptChars as number } : {}),
    ...(opts.maxSeqsPerRequest ? { maxSeqsPerRequest: opts.maxSeqsPerRequest as number } : {}),
    ...(opts.maxWaitingSeqs ? { maxWaitingSeqs: opts.maxWaitingSeqs as number } : {}),
    device: opts.device as EngineOptions['device'],
  };
}
