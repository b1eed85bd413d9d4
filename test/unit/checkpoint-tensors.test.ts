// Checkpoint tensor names mapped to the decoder's: multimodal prefixes dropped, Phi-3's fused
// projections split into row ranges of the same bytes.
import { describe, expect, it } from 'vitest';

import { modelTensors } from '../../lib/models/checkpoint-tensors.js';
import type { ModelConfig } from '../../lib/models/hf-config.js';
import type { TensorEntry } from '../../lib/models/safetensors.js';

const base = { numAttentionHeads: 4, numKeyValueHeads: 2, headDim: 16, intermediateSize: 96 } as ModelConfig;
const entry = (name: string, shape: number[], offset = 1000): TensorEntry => ({
  name, dtype: 'BF16', shape, file: '/m/model.safetensors', offset, nbytes: shape.reduce((a, b) => a * b, 2),
});

describe('modelTensors', () => {
  it('splits Phi-3 qkv_proj into q, k and v row ranges of the same file bytes', () => {
    const [q, k, v] = modelTensors([entry('model.layers.3.self_attn.qkv_proj.weight', [128, 64])], { ...base, architecture: 'Phi3ForCausalLM' });
    expect(q).toMatchObject({ name: 'model.layers.3.self_attn.q_proj.weight', shape: [64, 64], offset: 1000, nbytes: 64 * 64 * 2 });
    expect(k).toMatchObject({ name: 'model.layers.3.self_attn.k_proj.weight', shape: [32, 64], offset: 1000 + 64 * 64 * 2, nbytes: 32 * 64 * 2 });
    expect(v).toMatchObject({ name: 'model.layers.3.self_attn.v_proj.weight', shape: [32, 64], offset: 1000 + 96 * 64 * 2, source: 'model.layers.3.self_attn.qkv_proj.weight' });
  });

  it('splits gate_up_proj into gate then up', () => {
    const [gate, up] = modelTensors([entry('model.layers.0.mlp.gate_up_proj.weight', [192, 64], 0)], { ...base, architecture: 'Phi3ForCausalLM' });
    expect(gate).toMatchObject({ name: 'model.layers.0.mlp.gate_proj.weight', shape: [96, 64], offset: 0 });
    expect(up).toMatchObject({ name: 'model.layers.0.mlp.up_proj.weight', shape: [96, 64], offset: 96 * 64 * 2 });
  });

  it('refuses a fused tensor whose rows the config does not account for, naming it', () => {
    expect(() => modelTensors([entry('model.layers.0.mlp.gate_up_proj.weight', [200, 64])], { ...base, architecture: 'Phi3ForCausalLM' })).toThrow(
      'weight model.layers.0.mlp.gate_up_proj.weight has shape [200, 64], but config.json implies [192, 64]',
    );
  });

  it("drops the language model's prefix of both multimodal layouts and keeps the rest", () => {
    const names = modelTensors(
      [
        entry('language_model.model.layers.0.input_layernorm.weight', [64]),
        entry('language_model.lm_head.weight', [10, 64]),
        entry('model.language_model.norm.weight', [64]),
        entry('vision_tower.vision_model.post_layernorm.weight', [8]),
      ],
      { ...base, architecture: 'Gemma3ForConditionalGeneration' },
    ).map((t) => [t.name, t.source]);
    expect(names).toEqual([
      ['model.layers.0.input_layernorm.weight', 'language_model.model.layers.0.input_layernorm.weight'],
      ['lm_head.weight', 'language_model.lm_head.weight'],
      ['model.norm.weight', 'model.language_model.norm.weight'],
      ['vision_tower.vision_model.post_layernorm.weight', undefined],
    ]);
  });

  it('leaves a Llama checkpoint as it is', () => {
    const e = entry('model.layers.0.self_attn.q_proj.weight', [64, 64]);
    expect(modelTensors([e], { ...base, architecture: 'LlamaForCausalLM' })).toEqual([e]);
  });
});
