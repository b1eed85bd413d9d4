// The engine's logits against an independent float64 forward pass (test/reference/llama-f64.ts)
// of the same safetensors, through the paged KV cache: each prompt is prefilled, then decoded for
// 32 steps, several prompts batched together; every sampled row's logits and every prompt
// logprob must match within 1e-4 relative error. Model variants cover GQA ratios, head_dim,
// biases, tied and untied embeddings, rope scaling, the three dtypes and sharded checkpoints, and
// the embedded default model's trained weights.
import { describe, expect, it } from 'vitest';

import { ensureDefaultModel } from '../../lib/models/default-model.js';
import type { RandomModelOptions } from '../../lib/models/random-model.js';
import { LlamaReference } from '../reference/llama-f64.js';
import { relativeError } from '../helpers/logit-error.js';
import { drain, greedy, loadNativeEngine, SequenceRows, seededInts, writeModel } from '../helpers/native-engine.js';

const DECODE_STEPS = 32;
const TOLERANCE = 1e-4;

interface Variant {
  name: string;
  /** A random model's options, or a model directory to use as it is. */
  model: RandomModelOptions | { dir: () => Promise<string> };
  blockSize?: 8 | 16 | 32;
  maxNumBatchedTokens?: number;
}

const variants: Variant[] = [
  { name: 'embedded default model (trained, bf16, tied, 6 layers, GQA 4)', model: { dir: () => ensureDefaultModel() } },
  { name: 'tiny random model (bf16, tied, llama3 rope, GQA 2)', model: { seed: 1 } },
  {
    name: 'GQA 4, head_dim 32, biases, untied, linear rope, fp16, 3 shards, block 32',
    model: {
      seed: 2,
      dtype: 'float16',
      shards: 3,
      config: {
        vocab_size: 2000,
        hidden_size: 96,
        num_attention_heads: 8,
        num_key_value_heads: 2,
        head_dim: 32,
        intermediate_size: 160,
        attention_bias: true,
        mlp_bias: true,
        tie_word_embeddings: false,
        rope_scaling: { rope_type: 'linear', factor: 2 },
        rope_theta: 10000,
      },
    },
    blockSize: 32,
  },
  {
    name: 'GQA 8, 3 layers, fp32, no rope scaling, block 8, chunked prefill',
    model: {
      seed: 3,
      dtype: 'float32',
      config: {
        vocab_size: 1500,
        hidden_size: 64,
        num_hidden_layers: 3,
        num_attention_heads: 8,
        num_key_value_heads: 1,
        head_dim: 8,
        intermediate_size: 128,
        rope_scaling: null,
        rope_theta: 10000,
      },
    },
    blockSize: 8,
    maxNumBatchedTokens: 16,
  },
  {
    name: 'multi-head (GQA 1), head_dim 64',
    model: {
      seed: 4,
      dtype: 'bfloat16',
      config: { vocab_size: 1000, hidden_size: 128, num_attention_heads: 2, num_key_value_heads: 2, head_dim: 64 },
    },
  },
];

function logSoftmax(logits: Float64Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return logits.map((v) => v - lse);
}

describe.each(variants)('logits match the float64 reference: $name', (variant) => {
  it('prefill + 32 decode steps, prompts of several lengths in one batch', async () => {
    const dir = 'dir' in variant.model ? await variant.model.dir() : writeModel(variant.model);
    const reference = await LlamaReference.load(dir);
    const vocab = reference.config.vocabSize;
    const engine = await loadNativeEngine(dir, {
      returnLogits: true,
      maxModelLen: 256,
      maxNumSeqs: 8,
      maxNumBatchedTokens: variant.maxNumBatchedTokens ?? 256,
      blockSize: variant.blockSize ?? 16,
      numKvBlocks: 64,
    });
    const lengths = [1, 5, 17, 40];
    const prompts = lengths.map((n, i) => seededInts(100 + i, n, vocab));
    prompts.forEach((p, i) =>
      engine.addRequest(i + 1, Int32Array.from(p), greedy(DECODE_STEPS + 1, { promptLogprobs: 3 })),
    );

    const steps = new SequenceRows(vocab);
    const { logits: rows, tokens: generated, promptLogprobs } = steps;
    await drain(engine, steps.add);
    engine.close();

    let worst = 0;
    for (const [i, prompt] of prompts.entries()) {
      const id = i + 1;
      const out = generated.get(id)!;
      expect(out).toHaveLength(DECODE_STEPS + 1);
      // One float64 pass over the prompt and the generated tokens gives every position's logits.
      const want = reference.forward([...prompt, ...out.slice(0, -1)]);
      const got = rows.get(id)!;
      for (let step = 0; step <= DECODE_STEPS; step++) {
        const err = relativeError(got[step]!, want[prompt.length - 1 + step]!);
        worst = Math.max(worst, err);
        expect(err, `sequence ${id} step ${step}`).toBeLessThan(TOLERANCE);
      }
      // Prompt logprobs: token j scored from position j - 1.
      const scored = promptLogprobs.get(id) ?? new Map<number, number>();
      expect(scored.size).toBe(prompt.length - 1);
      for (let j = 1; j < prompt.length; j++) {
        const lp = logSoftmax(want[j - 1]!)[prompt[j]!]!;
        expect(Math.abs(scored.get(j)! - lp), `prompt logprob ${j}`).toBeLessThan(TOLERANCE * Math.max(1, Math.abs(lp)));
      }
    }
    console.log(`${variant.name}: worst relative logit error ${worst.toExponential(2)}`);
  });
});
