// writeRandomModel: a model directory of each family, with that family's config.json keys,
// tensor names and tokenizer, which nodellm reads back as the family it names.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

import { modelTensors } from '../../lib/models/checkpoint-tensors.js';
import { readGenerationConfig, readModelConfig } from '../../lib/models/hf-config.js';
import { type ModelFamily, writeRandomLlamaModel, writeRandomModel } from '../../lib/models/random-model.js';
import { readSafetensorsIndex, readTensorF64 } from '../../lib/models/safetensors.js';
import { Tokenizer } from '../../lib/tokenizer/tokenizer.js';
import { useTempDirs } from '../helpers/temp-dirs.js';

const tempDir = useTempDirs();

function sha256s(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(dir).sort()) out[f] = crypto.createHash('sha256').update(fs.readFileSync(path.join(dir, f))).digest('hex');
  return out;
}

function readJson(dir: string, file: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as Record<string, unknown>;
}

/** Layer 0's tensors (names without the "model.layers.0." prefix) and their shapes. */
async function layer0(dir: string): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const e of await readSafetensorsIndex(dir)) {
    if (e.name.startsWith('model.layers.0.')) out[e.name.slice('model.layers.0.'.length)] = e.shape;
  }
  return out;
}

const ATTN = { 'self_attn.q_proj.weight': [64, 64], 'self_attn.k_proj.weight': [32, 64], 'self_attn.v_proj.weight': [32, 64], 'self_attn.o_proj.weight': [64, 64] };
const MLP = { 'mlp.gate_proj.weight': [192, 64], 'mlp.up_proj.weight': [192, 64], 'mlp.down_proj.weight': [64, 192] };
const LLAMA_NORMS = { 'input_layernorm.weight': [64], 'post_attention_layernorm.weight': [64] };
const GEMMA_NORMS = { ...LLAMA_NORMS, 'pre_feedforward_layernorm.weight': [64], 'post_feedforward_layernorm.weight': [64] };
const QK_NORM = { 'self_attn.q_norm.weight': [16], 'self_attn.k_norm.weight': [16] };
const QKV_BIAS = { 'self_attn.q_proj.bias': [64], 'self_attn.k_proj.bias': [32], 'self_attn.v_proj.bias': [32] };

const FAMILIES: {
  family: Exclude<ModelFamily, 'llama'>;
  architecture: string;
  modelType: string;
  layer: Record<string, number[]>;
  lmHead: boolean;
  features: Record<string, unknown>;
  eos: number[];
  configKeys: Record<string, unknown>;
}[] = [
  {
    family: 'qwen2', architecture: 'Qwen2ForCausalLM', modelType: 'qwen2', layer: { ...LLAMA_NORMS, ...ATTN, ...QKV_BIAS, ...MLP }, lmHead: false,
    features: { qkvBias: true, oBias: false, layerWindows: [] }, eos: [151645, 151643], configKeys: { use_sliding_window: false, vocab_size: 151936 },
  },
  {
    family: 'qwen3', architecture: 'Qwen3ForCausalLM', modelType: 'qwen3', layer: { ...LLAMA_NORMS, ...ATTN, ...QK_NORM, ...MLP }, lmHead: false,
    features: { qkNorm: true, qkvBias: false, headDim: 16 }, eos: [151645, 151643], configKeys: { head_dim: 16, attention_bias: false },
  },
  {
    family: 'mistral', architecture: 'MistralForCausalLM', modelType: 'mistral', layer: { ...LLAMA_NORMS, ...ATTN, ...MLP }, lmHead: true,
    features: { layerWindows: [4096, 4096], tieWordEmbeddings: false }, eos: [2], configKeys: { sliding_window: 4096, vocab_size: 32000 },
  },
  {
    family: 'gemma2', architecture: 'Gemma2ForCausalLM', modelType: 'gemma2', layer: { ...GEMMA_NORMS, ...ATTN, ...MLP }, lmHead: false,
    features: { sandwichNorms: true, normWeightOffset: 1, embeddingScale: 8, attentionScale: 0.25, attnLogitSoftcap: 50, finalLogitSoftcap: 30, activation: 'gelu_tanh', layerWindows: [4096, 0] },
    eos: [1, 106], configKeys: { query_pre_attn_scalar: 16, hidden_activation: 'gelu_pytorch_tanh', sliding_window: 4096 },
  },
  {
    family: 'gemma3', architecture: 'Gemma3ForCausalLM', modelType: 'gemma3_text', layer: { ...GEMMA_NORMS, ...ATTN, ...QK_NORM, ...MLP }, lmHead: false,
    features: { sandwichNorms: true, qkNorm: true, normWeightOffset: 1, embeddingScale: 8, attentionScale: 0.25, layerWindows: [512, 0], localRope: { theta: 10000, scaling: null } },
    eos: [1, 106], configKeys: { query_pre_attn_scalar: 16, sliding_window: 512, rope_local_base_freq: 10000, hidden_activation: 'gelu_pytorch_tanh' },
  },
  {
    family: 'phi3', architecture: 'Phi3ForCausalLM', modelType: 'phi3',
    layer: { ...LLAMA_NORMS, 'self_attn.qkv_proj.weight': [128, 64], 'self_attn.o_proj.weight': [64, 64], 'mlp.gate_up_proj.weight': [384, 64], 'mlp.down_proj.weight': [64, 192] },
    lmHead: true, features: { rotaryDim: 12, layerWindows: [2047, 2047] }, eos: [32000, 32001, 32007], configKeys: { partial_rotary_factor: 0.75, vocab_size: 32064 },
  },
];

describe('writeRandomModel', () => {
  for (const f of FAMILIES) {
    it(`${f.family}: ${f.architecture}'s config keys and tensor names, read back as that family`, async () => {
      const dir = tempDir();
      writeRandomModel(dir, { family: f.family, seed: 1 });
      expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
      const config = readJson(dir, 'config.json');
      expect(config).toMatchObject({ architectures: [f.architecture], model_type: f.modelType, hidden_size: 64, num_hidden_layers: 2, torch_dtype: 'bfloat16', ...f.configKeys });
      expect(Object.keys(config)).toEqual(Object.keys(config).sort());
      expect(await readModelConfig(dir)).toMatchObject({ architecture: f.architecture, hiddenSize: 64, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2, headDim: 16, ...f.features });
      expect((await readGenerationConfig(dir)).eosTokenIds).toEqual(f.eos);
      expect(await layer0(dir)).toEqual(f.layer);
      const names = (await readSafetensorsIndex(dir)).map((e) => e.name);
      expect(names.includes('lm_head.weight')).toBe(f.lmHead);
      expect(names.filter((n) => !n.startsWith('model.layers.'))).toEqual(['model.embed_tokens.weight', 'model.norm.weight', ...(f.lmHead ? ['lm_head.weight'] : [])]);
      const template = readJson(dir, 'tokenizer_config.json').chat_template;
      expect(typeof template).toBe('string');
    });
  }

  it('llama is writeRandomLlamaModel, byte for byte', () => {
    const a = tempDir();
    const b = tempDir();
    writeRandomModel(a, { family: 'llama', seed: 4, config: { vocab_size: 128256, num_hidden_layers: 1 } });
    writeRandomLlamaModel(b, { seed: 4, config: { vocab_size: 128256, num_hidden_layers: 1 } });
    expect(sha256s(a)).toEqual(sha256s(b));
  });

  it('is deterministic, and another seed gives other weights', () => {
    const [a, b, c] = [tempDir(), tempDir(), tempDir()];
    writeRandomModel(a, { family: 'qwen3', seed: 9, shards: 2 });
    writeRandomModel(b, { family: 'qwen3', seed: 9, shards: 2 });
    writeRandomModel(c, { family: 'qwen3', seed: 10, shards: 2 });
    expect(sha256s(b)).toEqual(sha256s(a));
    expect(Object.keys(sha256s(a))).toContain('model.safetensors.index.json');
    expect(sha256s(c)['model-00001-of-00002.safetensors']).not.toBe(sha256s(a)['model-00001-of-00002.safetensors']);
  });

  it('takes config overrides, and drops keys set to undefined', async () => {
    const dir = tempDir();
    writeRandomModel(dir, { family: 'gemma3', dtype: 'float32', config: { num_hidden_layers: 3, sliding_window: 8, sliding_window_pattern: undefined, layer_types: ['sliding_attention', 'full_attention', 'sliding_attention'] } });
    const config = readJson(dir, 'config.json');
    expect('sliding_window_pattern' in config).toBe(false);
    expect(await readModelConfig(dir)).toMatchObject({ numHiddenLayers: 3, layerWindows: [8, 0, 8], torchDtype: 'float32' });
    expect((await readSafetensorsIndex(dir)).every((e) => e.dtype === 'F32')).toBe(true);
  });

  it('refuses a vocab_size smaller than the tokenizer', () => {
    expect(() => writeRandomModel(tempDir(), { family: 'qwen3', config: { vocab_size: 151000 } })).toThrow(/does not cover the qwen3 tokenizer's 151669 ids/);
  });

  it('stores Gemma norm weights as (gain - 1): near 0 where the gain is 1', async () => {
    const dir = tempDir();
    writeRandomModel(dir, { family: 'gemma3', dtype: 'float32' });
    const entries = await readSafetensorsIndex(dir);
    const values = (name: string) => Array.from(readTensorF64(entries.find((e) => e.name === name)!));
    for (const name of ['model.layers.0.input_layernorm.weight', 'model.layers.0.pre_feedforward_layernorm.weight', 'model.norm.weight']) {
      expect(Math.max(...values(name).map(Math.abs))).toBeLessThan(0.1);
    }
    // The sublayer outputs' gains (see random-model.ts): 8/4 for attention, 8*2 for the MLP; q/k norms 2.
    expect(values('model.layers.0.post_attention_layernorm.weight').every((v) => Math.abs(v - 1) < 0.1)).toBe(true);
    expect(values('model.layers.0.post_feedforward_layernorm.weight').every((v) => Math.abs(v - 15) < 0.1)).toBe(true);
    expect(values('model.layers.0.self_attn.q_norm.weight').every((v) => Math.abs(v - 1) < 0.1)).toBe(true);
    const qwen = tempDir();
    writeRandomModel(qwen, { family: 'qwen3', dtype: 'float32' });
    const q = await readSafetensorsIndex(qwen);
    const qNorm = Array.from(readTensorF64(q.find((e) => e.name === 'model.layers.0.self_attn.q_norm.weight')!));
    const inputNorm = Array.from(readTensorF64(q.find((e) => e.name === 'model.layers.0.input_layernorm.weight')!));
    expect(qNorm.every((v) => Math.abs(v - 2) < 0.1)).toBe(true);
    expect(inputNorm.every((v) => Math.abs(v - 1) < 0.1)).toBe(true);
  });

  it('Phi-3: the fused tensors split into the projections the loader asks for', async () => {
    const dir = tempDir();
    writeRandomModel(dir, { family: 'phi3' });
    const split = modelTensors(await readSafetensorsIndex(dir), await readModelConfig(dir));
    const shapes = Object.fromEntries(split.filter((t) => t.name.startsWith('model.layers.1.')).map((t) => [t.name.slice('model.layers.1.'.length), t.shape]));
    expect(shapes).toEqual({ ...LLAMA_NORMS, ...ATTN, ...MLP });
  });

  it('writes tokenizers that the config\'s vocabulary covers, with the family\'s special tokens', async () => {
    for (const [family, size, specials] of [
      ['qwen3', 151669, { '<|im_start|>': 151644, '<|im_end|>': 151645 }],
      ['mistral', 32000, { '<s>': 1, '</s>': 2 }],
      ['phi3', 32011, { '<|endoftext|>': 32000, '<|assistant|>': 32001, '<|end|>': 32007, '<|user|>': 32010 }],
    ] as const) {
      const dir = tempDir();
      writeRandomModel(dir, { family });
      const tokenizer = await Tokenizer.load(dir);
      expect(tokenizer.vocabSize).toBe(size);
      expect(tokenizer.vocabSize).toBeLessThanOrEqual((await readModelConfig(dir)).vocabSize);
      for (const [token, id] of Object.entries(specials)) {
        expect(tokenizer.tokenToId(token)).toBe(id);
        expect(tokenizer.specialTokenIds.has(id)).toBe(true);
      }
    }
  });
});
