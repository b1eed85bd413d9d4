// Checks of the float64 reference itself, independent of the engine: if these hold, the reference
// is fit to judge the engine's logits.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeRandomLlamaModel } from '../../lib/models/random-model.js';
import { readSafetensorsIndex, readTensorF64, writeSafetensors } from '../../lib/models/safetensors.js';
import { LlamaReference, ropeInvFreq } from '../reference/llama-f64.js';
import { useTempDirs } from '../helpers/temp-dirs.js';

const tempDir = useTempDirs();

describe('causal consistency', () => {
  let ref: LlamaReference;
  beforeAll(async () => {
    const dir = tempDir();
    // Small vocabulary so the test is quick; every feature the reference has is switched on.
    writeRandomLlamaModel(dir, {
      seed: 7,
      dtype: 'float32',
      config: { vocab_size: 500, num_hidden_layers: 3, attention_bias: true, mlp_bias: true, tie_word_embeddings: false },
    });
    ref = await LlamaReference.load(dir);
  });

  it('gives a prefix the same logits as the first positions of a longer sequence', () => {
    const tokens = [1, 42, 7, 499, 250, 3, 3, 100, 17, 64];
    const full = ref.forward(tokens);
    for (const n of [1, 4, 9]) {
      const prefix = ref.forward(tokens.slice(0, n));
      for (let t = 0; t < n; t++) {
        const a = prefix[t] as Float64Array;
        const b = full[t] as Float64Array;
        let maxDiff = 0;
        for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs((a[i] as number) - (b[i] as number)));
        expect(maxDiff, `prefix ${n}, position ${t}`).toBeLessThan(1e-12);
      }
    }
  });

  it('depends on earlier tokens (attention is not a no-op)', () => {
    const a = ref.forward([1, 2, 3, 4]).at(-1) as Float64Array;
    const b = ref.forward([9, 8, 7, 4]).at(-1) as Float64Array;
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs((a[i] as number) - (b[i] as number)));
    expect(maxDiff).toBeGreaterThan(0.1);
  });

  it('refuses tokens outside the vocabulary', () => {
    expect(() => ref.forward([500])).toThrow(/token 500 outside the vocabulary/);
  });
});

describe('grouped-query attention', () => {
  it('equals multi-head attention with each key/value head repeated as repeat_kv does', async () => {
    const gqaDir = tempDir();
    const config = { vocab_size: 300, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, attention_bias: true };
    writeRandomLlamaModel(gqaDir, { seed: 3, dtype: 'float32', config });

    // repeat_kv turns kv heads [A, B] into [A, A, B, B] for 4 query heads.
    const mhaDir = tempDir();
    const tensors = (await readSafetensorsIndex(gqaDir)).map((e) => {
      let data = readTensorF64(e);
      let shape = e.shape;
      if (/self_attn\.[kv]_proj\./.test(e.name)) {
        const rowLen = e.shape.length === 2 ? (e.shape[1] as number) : 1;
        const headLen = 16 * rowLen;
        const heads = [0, 0, 1, 1].map((h) => data.subarray(h * headLen, (h + 1) * headLen));
        data = Float64Array.from(heads.flatMap((h) => Array.from(h)));
        shape = [64, ...e.shape.slice(1)];
      }
      return { name: e.name, dtype: 'F32' as const, shape, data };
    });
    writeSafetensors(path.join(mhaDir, 'model.safetensors'), tensors);
    const gqaConfig = JSON.parse(fs.readFileSync(path.join(gqaDir, 'config.json'), 'utf8')) as object;
    fs.writeFileSync(path.join(mhaDir, 'config.json'), JSON.stringify({ ...gqaConfig, num_key_value_heads: 4 }));

    const tokens = [5, 17, 250, 3, 99];
    const gqa = (await LlamaReference.load(gqaDir)).forward(tokens);
    const mha = (await LlamaReference.load(mhaDir)).forward(tokens);
    for (let t = 0; t < tokens.length; t++) {
      for (let v = 0; v < 300; v++) expect((gqa[t] as Float64Array)[v]).toBeCloseTo((mha[t] as Float64Array)[v] as number, 10);
    }
  });
});

describe('hand-computed 1-layer model', () => {
  // hidden 4, two query heads of dim 2 sharing one key/value head (GQA), vocab 3, eps 0, untied.
  // Weights are identities and selectors, so every intermediate value can be followed by hand.
  const I4 = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
  const FIRST_TWO = [1, 0, 0, 0, 0, 1, 0, 0]; // [2, 4]: picks x0, x1
  const tensors: { name: string; shape: number[]; data: number[] }[] = [
    { name: 'model.embed_tokens.weight', shape: [3, 4], data: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0] },
    { name: 'model.layers.0.input_layernorm.weight', shape: [4], data: [1, 1, 1, 1] },
    { name: 'model.layers.0.self_attn.q_proj.weight', shape: [4, 4], data: I4 },
    { name: 'model.layers.0.self_attn.q_proj.bias', shape: [4], data: [0, 0, 0, 0] },
    { name: 'model.layers.0.self_attn.k_proj.weight', shape: [2, 4], data: FIRST_TWO },
    { name: 'model.layers.0.self_attn.k_proj.bias', shape: [2], data: [0, 0] },
    { name: 'model.layers.0.self_attn.v_proj.weight', shape: [2, 4], data: FIRST_TWO },
    { name: 'model.layers.0.self_attn.v_proj.bias', shape: [2], data: [0, 0] },
    { name: 'model.layers.0.self_attn.o_proj.weight', shape: [4, 4], data: I4 },
    { name: 'model.layers.0.self_attn.o_proj.bias', shape: [4], data: [0, 0, 0, 1] },
    { name: 'model.layers.0.post_attention_layernorm.weight', shape: [4], data: [1, 1, 1, 1] },
    // MLP: out[3] = silu(x0) * x2
    { name: 'model.layers.0.mlp.gate_proj.weight', shape: [2, 4], data: [1, 0, 0, 0, 0, 0, 0, 0] },
    { name: 'model.layers.0.mlp.up_proj.weight', shape: [2, 4], data: [0, 0, 1, 0, 0, 0, 0, 0] },
    { name: 'model.layers.0.mlp.down_proj.weight', shape: [4, 2], data: [0, 0, 0, 0, 0, 0, 1, 0] },
    { name: 'model.norm.weight', shape: [4], data: [1, 1, 1, 1] },
    { name: 'lm_head.weight', shape: [3, 4], data: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1] },
  ];

  let ref: LlamaReference;
  beforeAll(async () => {
    const dir = tempDir();
    fs.writeFileSync(
      path.join(dir, 'config.json'),
      JSON.stringify({
        architectures: ['LlamaForCausalLM'],
        vocab_size: 3, hidden_size: 4, intermediate_size: 2, num_hidden_layers: 1,
        num_attention_heads: 2, num_key_value_heads: 1, head_dim: 2,
        rms_norm_eps: 0, rope_theta: 10000, attention_bias: true, tie_word_embeddings: false, torch_dtype: 'float32',
      }),
    );
    writeSafetensors(
      path.join(dir, 'model.safetensors'),
      tensors.map((t) => ({ name: t.name, dtype: 'F32' as const, shape: t.shape, data: Float64Array.from(t.data) })),
    );
    ref = await LlamaReference.load(dir);
  });

  const silu = (x: number): number => x / (1 + Math.exp(-x));
  const rms = (v: number[]): number => Math.sqrt(v.reduce((a, x) => a + x * x, 0) / v.length);
  const mlpOut3 = (h: number[]): number => silu((h[0] as number) / rms(h)) * ((h[2] as number) / rms(h));
  const logitsOf = (h: number[]): number[] => {
    const f = h.map((x) => x / rms(h));
    return [f[0] as number, f[1] as number, (f[2] as number) + (f[3] as number)];
  };

  it('matches the logits worked out by hand for tokens [0, 1]', () => {
    // Position 0, token 0: e = [1,0,0,0], normalized n = [2,0,0,0]. Head 0's query [2,0] and head
    // 1's query [0,0] both see only position 0, whose value is [2,0]: attention = [2,0,2,0],
    // plus the o_proj bias → [2,0,2,1]. Residual: [3,0,2,1]; the MLP adds silu(x0)·x2 to x3.
    const h0 = [3, 0, 2, 1];
    h0[3] = 1 + mlpOut3(h0);

    // Position 1, token 1: n = [0,2,0,0]. Rotation by angle 1 (position 1 × inv_freq 1) maps
    // [a,b] to [a cos1 − b sin1, b cos1 + a sin1], so head 0's query [0,2] → [−2 sin1, 2 cos1];
    // key 0 = [2,0] (position 0, unrotated); key 1 = rotated [0,2] = the same as the query.
    const s = 1 / Math.sqrt(2);
    const score0 = -4 * Math.sin(1) * s;
    const score1 = 4 * s; // |q|·|k| for equal vectors of norm 2
    const p0 = Math.exp(score0) / (Math.exp(score0) + Math.exp(score1));
    const p1 = 1 - p0;
    // Values [2,0] and [0,2]: head 0 gives [2p0, 2p1]; head 1 (zero query) averages: [1, 1].
    const h1 = [2 * p0, 1 + 2 * p1, 1, 1 + 1];
    h1[3] = 2 + mlpOut3(h1);

    const logits = ref.forward([0, 1]);
    const expected = [logitsOf(h0), logitsOf(h1)];
    for (let t = 0; t < 2; t++) {
      for (let v = 0; v < 3; v++) {
        expect((logits[t] as Float64Array)[v]).toBeCloseTo(expected[t]?.[v] as number, 12);
      }
    }
  });
});

describe('ropeInvFreq', () => {
  const base = { headDim: 8, rope: { theta: 10000, scaling: null } };
  const close = (got: Float64Array, want: number[]): void => {
    expect(got.length).toBe(want.length);
    want.forEach((w, i) => expect(got[i]).toBeCloseTo(w, 15));
  };

  it('is 1/theta^(2i/d) by default', () => {
    close(ropeInvFreq(base), [1, 0.1, 0.01, 0.001]);
  });

  it('divides by the factor for linear scaling', () => {
    close(ropeInvFreq({ ...base, rope: { theta: 10000, scaling: { type: 'linear', factor: 4 } } }), [0.25, 0.025, 0.0025, 0.00025]);
  });

  it('keeps high, divides low and blends middle frequencies for llama3 scaling', () => {
    // Wavelengths 2π/f: 6.3, 62.8, 628, 6283. Thresholds: 1024/4 = 256 and 1024/1 = 1024.
    const scaling = { type: 'llama3' as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 1024 };
    const smooth = (1024 / (2 * Math.PI * 100) - 1) / (4 - 1);
    close(ropeInvFreq({ ...base, rope: { theta: 10000, scaling } }), [1, 0.1, ((1 - smooth) * 0.01) / 8 + smooth * 0.01, 0.001 / 8]);
  });
});
