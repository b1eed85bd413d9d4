// Writes the models and the engine's logits for the transformers parity check (scripts/hf_parity.py),
// run on the GPU machine where transformers is installed:
//   npx tsx scripts/hf-parity-prepare.ts OUT_DIR [--device cpu|cuda] [--prompts 4] [--decode 32] [--dir MODEL_DIR]
// --dir runs the engine on that model directory instead of the random Llama variants below (issue
// 17: a family's 7-9B shape written by scripts/make_random_family.py).
// For each model variant: a safetensors directory, and for 4 prompts of different lengths the
// engine's logits at the last prompt position and after each of 32 greedy decode steps (float32,
// row-major), plus a manifest with the token sequences.
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

import { addon } from '../lib/engine/native.js';
import { nativeEngineConfig, readModelFiles } from '../lib/models/load-model.js';
import { type RandomModelOptions, writeRandomLlamaModel } from '../lib/models/random-model.js';
import { drain, greedy, SequenceRows, seededInts, writeF32Rows } from '../test/helpers/native-engine.js';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
};
const out = args[0] && !args[0].startsWith('--') ? args[0] : '/tmp/nodellm-parity';
const device = flag('device', 'cpu') as 'cpu' | 'cuda';
const PROMPTS = Number(flag('prompts', '4'));
const DECODE_STEPS = Number(flag('decode', '32'));
const variants: { name: string; model: RandomModelOptions }[] = [
  { name: 'default', model: { seed: 1 } },
  {
    name: 'gqa4-bias-untied-linear-fp16-sharded',
    model: {
      seed: 2, dtype: 'float16', shards: 3,
      config: {
        vocab_size: 2000, hidden_size: 96, num_attention_heads: 8, num_key_value_heads: 2, head_dim: 32,
        intermediate_size: 160, attention_bias: true, mlp_bias: true, tie_word_embeddings: false,
        rope_scaling: { rope_type: 'linear', factor: 2 }, rope_theta: 10000,
      },
    },
  },
  {
    // head_dim 128, the shape the CUDA backend's tensor-core prefill and bandwidth decode kernels
    // serve (the variants above have smaller heads and run on the general kernels).
    name: 'hd128-gqa4-bf16',
    model: {
      seed: 3, dtype: 'bfloat16',
      config: { vocab_size: 2000, hidden_size: 512, num_attention_heads: 4, num_key_value_heads: 1, head_dim: 128, intermediate_size: 768 },
    },
  },
];

const modelDir = args.includes('--dir') ? flag('dir', '') : '';
const runs: { name: string; dir: string; model?: RandomModelOptions }[] = modelDir
  ? [{ name: basename(modelDir), dir: modelDir }]
  : variants.map((v) => ({ ...v, dir: join(out, v.name) }));

mkdirSync(out, { recursive: true });
const manifest: unknown[] = [];
for (const variant of runs) {
  const dir = variant.dir;
  if (variant.model) {
    mkdirSync(dir, { recursive: true });
    writeRandomLlamaModel(dir, variant.model);
  }
  const model = await readModelFiles(dir);
  const vocab = model.config.vocabSize;
  const engine = new addon.Engine(
    nativeEngineConfig(model, { returnLogits: true, maxNumSeqs: 8, numKvBlocks: 256, device }, 512),
  );
  await engine.load();
  const lengths = [1, 7, 33, 64, 5, 100, 17, 250];
  const prompts = Array.from({ length: PROMPTS }, (_, i) => seededInts(500 + i, lengths[i % lengths.length]!, vocab));
  prompts.forEach((p, i) => engine.addRequest(i + 1, Int32Array.from(p), greedy(DECODE_STEPS + 1)));
  const steps = new SequenceRows(vocab);
  await drain(engine, steps.add);
  const backend = engine.stats().backend;
  engine.close();
  if (backend !== device) throw new Error(`asked for ${device}, ran on ${backend}`);
  const sequences = prompts.map((prompt, i) => {
    const file = `${variant.name}-seq${i}.f32`;
    const rows = steps.logits.get(i + 1)!;
    writeF32Rows(join(out, file), rows, vocab);
    return { prompt, generated: steps.tokens.get(i + 1)!, logits_file: file, rows: rows.length };
  });
  manifest.push({ name: variant.name, dir, vocab, device, sequences });
}
writeFileSync(join(out, 'manifest.json'), JSON.stringify(manifest));
console.log(`wrote ${out}/manifest.json`);
