// Published config.json files of each supported family (the fields that matter, as on the Hub)
// read into the decoder's switches: the features transformers' modeling code applies for them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

import { ARCHITECTURES } from '../../lib/models/architectures.js';
import { type ModelConfig, readModelConfig, scaledContextLength } from '../../lib/models/hf-config.js';
import { useTempDirs } from '../helpers/temp-dirs.js';

const tempDir = useTempDirs();

async function read(config: object): Promise<ModelConfig> {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  return readModelConfig(dir);
}

const QWEN25_7B = {
  architectures: ['Qwen2ForCausalLM'],
  model_type: 'qwen2',
  hidden_act: 'silu',
  hidden_size: 3584,
  intermediate_size: 18944,
  max_position_embeddings: 32768,
  max_window_layers: 28,
  num_attention_heads: 28,
  num_hidden_layers: 28,
  num_key_value_heads: 4,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  sliding_window: 131072,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  use_sliding_window: false,
  vocab_size: 152064,
};

const QWEN3_8B = {
  architectures: ['Qwen3ForCausalLM'],
  model_type: 'qwen3',
  attention_bias: false,
  head_dim: 128,
  hidden_act: 'silu',
  hidden_size: 4096,
  intermediate_size: 12288,
  max_position_embeddings: 40960,
  max_window_layers: 36,
  num_attention_heads: 32,
  num_hidden_layers: 36,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-6,
  rope_scaling: null,
  rope_theta: 1000000,
  sliding_window: null,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  use_sliding_window: false,
  vocab_size: 151936,
};

const MISTRAL_7B_V01 = {
  architectures: ['MistralForCausalLM'],
  model_type: 'mistral',
  hidden_size: 4096,
  intermediate_size: 14336,
  max_position_embeddings: 32768,
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_theta: 10000.0,
  sliding_window: 4096,
  torch_dtype: 'bfloat16',
  vocab_size: 32000,
};

const MISTRAL_NEMO = {
  architectures: ['MistralForCausalLM'],
  model_type: 'mistral',
  head_dim: 128,
  hidden_size: 5120,
  intermediate_size: 14336,
  max_position_embeddings: 1024000,
  num_attention_heads: 32,
  num_hidden_layers: 40,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_theta: 1000000.0,
  sliding_window: null,
  torch_dtype: 'bfloat16',
  vocab_size: 131072,
};

const GEMMA2_9B = {
  architectures: ['Gemma2ForCausalLM'],
  model_type: 'gemma2',
  attn_logit_softcapping: 50.0,
  final_logit_softcapping: 30.0,
  head_dim: 256,
  hidden_act: 'gelu_pytorch_tanh',
  hidden_activation: 'gelu_pytorch_tanh',
  hidden_size: 3584,
  intermediate_size: 14336,
  max_position_embeddings: 8192,
  num_attention_heads: 16,
  num_hidden_layers: 42,
  num_key_value_heads: 8,
  query_pre_attn_scalar: 256,
  rms_norm_eps: 1e-6,
  rope_theta: 10000.0,
  sliding_window: 4096,
  torch_dtype: 'float32',
  vocab_size: 256000,
};

const GEMMA3_4B = {
  architectures: ['Gemma3ForConditionalGeneration'],
  model_type: 'gemma3',
  boi_token_index: 255999,
  eoi_token_index: 256000,
  eos_token_id: [1, 106],
  image_token_index: 262144,
  mm_tokens_per_image: 256,
  text_config: {
    hidden_size: 2560,
    intermediate_size: 10240,
    model_type: 'gemma3_text',
    num_hidden_layers: 34,
    rope_scaling: { factor: 8.0, rope_type: 'linear' },
    sliding_window: 1024,
  },
  torch_dtype: 'bfloat16',
  vision_config: { hidden_size: 1152, image_size: 896, intermediate_size: 4304, model_type: 'siglip_vision_model', num_attention_heads: 16, num_hidden_layers: 27, patch_size: 14 },
};

const PHI4_MINI = {
  architectures: ['Phi3ForCausalLM'],
  model_type: 'phi3',
  hidden_act: 'silu',
  hidden_size: 3072,
  intermediate_size: 8192,
  max_position_embeddings: 131072,
  num_attention_heads: 24,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  original_max_position_embeddings: 4096,
  partial_rotary_factor: 0.75,
  rms_norm_eps: 1e-5,
  rope_scaling: { long_factor: Array.from({ length: 48 }, (_, i) => 1 + i), short_factor: Array.from({ length: 48 }, () => 1), type: 'longrope' },
  rope_theta: 10000.0,
  sliding_window: 262144,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  vocab_size: 200064,
};

describe('published configs of each family', () => {
  it('Qwen2.5-7B-Instruct: q/k/v bias without o bias, no window (use_sliding_window false)', async () => {
    expect(await read(QWEN25_7B)).toMatchObject({
      architecture: 'Qwen2ForCausalLM', hiddenSize: 3584, numKeyValueHeads: 4, headDim: 128,
      qkvBias: true, oBias: false, qkNorm: false, layerWindows: [], rope: { theta: 1e6, scaling: null }, tieWordEmbeddings: false,
    });
  });

  it('Qwen2 with use_sliding_window: layers from max_window_layers on slide', async () => {
    const c = await read({ ...QWEN25_7B, num_hidden_layers: 4, use_sliding_window: true, max_window_layers: 2, sliding_window: 4096 });
    expect(c.layerWindows).toEqual([0, 0, 4096, 4096]);
  });

  it('Qwen3-8B: q/k norms, head_dim 128 independent of hidden/heads', async () => {
    expect(await read(QWEN3_8B)).toMatchObject({ qkNorm: true, qkvBias: false, oBias: false, headDim: 128, numAttentionHeads: 32, layerWindows: [] });
  });

  it('Mistral-7B v0.1: a 4096 window on every layer', async () => {
    const c = await read(MISTRAL_7B_V01);
    expect(c.layerWindows).toHaveLength(32);
    expect(new Set(c.layerWindows)).toEqual(new Set([4096]));
  });

  it('Mistral-Nemo: head_dim 128 with hidden 5120 and 32 heads, window null means none', async () => {
    expect(await read(MISTRAL_NEMO)).toMatchObject({ headDim: 128, hiddenSize: 5120, layerWindows: [], rope: { theta: 1e6 } });
  });

  it('Gemma-2-9b-it: GeGLU, (1+w) sandwich norms, scaled embeddings, soft-capping, even layers slide', async () => {
    const c = await read(GEMMA2_9B);
    expect(c).toMatchObject({
      activation: 'gelu_tanh', sandwichNorms: true, normWeightOffset: 1, embeddingScale: Math.sqrt(3584),
      attentionScale: 1 / 16, attnLogitSoftcap: 50, finalLogitSoftcap: 30, tieWordEmbeddings: true, headDim: 256,
    });
    expect(c.layerWindows.slice(0, 4)).toEqual([4096, 0, 4096, 0]);
  });

  it('gemma-3-4b-it (multimodal): the text_config, five local layers to one global, two RoPE bases', async () => {
    const c = await read(GEMMA3_4B);
    expect(c).toMatchObject({
      architecture: 'Gemma3ForConditionalGeneration', hiddenSize: 2560, numHiddenLayers: 34, headDim: 256, numAttentionHeads: 8,
      numKeyValueHeads: 4, vocabSize: 262208, qkNorm: true, sandwichNorms: true, attnLogitSoftcap: 0, finalLogitSoftcap: 0,
      rope: { theta: 1e6, scaling: { type: 'linear', factor: 8 } }, localRope: { theta: 10000, scaling: null },
      tieWordEmbeddings: true, torchDtype: 'bfloat16',
    });
    expect(c.layerWindows.slice(0, 12)).toEqual([1024, 1024, 1024, 1024, 1024, 0, 1024, 1024, 1024, 1024, 1024, 0]);
  });

  it('Gemma 3 in transformers 5 form: layer_types and rope_parameters per layer type', async () => {
    const c = await read({
      architectures: ['Gemma3ForCausalLM'], model_type: 'gemma3_text', num_hidden_layers: 3, sliding_window: 512, dtype: 'bfloat16',
      layer_types: ['sliding_attention', 'full_attention', 'sliding_attention'],
      rope_parameters: {
        full_attention: { rope_type: 'linear', factor: 8.0, rope_theta: 1000000.0 },
        sliding_attention: { rope_type: 'default', rope_theta: 10000.0 },
      },
    });
    expect(c).toMatchObject({
      layerWindows: [512, 0, 512], torchDtype: 'bfloat16',
      rope: { theta: 1e6, scaling: { type: 'linear', factor: 8 } }, localRope: { theta: 10000, scaling: null },
    });
  });

  it('Phi-4-mini: partial rotary, longrope with the top-level original_max_position_embeddings, tied', async () => {
    const c = await read(PHI4_MINI);
    expect(c).toMatchObject({ headDim: 128, rotaryDim: 96, tieWordEmbeddings: true, layerWindows: new Array(32).fill(262144) });
    expect(c.rope.scaling).toMatchObject({ type: 'longrope', originalMaxPositionEmbeddings: 4096 });
  });

  it('refuses a layer_types entry it does not know, naming it', async () => {
    await expect(read({ ...MISTRAL_7B_V01, num_hidden_layers: 2, layer_types: ['sliding_attention', 'chunked_attention'] })).rejects.toThrow(
      /layer_types\[1\] is "chunked_attention"/,
    );
  });

  it('lists each architecture once', () => {
    const names = ARCHITECTURES.map((a) => a.name);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe("the benchmark's shapes (bench/configs)", () => {
  it.each([
    ['qwen2.5-7b', { architecture: 'Qwen2ForCausalLM', qkvBias: true, numHiddenLayers: 28 }],
    ['qwen3-8b', { architecture: 'Qwen3ForCausalLM', qkNorm: true, numHiddenLayers: 36 }],
    ['mistral-7b', { architecture: 'MistralForCausalLM', layerWindows: [] }],
    ['gemma-2-9b', { architecture: 'Gemma2ForCausalLM', sandwichNorms: true, headDim: 256, numHiddenLayers: 42 }],
  ])('%s reads as its family', async (name, want) => {
    expect(await readModelConfig(path.join(import.meta.dirname, '..', '..', 'bench', 'configs', name))).toMatchObject(want);
  });

  it('mistral-7b-window4096 slides every layer by 4096', async () => {
    const c = await readModelConfig(path.join(import.meta.dirname, '..', '..', 'bench', 'configs', 'mistral-7b-window4096'));
    expect(new Set(c.layerWindows)).toEqual(new Set([4096]));
  });
});

describe('scaledContextLength', () => {
  const at = (scaling: NonNullable<ModelConfig['rope']['scaling']> | null) => scaledContextLength({ maxPositionEmbeddings: 32768, rope: { theta: 1e6, scaling } });
  it('multiplies max_position_embeddings by a linear or dynamic factor, and YaRN its original context', () => {
    expect(at(null)).toBe(32768);
    expect(at({ type: 'linear', factor: 2 })).toBe(65536);
    expect(at({ type: 'dynamic', factor: 4 })).toBe(131072);
    // Qwen2.5's long-context recipe: YaRN factor 4 over 32,768 tokens.
    expect(at({ type: 'yarn', factor: 4, originalMaxPositionEmbeddings: 32768, betaFast: 32, betaSlow: 1, truncate: true })).toBe(131072);
  });
  it('takes llama3 and LongRoPE configs at their word: max_position_embeddings is already scaled', () => {
    expect(at({ type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 })).toBe(32768);
    expect(at({ type: 'longrope', shortFactor: [1], longFactor: [2], originalMaxPositionEmbeddings: 4096 })).toBe(32768);
  });
});

describe('values a family cannot run with', () => {
  it.each([
    ['query_pre_attn_scalar', 0, GEMMA2_9B],
    ['attn_logit_softcapping', -1, GEMMA2_9B],
    ['final_logit_softcapping', 0, GEMMA2_9B],
    ['partial_rotary_factor', 0, PHI4_MINI],
  ])('%s = %s is refused, naming the key', async (key, value, base) => {
    await expect(read({ ...base, [key]: value })).rejects.toThrow(`"${key}": expected a positive number, got ${value}`);
  });

  it('a fractional sliding_window is refused', async () => {
    await expect(read({ ...MISTRAL_7B_V01, sliding_window: 4096.5 })).rejects.toThrow('"sliding_window": expected an integer, got 4096.5');
  });
});
