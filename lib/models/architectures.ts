// The one list of the architectures nodellm runs. Each entry maps a Hugging Face architecture
// name to transformers' config defaults for it, the features that set it apart (as fields of
// ModelConfig, which the native decoder reads), and how its checkpoint names its tensors. Adding
// a family that needs no new native operation is an entry here and its tests.

import type { RawConfig } from './config-fields.js';
import { bool, optNum, optPositive } from './config-fields.js';

/** transformers' defaults for the fields every family has (its config class's __init__). */
export interface FamilyDefaults {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  /** undefined: as many as attention heads */
  numKeyValueHeads?: number;
  /** undefined: hidden_size / num_attention_heads */
  headDim?: number;
  rmsNormEps: number;
  ropeTheta: number;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** hidden_act / hidden_activation */
  activation: string;
}

/** What sets a family apart; every field is one of the native decoder's switches. */
export interface FamilyFeatures {
  qkvBias: boolean;
  oBias: boolean;
  mlpBias: boolean;
  qkNorm: boolean;
  sandwichNorms: boolean;
  normWeightOffset: 0 | 1;
  /** Multiplies the embeddings (Gemma: sqrt(hidden_size)). */
  embeddingScale: number;
  /** Attention scale; 0 means head_dim^-0.5. */
  attentionScale: number;
  attnLogitSoftcap: number;
  finalLogitSoftcap: number;
  /** The sliding window of each layer, 0 for full attention; [] when no layer has one. */
  layerWindows: number[];
  /** Gemma 3: sliding-window layers take their own RoPE base (rope_local_base_freq). */
  localRopeTheta: number | null;
  partialRotaryFactor: number;
}

export type TensorRename = (name: string) => string;

/** The resolved shape a family's features may depend on. */
export interface ModelShape {
  numHiddenLayers: number;
  hiddenSize: number;
  headDim: number;
}

export interface Architecture {
  /** config.json's `architectures[0]` */
  name: string;
  /** config.json's `model_type` values that mean this architecture when `architectures` is missing */
  modelTypes: string[];
  /** A model people deploy, for README's table and messages. */
  example: string;
  /** The native model implementation (native/model/registry.cc). */
  implementation: 'decoder';
  /** Multimodal checkpoints: the language model's config is config.json's `text_config`. */
  textConfig?: boolean;
  defaults: FamilyDefaults;
  features(raw: RawConfig, file: string, shape: ModelShape): FamilyFeatures;
  /** Checkpoint tensors stored fused (Phi-3's qkv_proj and gate_up_proj), split by rows at load. */
  fusedTensors?: boolean;
}

const PLAIN: FamilyFeatures = {
  qkvBias: false,
  oBias: false,
  mlpBias: false,
  qkNorm: false,
  sandwichNorms: false,
  normWeightOffset: 0,
  embeddingScale: 1,
  attentionScale: 0,
  attnLogitSoftcap: 0,
  finalLogitSoftcap: 0,
  layerWindows: [],
  localRopeTheta: null,
  partialRotaryFactor: 1,
};

/**
 * Each layer's window from transformers 5's `layer_types` where the config has it, else from
 * `isSliding(i)` (the family's older rule); 0 for full attention. No window, no sliding layers.
 */
function layerWindows(raw: RawConfig, file: string, layers: number, window: number | null | undefined, isSliding: (i: number) => boolean): number[] {
  if (window === null || window === undefined || window <= 0) return [];
  if (!Number.isInteger(window)) throw new Error(`invalid ${file}: "sliding_window": expected an integer, got ${window}`);
  const types = raw.layer_types;
  if (Array.isArray(types)) {
    if (types.length !== layers) throw new Error(`${file}: layer_types has ${types.length} entries for ${layers} layers`);
    return types.map((t, i) => {
      if (t === 'sliding_attention') return window;
      if (t === 'full_attention') return 0;
      throw new Error(`${file}: layer_types[${i}] is "${String(t)}"; nodellm supports sliding_attention and full_attention`);
    });
  }
  return Array.from({ length: layers }, (_, i) => (isSliding(i) ? window : 0));
}

const llamaDefaults: FamilyDefaults = {
  vocabSize: 32000,
  hiddenSize: 4096,
  intermediateSize: 11008,
  numHiddenLayers: 32,
  numAttentionHeads: 32,
  rmsNormEps: 1e-6,
  ropeTheta: 10000,
  maxPositionEmbeddings: 2048,
  tieWordEmbeddings: false,
  activation: 'silu',
};

const qwenDefaults: FamilyDefaults = {
  ...llamaDefaults,
  vocabSize: 151936,
  intermediateSize: 22016,
  maxPositionEmbeddings: 32768,
};

const gemmaDefaults: FamilyDefaults = {
  vocabSize: 256000,
  hiddenSize: 2304,
  intermediateSize: 9216,
  numHiddenLayers: 26,
  numAttentionHeads: 8,
  numKeyValueHeads: 4,
  headDim: 256,
  rmsNormEps: 1e-6,
  ropeTheta: 10000,
  maxPositionEmbeddings: 8192,
  tieWordEmbeddings: true,
  activation: 'gelu_pytorch_tanh',
};

/** Gemma 2 and 3: (1 + w) norms around both sublayers, scaled embeddings, query_pre_attn_scalar. */
function gemmaFeatures(raw: RawConfig, file: string, { hiddenSize }: ModelShape): Pick<FamilyFeatures, 'sandwichNorms' | 'normWeightOffset' | 'embeddingScale' | 'attentionScale'> {
  const scalar = optPositive(raw, 'query_pre_attn_scalar', file) ?? 256;
  return { sandwichNorms: true, normWeightOffset: 1, embeddingScale: Math.sqrt(hiddenSize), attentionScale: scalar ** -0.5 };
}

const gemma3: Omit<Architecture, 'name' | 'modelTypes' | 'example' | 'textConfig'> = {
  implementation: 'decoder',
  defaults: { ...gemmaDefaults, vocabSize: 262208, ropeTheta: 1_000_000, maxPositionEmbeddings: 131072 },
  features: (raw, file, shape) => {
    const pattern = optPositive(raw, 'sliding_window_pattern', file) ?? 6;
    return {
      ...PLAIN,
      ...gemmaFeatures(raw, file, shape),
      qkvBias: bool(raw, 'attention_bias', file, false),
      oBias: bool(raw, 'attention_bias', file, false),
      qkNorm: true,
      attnLogitSoftcap: optPositive(raw, 'attn_logit_softcapping', file) ?? 0,
      finalLogitSoftcap: optPositive(raw, 'final_logit_softcapping', file) ?? 0,
      layerWindows: layerWindows(raw, file, shape.numHiddenLayers, optNum(raw, 'sliding_window', file) ?? 4096, (i) => (i + 1) % pattern !== 0),
      localRopeTheta: optPositive(raw, 'rope_local_base_freq', file) ?? 10000,
    };
  },
};

const mistral: Omit<Architecture, 'name' | 'modelTypes' | 'example' | 'textConfig'> = {
  implementation: 'decoder',
  defaults: { ...llamaDefaults, intermediateSize: 14336, numKeyValueHeads: 8, maxPositionEmbeddings: 4096 * 32 },
  features: (raw, file, shape) => ({
    ...PLAIN,
    // MistralConfig's default window is 4096; Mistral 7B v0.2+ and Nemo write null (no window).
    layerWindows: layerWindows(raw, file, shape.numHiddenLayers, 'sliding_window' in raw ? optNum(raw, 'sliding_window', file) : 4096, () => true),
  }),
};

export const ARCHITECTURES: readonly Architecture[] = [
  {
    name: 'LlamaForCausalLM',
    modelTypes: ['llama'],
    example: 'meta-llama/Llama-3.1-8B-Instruct',
    implementation: 'decoder',
    defaults: llamaDefaults,
    features: (raw, file) => {
      const bias = bool(raw, 'attention_bias', file, false);
      return { ...PLAIN, qkvBias: bias, oBias: bias, mlpBias: bool(raw, 'mlp_bias', file, false) };
    },
  },
  {
    name: 'Qwen2ForCausalLM',
    modelTypes: ['qwen2'],
    example: 'Qwen/Qwen2.5-7B-Instruct',
    implementation: 'decoder',
    defaults: qwenDefaults,
    features: (raw, file, shape) => {
      // transformers: with use_sliding_window, layers from max_window_layers on slide.
      const sliding = bool(raw, 'use_sliding_window', file, false);
      const from = optNum(raw, 'max_window_layers', file) ?? 28;
      return {
        ...PLAIN,
        qkvBias: true,
        layerWindows: sliding ? layerWindows(raw, file, shape.numHiddenLayers, optNum(raw, 'sliding_window', file) ?? 4096, (i) => i >= from) : [],
      };
    },
  },
  {
    name: 'Qwen3ForCausalLM',
    modelTypes: ['qwen3'],
    example: 'Qwen/Qwen3-8B',
    implementation: 'decoder',
    defaults: { ...qwenDefaults, headDim: 128 },
    features: (raw, file, shape) => {
      const bias = bool(raw, 'attention_bias', file, false);
      const sliding = bool(raw, 'use_sliding_window', file, false);
      const from = optNum(raw, 'max_window_layers', file) ?? 28;
      return {
        ...PLAIN,
        qkvBias: bias,
        oBias: bias,
        qkNorm: true,
        layerWindows: sliding ? layerWindows(raw, file, shape.numHiddenLayers, optNum(raw, 'sliding_window', file) ?? 4096, (i) => i >= from) : [],
      };
    },
  },
  { name: 'MistralForCausalLM', modelTypes: ['mistral'], example: 'mistralai/Mistral-7B-Instruct-v0.3', ...mistral },
  {
    name: 'Mistral3ForConditionalGeneration',
    modelTypes: ['mistral3'],
    example: 'mistralai/Mistral-Small-3.1-24B-Instruct-2503',
    textConfig: true,
    ...mistral,
  },
  {
    name: 'Gemma2ForCausalLM',
    modelTypes: ['gemma2'],
    example: 'google/gemma-2-9b-it',
    implementation: 'decoder',
    defaults: gemmaDefaults,
    features: (raw, file, shape) => ({
      ...PLAIN,
      ...gemmaFeatures(raw, file, shape),
      qkvBias: bool(raw, 'attention_bias', file, false),
      oBias: bool(raw, 'attention_bias', file, false),
      attnLogitSoftcap: optPositive(raw, 'attn_logit_softcapping', file) ?? 50,
      finalLogitSoftcap: optPositive(raw, 'final_logit_softcapping', file) ?? 30,
      // Even layers slide (transformers' Gemma2: layer_idx % 2 == 0).
      layerWindows: layerWindows(raw, file, shape.numHiddenLayers, optNum(raw, 'sliding_window', file) ?? 4096, (i) => i % 2 === 0),
    }),
  },
  { name: 'Gemma3ForCausalLM', modelTypes: ['gemma3_text'], example: 'google/gemma-3-1b-it', ...gemma3 },
  {
    name: 'Gemma3ForConditionalGeneration',
    modelTypes: ['gemma3'],
    example: 'google/gemma-3-4b-it',
    textConfig: true,
    ...gemma3,
  },
  {
    name: 'Phi3ForCausalLM',
    modelTypes: ['phi3'],
    example: 'microsoft/Phi-4-mini-instruct',
    implementation: 'decoder',
    defaults: { ...llamaDefaults, vocabSize: 32064, hiddenSize: 3072, intermediateSize: 8192, rmsNormEps: 1e-5, maxPositionEmbeddings: 4096 },
    fusedTensors: true,
    features: (raw, file, shape) => ({
      ...PLAIN,
      qkvBias: false,
      partialRotaryFactor: optPositive(raw, 'partial_rotary_factor', file) ?? 1,
      layerWindows: layerWindows(raw, file, shape.numHiddenLayers, optNum(raw, 'sliding_window', file), () => true),
    }),
  },
];

/** The architecture a config.json names, or an error that lists the supported ones. */
export function findArchitecture(raw: RawConfig, file: string): Architecture {
  const supported = ARCHITECTURES.map((a) => a.name).join(', ');
  const archs = raw.architectures;
  if (Array.isArray(archs) && archs.length > 0) {
    const found = ARCHITECTURES.find((a) => archs.includes(a.name));
    if (found) return found;
    throw new Error(`Unsupported architecture "${archs.join(', ')}" in ${file}; nodellm supports: ${supported}`);
  }
  // Some older exports omit `architectures`; transformers then goes by model_type.
  const type = raw.model_type;
  const found = ARCHITECTURES.find((a) => typeof type === 'string' && a.modelTypes.includes(type));
  if (found) return found;
  const what = typeof type === 'string' ? type : '(none: no architectures or model_type)';
  throw new Error(`Unsupported architecture "${what}" in ${file}; nodellm supports: ${supported}`);
}

/**
 * The name the native decoder asks for, for a checkpoint tensor's name. Multimodal checkpoints
 * keep the language model under `language_model.` (the Hub's files) or `model.language_model.`
 * (transformers 5's); other tensors (vision tower, projector) keep names the decoder never asks for.
 */
export const canonicalTensorName: TensorRename = (name) => {
  if (name.startsWith('language_model.model.')) return `model.${name.slice('language_model.model.'.length)}`;
  if (name.startsWith('model.language_model.')) return `model.${name.slice('model.language_model.'.length)}`;
  if (name.startsWith('language_model.lm_head.')) return `lm_head.${name.slice('language_model.lm_head.'.length)}`;
  return name;
};

export function findArchitectureByName(name: string): Architecture {
  const found = ARCHITECTURES.find((a) => a.name === name);
  if (!found) throw new Error(`Unsupported architecture "${name}"; nodellm supports: ${ARCHITECTURES.map((a) => a.name).join(', ')}`);
  return found;
}
