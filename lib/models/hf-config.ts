// Reads a Hugging Face model directory's config.json and generation_config.json into typed,
// camelCase objects. Missing fields take the defaults of the family's transformers config class
// (architectures.ts), so a config means here what it means to transformers. Options the engine
// cannot honour fail here, naming the file and the field, instead of producing a silently
// different model.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';

import { type Architecture, type FamilyFeatures, findArchitecture } from './architectures.js';
import { type RawConfig, bool, optNum, optObject, optStr } from './config-fields.js';
import { type RopeConfig, parseRope, rotaryDimOf } from './rope.js';

/** A model's shape and numerics: its family's switches (architectures.ts) with every default applied. */
export interface ModelConfig extends Omit<FamilyFeatures, 'localRopeTheta' | 'partialRotaryFactor'> {
  /** The Hugging Face architecture name, as listed in architectures.ts. */
  architecture: string;
  implementation: Architecture['implementation'];
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  /** Dims of each head that rotate: head_dim * partial_rotary_factor. */
  rotaryDim: number;
  rmsNormEps: number;
  activation: 'silu' | 'gelu_tanh';
  rope: RopeConfig;
  /** Sliding-window layers' own RoPE (Gemma 3), or null. */
  localRope: RopeConfig | null;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  torchDtype: 'float32' | 'float16' | 'bfloat16';
}

export interface GenerationConfig {
  bosTokenId: number | null;
  eosTokenIds: number[];
  defaults: {
    temperature?: number;
    top_p?: number;
    top_k?: number;
    min_p?: number;
    repetition_penalty?: number;
    max_new_tokens?: number;
  };
}

const posInt = z.number().int().positive();
const nonNegNumber = z.number().nonnegative();

// The shape fields every family shares; `.nullish()`: null means the default.
const configSchema = z.looseObject({
  vocab_size: posInt.nullish(),
  hidden_size: posInt.nullish(),
  intermediate_size: posInt.nullish(),
  num_hidden_layers: posInt.nullish(),
  num_attention_heads: posInt.nullish(),
  num_key_value_heads: posInt.nullish(),
  head_dim: posInt.nullish(),
  rms_norm_eps: nonNegNumber.nullish(),
  max_position_embeddings: posInt.nullish(),
});

const tokenIds = z.union([z.number().int().nonnegative(), z.array(z.number().int().nonnegative())]).nullish();

const generationSchema = z.looseObject({
  bos_token_id: z.number().int().nonnegative().nullish(),
  eos_token_id: tokenIds,
  temperature: nonNegNumber.nullish(),
  top_p: z.number().gt(0).lte(1).nullish(),
  top_k: z.number().int().nullish(),
  min_p: z.number().gte(0).lte(1).nullish(),
  repetition_penalty: z.number().positive().nullish(),
  max_new_tokens: posInt.nullish(),
});

const tokenIdsInConfig = z.looseObject({
  bos_token_id: z.number().int().nonnegative().nullish(),
  eos_token_id: tokenIds,
});

async function readJson(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(`${what} not found: ${file} does not exist; is this a Hugging Face model directory?`);
    }
    throw err;
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${file} is not valid JSON: ${(err as Error).message}`);
  }
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown, file: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `"${i.path.join('.')}": ${i.message}`);
  throw new Error(`invalid ${file}: ${problems.join('; ')}`);
}

function parseDtype(value: string | undefined, file: string): ModelConfig['torchDtype'] {
  // No dtype means float32, as transformers loads such a checkpoint by default.
  const dtype = value ?? 'float32';
  if (dtype === 'float32' || dtype === 'float16' || dtype === 'bfloat16') return dtype;
  throw new Error(`Unsupported torch_dtype "${dtype}" in ${file}; nodellm supports: float32, float16, bfloat16`);
}

// transformers' names for the activations the decoder has.
const ACTIVATIONS: Record<string, ModelConfig['activation']> = {
  silu: 'silu',
  swish: 'silu',
  gelu_pytorch_tanh: 'gelu_tanh',
  gelu_tanh: 'gelu_tanh',
};

/**
 * The model's RoPE: classic configs give `rope_theta` and `rope_scaling`, transformers 5's give
 * `rope_parameters` (with theta inside), per layer type where layers differ (Gemma 3).
 */
function readRope(raw: RawConfig, file: string, defaultTheta: number, localTheta: number | null): { rope: RopeConfig; localRope: RopeConfig | null } {
  const params = optObject(raw, 'rope_parameters', file);
  const theta = optNum(raw, 'rope_theta', file) ?? defaultTheta;
  // Phi-3 keeps original_max_position_embeddings at the top level of config.json; transformers 5
  // copies it into the rope dict of the types that read it (and it wins there).
  const withOriginal = (dict: RawConfig | undefined): RawConfig | undefined => {
    const original = optNum(raw, 'original_max_position_embeddings', file);
    const type = dict?.rope_type ?? dict?.type;
    if (dict === undefined || original === undefined || !['llama3', 'yarn', 'longrope', 'su'].includes(String(type))) return dict;
    return { ...dict, original_max_position_embeddings: original };
  };
  if (params && (params.full_attention !== undefined || params.sliding_attention !== undefined)) {
    const full = optObject(params, 'full_attention', file);
    const sliding = optObject(params, 'sliding_attention', file);
    return {
      rope: parseRope(withOriginal(full), theta, file),
      localRope: sliding ? parseRope(sliding, localTheta ?? theta, file) : localTheta !== null ? { theta: localTheta, scaling: null } : null,
    };
  }
  return {
    rope: parseRope(withOriginal(optObject(raw, 'rope_scaling', file) ?? params), theta, file),
    localRope: localTheta !== null ? { theta: localTheta, scaling: null } : null,
  };
}

export async function readModelConfig(dir: string): Promise<ModelConfig> {
  const file = path.join(path.resolve(dir), 'config.json');
  const top = await readJson(file, 'config.json');
  if (typeof top !== 'object' || top === null || Array.isArray(top)) throw new Error(`invalid ${file}: expected a JSON object`);
  const arch = findArchitecture(top as RawConfig, file);
  // Multimodal checkpoints describe their language model in text_config.
  const raw = arch.textConfig ? (optObject(top as RawConfig, 'text_config', file) ?? {}) : (top as RawConfig);
  const c = parseWith(configSchema, raw, file);
  const d = arch.defaults;

  const actName = optStr(raw, 'hidden_activation', file) ?? optStr(raw, 'hidden_act', file) ?? d.activation;
  const activation = ACTIVATIONS[actName];
  if (activation === undefined) {
    throw new Error(`Unsupported hidden_act "${actName}" in ${file}; ${arch.name} in nodellm supports: ${d.activation}`);
  }

  const hiddenSize = c.hidden_size ?? d.hiddenSize;
  const numAttentionHeads = c.num_attention_heads ?? d.numAttentionHeads;
  const numKeyValueHeads = c.num_key_value_heads ?? d.numKeyValueHeads ?? numAttentionHeads;
  const headDim = c.head_dim ?? d.headDim ?? Math.floor(hiddenSize / numAttentionHeads);
  const numHiddenLayers = c.num_hidden_layers ?? d.numHiddenLayers;
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    throw new Error(
      `${file}: num_attention_heads (${numAttentionHeads}) must be a multiple of num_key_value_heads (${numKeyValueHeads})`,
    );
  }
  const { localRopeTheta, partialRotaryFactor, ...features } = arch.features(raw, file, { numHiddenLayers, hiddenSize, headDim });
  const rotaryDim = rotaryDimOf(headDim, partialRotaryFactor);
  if (rotaryDim % 2 !== 0 || rotaryDim <= 0 || rotaryDim > headDim) {
    throw new Error(`${file}: head_dim (${headDim}) times partial_rotary_factor (${partialRotaryFactor}) must be an even number of dims for rotary embeddings`);
  }
  const { rope, localRope } = readRope(raw, file, d.ropeTheta, localRopeTheta);
  const dtypeName = optStr(raw, 'torch_dtype', file) ?? optStr(raw, 'dtype', file) ?? optStr(top as RawConfig, 'torch_dtype', file) ?? optStr(top as RawConfig, 'dtype', file);
  const tie = bool(raw, 'tie_word_embeddings', file, bool(top as RawConfig, 'tie_word_embeddings', file, d.tieWordEmbeddings));

  return {
    architecture: arch.name,
    implementation: arch.implementation,
    vocabSize: c.vocab_size ?? d.vocabSize,
    hiddenSize,
    intermediateSize: c.intermediate_size ?? d.intermediateSize,
    numHiddenLayers,
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    rotaryDim,
    rmsNormEps: c.rms_norm_eps ?? d.rmsNormEps,
    activation,
    ...features,
    rope,
    localRope,
    maxPositionEmbeddings: c.max_position_embeddings ?? d.maxPositionEmbeddings,
    tieWordEmbeddings: tie,
    torchDtype: parseDtype(dtypeName, file),
  };
}

/**
 * The longest context the model's RoPE serves: max_position_embeddings, times the factor of a
 * linear, dynamic or YaRN scaling (YaRN's from original_max_position_embeddings), as vLLM derives
 * it; llama3 and LongRoPE configs already give the scaled length. max_model_len may go up to it.
 */
export function scaledContextLength(config: Pick<ModelConfig, 'maxPositionEmbeddings' | 'rope'>): number {
  const s = config.rope.scaling;
  if (s === null) return config.maxPositionEmbeddings;
  switch (s.type) {
    case 'linear':
    case 'dynamic':
      return Math.floor(config.maxPositionEmbeddings * s.factor);
    case 'yarn':
      return Math.floor((s.originalMaxPositionEmbeddings ?? config.maxPositionEmbeddings) * s.factor);
    default:
      return config.maxPositionEmbeddings;
  }
}

function toIdList(ids: number | number[] | null | undefined): number[] | undefined {
  if (ids === null || ids === undefined) return undefined;
  return Array.isArray(ids) ? [...ids] : [ids];
}

/**
 * Token ids and sampling defaults. generation_config.json wins; config.json fills in the token
 * ids it lacks. The sampling defaults are the keys vLLM takes from generation_config.
 */
export async function readGenerationConfig(dir: string): Promise<GenerationConfig> {
  const root = path.resolve(dir);
  const configFile = path.join(root, 'config.json');
  const genFile = path.join(root, 'generation_config.json');
  const model = parseWith(tokenIdsInConfig, await readJson(configFile, 'config.json'), configFile);

  const genExists = fs.existsSync(genFile);
  const gen = genExists ? parseWith(generationSchema, await readJson(genFile, 'generation_config.json'), genFile) : null;

  const defaults: GenerationConfig['defaults'] = {};
  if (gen !== null) {
    for (const key of ['temperature', 'top_p', 'top_k', 'min_p', 'repetition_penalty', 'max_new_tokens'] as const) {
      const v = gen[key];
      if (v !== null && v !== undefined) defaults[key] = v;
    }
  }
  return {
    bosTokenId: gen?.bos_token_id ?? model.bos_token_id ?? null,
    eosTokenIds: toIdList(gen?.eos_token_id) ?? toIdList(model.eos_token_id) ?? [],
    defaults,
  };
}
