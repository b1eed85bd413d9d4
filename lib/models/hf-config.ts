// Reads a Hugging Face model directory's config.json and generation_config.json into typed,
// camelCase objects. Missing fields take the defaults of transformers' LlamaConfig, so a config
// means here what it means to transformers. Options the engine cannot honour fail here, naming
// the file and the field, instead of producing a silently different model.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';

export type RopeScaling =
  | null
  | { type: 'linear'; factor: number }
  | {
      type: 'llama3';
      factor: number;
      lowFreqFactor: number;
      highFreqFactor: number;
      originalMaxPositionEmbeddings: number;
    };

export interface LlamaConfig {
  architecture: 'LlamaForCausalLM';
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  attentionBias: boolean;
  mlpBias: boolean;
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

export const SUPPORTED_ARCHITECTURES = ['LlamaForCausalLM'] as const;
export const SUPPORTED_ROPE_TYPES = ['default', 'linear', 'llama3'] as const;

const posInt = z.number().int().positive();
const nonNegNumber = z.number().nonnegative();

// `.nullish()` everywhere: HF configs write `null` for "use the default" as often as they omit.
const ropeScalingSchema = z.looseObject({
  rope_type: z.string().nullish(),
  type: z.string().nullish(),
  rope_theta: z.number().positive().nullish(), // transformers v5 `rope_parameters` carries theta
  factor: z.number().positive().nullish(),
  low_freq_factor: z.number().positive().nullish(),
  high_freq_factor: z.number().positive().nullish(),
  original_max_position_embeddings: posInt.nullish(),
});

const configSchema = z.looseObject({
  architectures: z.array(z.string()).nullish(),
  model_type: z.string().nullish(),
  vocab_size: posInt.nullish(),
  hidden_size: posInt.nullish(),
  intermediate_size: posInt.nullish(),
  num_hidden_layers: posInt.nullish(),
  num_attention_heads: posInt.nullish(),
  num_key_value_heads: posInt.nullish(),
  head_dim: posInt.nullish(),
  hidden_act: z.string().nullish(),
  rms_norm_eps: nonNegNumber.nullish(),
  rope_theta: z.number().positive().nullish(),
  rope_scaling: ropeScalingSchema.nullish(),
  rope_parameters: ropeScalingSchema.nullish(),
  max_position_embeddings: posInt.nullish(),
  tie_word_embeddings: z.boolean().nullish(),
  attention_bias: z.boolean().nullish(),
  mlp_bias: z.boolean().nullish(),
  torch_dtype: z.string().nullish(),
  dtype: z.string().nullish(), // newer transformers write `dtype` instead of `torch_dtype`
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

function checkArchitecture(raw: unknown, file: string): void {
  const obj = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const archs = obj.architectures;
  const supported = SUPPORTED_ARCHITECTURES.join(', ');
  if (Array.isArray(archs) && archs.length > 0) {
    if (archs.includes('LlamaForCausalLM')) return;
    throw new Error(`Unsupported architecture "${archs.join(', ')}" in ${file}; nodellm supports: ${supported}`);
  }
  // Some older exports omit `architectures`; transformers then goes by model_type.
  if (obj.model_type === 'llama') return;
  const what = typeof obj.model_type === 'string' ? obj.model_type : '(none: no architectures or model_type)';
  throw new Error(`Unsupported architecture "${what}" in ${file}; nodellm supports: ${supported}`);
}

function parseRopeScaling(raw: z.infer<typeof ropeScalingSchema> | null | undefined, file: string): RopeScaling {
  if (raw === null || raw === undefined) return null;
  // transformers accepts the legacy `type` key as well as `rope_type`.
  const type = raw.rope_type ?? raw.type ?? 'default';
  const need = (key: 'factor' | 'low_freq_factor' | 'high_freq_factor' | 'original_max_position_embeddings'): number => {
    const v = raw[key];
    if (v === null || v === undefined) {
      throw new Error(`${file}: rope_scaling of type "${type}" needs "${key}"`);
    }
    return v;
  };
  switch (type) {
    case 'default':
      return null;
    case 'linear':
      return { type: 'linear', factor: need('factor') };
    case 'llama3': {
      const scaling = {
        type: 'llama3' as const,
        factor: need('factor'),
        lowFreqFactor: need('low_freq_factor'),
        highFreqFactor: need('high_freq_factor'),
        originalMaxPositionEmbeddings: need('original_max_position_embeddings'),
      };
      // transformers' validation: the smoothing interpolates between the two wavelengths.
      if (scaling.highFreqFactor <= scaling.lowFreqFactor) {
        throw new Error(`${file}: rope_scaling.high_freq_factor must be larger than low_freq_factor`);
      }
      return scaling;
    }
    default:
      throw new Error(
        `Unsupported rope_scaling type "${type}" in ${file}; nodellm supports: ${SUPPORTED_ROPE_TYPES.join(', ')}`,
      );
  }
}

function parseDtype(value: string | null | undefined, file: string): LlamaConfig['torchDtype'] {
  // No dtype means float32, as transformers loads such a checkpoint by default.
  const dtype = value ?? 'float32';
  if (dtype === 'float32' || dtype === 'float16' || dtype === 'bfloat16') return dtype;
  throw new Error(`Unsupported torch_dtype "${dtype}" in ${file}; nodellm supports: float32, float16, bfloat16`);
}

export async function readModelConfig(dir: string): Promise<LlamaConfig> {
  const file = path.join(path.resolve(dir), 'config.json');
  const raw = await readJson(file, 'config.json');
  checkArchitecture(raw, file);
  const c = parseWith(configSchema, raw, file);

  const act = c.hidden_act ?? 'silu';
  if (act !== 'silu') {
    throw new Error(`Unsupported hidden_act "${act}" in ${file}; LlamaForCausalLM in nodellm supports: silu`);
  }

  // Defaults from transformers' LlamaConfig.__init__.
  const hiddenSize = c.hidden_size ?? 4096;
  const numAttentionHeads = c.num_attention_heads ?? 32;
  const numKeyValueHeads = c.num_key_value_heads ?? numAttentionHeads;
  const headDim = c.head_dim ?? Math.floor(hiddenSize / numAttentionHeads);
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    throw new Error(
      `${file}: num_attention_heads (${numAttentionHeads}) must be a multiple of num_key_value_heads (${numKeyValueHeads})`,
    );
  }
  if (headDim % 2 !== 0) throw new Error(`${file}: head_dim (${headDim}) must be even for rotary embeddings`);

  // transformers v5 moved theta and scaling into `rope_parameters`; older files use the two keys.
  const ropeParams = c.rope_scaling ?? c.rope_parameters ?? null;
  return {
    architecture: 'LlamaForCausalLM',
    vocabSize: c.vocab_size ?? 32000,
    hiddenSize,
    intermediateSize: c.intermediate_size ?? 11008,
    numHiddenLayers: c.num_hidden_layers ?? 32,
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    rmsNormEps: c.rms_norm_eps ?? 1e-6,
    ropeTheta: c.rope_theta ?? c.rope_parameters?.rope_theta ?? 10000,
    ropeScaling: parseRopeScaling(ropeParams, file),
    maxPositionEmbeddings: c.max_position_embeddings ?? 2048,
    tieWordEmbeddings: c.tie_word_embeddings ?? false,
    attentionBias: c.attention_bias ?? false,
    mlpBias: c.mlp_bias ?? false,
    torchDtype: parseDtype(c.torch_dtype ?? c.dtype, file),
  };
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
