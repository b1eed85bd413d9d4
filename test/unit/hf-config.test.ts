import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ARCHITECTURES } from '../../lib/models/architectures.js';
import { readGenerationConfig, readModelConfig } from '../../lib/models/hf-config.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodellm-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function writeConfig(config: object, file = 'config.json'): void {
  fs.writeFileSync(path.join(dir, file), JSON.stringify(config));
}

const LLAMA = { architectures: ['LlamaForCausalLM'] };

// Meta-Llama-3.1-8B-Instruct's config.json, as published.
const LLAMA_31_8B = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 128000,
  eos_token_id: [128001, 128008, 128009],
  hidden_act: 'silu',
  hidden_size: 4096,
  initializer_range: 0.02,
  intermediate_size: 14336,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: 'llama',
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  rope_theta: 500000.0,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  transformers_version: '4.43.0.dev0',
  use_cache: true,
  vocab_size: 128256,
};

describe('readModelConfig', () => {
  it("fills in transformers' LlamaConfig defaults", async () => {
    writeConfig(LLAMA);
    expect(await readModelConfig(dir)).toEqual({
      architecture: 'LlamaForCausalLM',
      implementation: 'decoder',
      vocabSize: 32000,
      hiddenSize: 4096,
      intermediateSize: 11008,
      numHiddenLayers: 32,
      numAttentionHeads: 32,
      numKeyValueHeads: 32,
      headDim: 128,
      rotaryDim: 128,
      rmsNormEps: 1e-6,
      activation: 'silu',
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
      rope: { theta: 10000, scaling: null },
      localRope: null,
      maxPositionEmbeddings: 2048,
      tieWordEmbeddings: false,
      torchDtype: 'float32',
    });
  });

  it('derives kv heads and head_dim from the heads, and treats null as missing', async () => {
    writeConfig({ ...LLAMA, hidden_size: 96, num_attention_heads: 6, num_key_value_heads: null, head_dim: null });
    const c = await readModelConfig(dir);
    expect(c.numKeyValueHeads).toBe(6);
    expect(c.headDim).toBe(16);
  });

  it('reads Llama 3.1 8B', async () => {
    writeConfig(LLAMA_31_8B);
    const c = await readModelConfig(dir);
    expect(c).toMatchObject({
      vocabSize: 128256, hiddenSize: 4096, intermediateSize: 14336, numKeyValueHeads: 8, headDim: 128,
      rmsNormEps: 1e-5, maxPositionEmbeddings: 131072, torchDtype: 'bfloat16',
    });
    expect(c.rope).toEqual({
      theta: 500000,
      scaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
    });
  });

  it('keeps an explicit head_dim, biases and tied embeddings', async () => {
    writeConfig({ ...LLAMA, hidden_size: 64, num_attention_heads: 4, head_dim: 32, attention_bias: true, mlp_bias: true, tie_word_embeddings: true, dtype: 'float16' });
    expect(await readModelConfig(dir)).toMatchObject({ headDim: 32, qkvBias: true, oBias: true, mlpBias: true, tieWordEmbeddings: true, torchDtype: 'float16' });
  });

  it('accepts model_type "llama" when architectures is absent', async () => {
    writeConfig({ model_type: 'llama', hidden_size: 64, num_attention_heads: 4 });
    expect((await readModelConfig(dir)).architecture).toBe('LlamaForCausalLM');
  });

  describe('rope_scaling', () => {
    it.each([
      ['null', null, null],
      ['rope_type default', { rope_type: 'default' }, null],
      ['rope_type linear', { rope_type: 'linear', factor: 2 }, { type: 'linear', factor: 2 }],
      ['legacy type linear', { type: 'linear', factor: 4 }, { type: 'linear', factor: 4 }],
      [
        'legacy type llama3',
        { type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
        { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
      ],
    ])('%s', async (_label, ropeScaling, expected) => {
      writeConfig({ ...LLAMA, rope_scaling: ropeScaling });
      expect((await readModelConfig(dir)).rope.scaling).toEqual(expected);
    });

    it('reads transformers v5 rope_parameters, theta included', async () => {
      writeConfig({ ...LLAMA, rope_parameters: { rope_type: 'linear', factor: 2, rope_theta: 1e6 } });
      const c = await readModelConfig(dir);
      expect(c.rope).toEqual({ theta: 1e6, scaling: { type: 'linear', factor: 2 } });
    });

    it('refuses an unknown type, naming the supported types', async () => {
      writeConfig({ ...LLAMA, rope_scaling: { rope_type: 'ntk-by-parts', factor: 4 } });
      await expect(readModelConfig(dir)).rejects.toThrow(
        `Unsupported rope_scaling type "ntk-by-parts" in ${path.join(dir, 'config.json')}; nodellm supports: default, linear, dynamic, llama3, yarn, longrope`,
      );
    });

    it('names a missing llama3 field', async () => {
      writeConfig({ ...LLAMA, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4 } });
      await expect(readModelConfig(dir)).rejects.toThrow(/rope_scaling of type "llama3" needs "original_max_position_embeddings"/);
    });
  });

  describe('errors', () => {
    it('refuses other architectures, listing the supported ones', async () => {
      writeConfig({ architectures: ['GPT2LMHeadModel'], model_type: 'gpt2' });
      await expect(readModelConfig(dir)).rejects.toThrow(
        `Unsupported architecture "GPT2LMHeadModel" in ${path.join(dir, 'config.json')}; nodellm supports: ${ARCHITECTURES.map((a) => a.name).join(', ')}`,
      );
    });

    it('refuses a config with neither architectures nor a known model_type', async () => {
      writeConfig({ model_type: 'gpt2' });
      await expect(readModelConfig(dir)).rejects.toThrow(/Unsupported architecture "gpt2" in .*config\.json; nodellm supports: LlamaForCausalLM, Qwen2ForCausalLM/);
    });

    it('names the missing config.json', async () => {
      await expect(readModelConfig(dir)).rejects.toThrow(`${path.join(dir, 'config.json')} does not exist`);
    });

    it('names invalid JSON', async () => {
      fs.writeFileSync(path.join(dir, 'config.json'), '{ "architectures": ');
      await expect(readModelConfig(dir)).rejects.toThrow(/config\.json is not valid JSON/);
    });

    it('names a field of the wrong type', async () => {
      writeConfig({ ...LLAMA, hidden_size: 'big' });
      await expect(readModelConfig(dir)).rejects.toThrow(/invalid .*config\.json: "hidden_size"/);
    });

    it('refuses activations, dtypes and head counts it cannot run', async () => {
      writeConfig({ ...LLAMA, hidden_act: 'gelu' });
      await expect(readModelConfig(dir)).rejects.toThrow(/Unsupported hidden_act "gelu"/);
      writeConfig({ ...LLAMA, torch_dtype: 'float8_e4m3fn' });
      await expect(readModelConfig(dir)).rejects.toThrow(/Unsupported torch_dtype "float8_e4m3fn"/);
      writeConfig({ ...LLAMA, num_attention_heads: 6, num_key_value_heads: 4 });
      await expect(readModelConfig(dir)).rejects.toThrow(/num_attention_heads \(6\) must be a multiple of num_key_value_heads \(4\)/);
    });
  });
});

describe('readGenerationConfig', () => {
  it('reads token ids and the sampling defaults', async () => {
    writeConfig(LLAMA_31_8B);
    writeConfig(
      { bos_token_id: 128000, do_sample: true, eos_token_id: [128001, 128008, 128009], temperature: 0.6, top_p: 0.9, transformers_version: '4.43.0' },
      'generation_config.json',
    );
    expect(await readGenerationConfig(dir)).toEqual({
      bosTokenId: 128000,
      eosTokenIds: [128001, 128008, 128009],
      defaults: { temperature: 0.6, top_p: 0.9 },
    });
  });

  it('keeps every supported default and accepts a single eos id', async () => {
    writeConfig(LLAMA);
    writeConfig(
      { eos_token_id: 2, temperature: 0.7, top_p: 0.8, top_k: 20, min_p: 0.05, repetition_penalty: 1.1, max_new_tokens: 256, num_beams: 1 },
      'generation_config.json',
    );
    expect(await readGenerationConfig(dir)).toEqual({
      bosTokenId: null,
      eosTokenIds: [2],
      defaults: { temperature: 0.7, top_p: 0.8, top_k: 20, min_p: 0.05, repetition_penalty: 1.1, max_new_tokens: 256 },
    });
  });

  it('falls back to config.json when generation_config.json is missing', async () => {
    writeConfig({ ...LLAMA, bos_token_id: 1, eos_token_id: 2 });
    expect(await readGenerationConfig(dir)).toEqual({ bosTokenId: 1, eosTokenIds: [2], defaults: {} });
  });

  it("fills ids generation_config.json lacks from config.json", async () => {
    writeConfig({ ...LLAMA, bos_token_id: 1, eos_token_id: [2, 3] });
    writeConfig({ temperature: 0.5 }, 'generation_config.json');
    expect(await readGenerationConfig(dir)).toEqual({ bosTokenId: 1, eosTokenIds: [2, 3], defaults: { temperature: 0.5 } });
  });

  it('names the missing config.json', async () => {
    await expect(readGenerationConfig(dir)).rejects.toThrow(/config\.json does not exist/);
  });

  it('names an invalid field', async () => {
    writeConfig(LLAMA);
    writeConfig({ top_p: 1.5 }, 'generation_config.json');
    await expect(readGenerationConfig(dir)).rejects.toThrow(/invalid .*generation_config\.json: "top_p"/);
  });
});
