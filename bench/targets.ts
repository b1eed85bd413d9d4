// Issue 5's performance targets held as ratios to the GPU's own limits. The issue sets them on an
// H100 (copy 3.02 TB/s, bf16 GEMM 807 TFLOP/s) and asks, on another GPU, for "the same ratios" to
// its copy bandwidth and GEMM ceiling measured in the same run. Each case's limit is the time no
// engine can beat with those two ceilings: prompt tokens at the GEMM ceiling, then every decode
// step at the slower of reading its bytes (the weights once, plus the KV cache its rows attend
// over) and doing its FLOPs. That is how the issue arrives at "about 5,400" output tokens/s for 64
// requests and 201 tokens/s at batch 1. A target's ratio is the H100 target over the H100 limit;
// on this GPU the target is that ratio times this GPU's limit.
//
//   npx tsx bench/targets.ts GPU_BENCH.json GPU_ROOFLINE.json
// prints, per case, the figure measured, the limit, and the target on this GPU.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { type ModelConfig, readModelConfig } from '../lib/models/hf-config.js';
import { packageRoot } from '../lib/package-root.js';

export interface Ceilings {
  copyBytesPerS: number;
  gemmFlopsPerS: number;
}

export const H100: Ceilings = { copyBytesPerS: 3.02e12, gemmFlopsPerS: 807e12 };

/** What the limits depend on: a dense decoder's shape (every family of lib/models/architectures.ts). */
export interface DecoderShape {
  layers: number;
  hidden: number;
  intermediate: number;
  heads: number;
  kvHeads: number;
  headDim: number;  // independent of hidden / heads (Qwen 3, Gemma, Mistral-Nemo)
  vocab: number;
  bytesPerValue: number;  // 2 for bf16 weights and KV cache
}

export const LLAMA3_8B: DecoderShape = {
  layers: 32, hidden: 4096, intermediate: 14336, heads: 32, kvHeads: 8, headDim: 128, vocab: 128256, bytesPerValue: 2,
};

/** A model config's shape (bench/configs/NAME through readModelConfig), in bf16. */
export function shapeOf(c: Pick<ModelConfig, 'numHiddenLayers' | 'hiddenSize' | 'intermediateSize' | 'numAttentionHeads' | 'numKeyValueHeads' | 'headDim' | 'vocabSize'>): DecoderShape {
  return {
    layers: c.numHiddenLayers, hidden: c.hiddenSize, intermediate: c.intermediateSize, heads: c.numAttentionHeads,
    kvHeads: c.numKeyValueHeads, headDim: c.headDim, vocab: c.vocabSize, bytesPerValue: 2,
  };
}

// Weights every forward pass reads in full: the four projections of each layer and the lm_head
// (the embedding is a gather of one row per token, and the norms are a few KB).
function linearParams(m: DecoderShape): { layers: number; lmHead: number } {
  const qkv = m.hidden * (m.heads + 2 * m.kvHeads) * m.headDim;
  const o = m.heads * m.headDim * m.hidden;
  const mlp = 3 * m.hidden * m.intermediate;
  return { layers: m.layers * (qkv + o + mlp), lmHead: m.hidden * m.vocab };
}

/** Bytes of weights one decode step reads: the projections and the lm_head. */
export function weightBytesPerStep(m: DecoderShape): number {
  const p = linearParams(m);
  return (p.layers + p.lmHead) * m.bytesPerValue;
}

// Bytes of K and V per token of context, over all layers.
const kvBytesPerToken = (m: DecoderShape) => 2 * m.layers * m.kvHeads * m.headDim * m.bytesPerValue;

// Seconds to prefill prompts of `promptLen` tokens at the GEMM ceiling: the projections for every
// token, the lm_head for the last one, and causal attention (QK^T and PV over half the square).
function prefillSeconds(m: DecoderShape, prompts: number, promptLen: number, c: Ceilings): number {
  const p = linearParams(m);
  const attention = 2 * 2 * m.layers * m.heads * m.headDim * (promptLen * promptLen) / 2;
  const flops = prompts * (2 * p.layers * promptLen + 2 * p.lmHead + attention);
  return flops / c.gemmFlopsPerS;
}

// Seconds for one decode step of `rows` sequences whose contexts add up to `contextTokens`.
function decodeStepSeconds(m: DecoderShape, rows: number, contextTokens: number, c: Ceilings): number {
  const p = linearParams(m);
  const bytes = (p.layers + p.lmHead) * m.bytesPerValue + contextTokens * kvBytesPerToken(m);
  const flops = 2 * rows * (p.layers + p.lmHead) + 2 * 2 * m.layers * m.heads * m.headDim * contextTokens;
  return Math.max(bytes / c.copyBytesPerS, flops / c.gemmFlopsPerS);
}

// `requests` prompts of `promptLen` tokens, each generating `newTokens`, at most `maxSeqs` at a
// time: ideal throughput in output tokens/s (the prefill counted once, decode in full steps).
export function outputTokensPerSecondLimit(m: DecoderShape, c: Ceilings, requests: number, promptLen: number,
                                           newTokens: number, maxSeqs = requests): number {
  let seconds = prefillSeconds(m, requests, promptLen, c);
  for (let wave = 0; wave < requests; wave += maxSeqs) {
    const rows = Math.min(maxSeqs, requests - wave);
    // The step that makes token i (from 1) attends over promptLen + i - 1 earlier tokens and itself.
    for (let i = 1; i < newTokens; i++) seconds += decodeStepSeconds(m, rows, rows * (promptLen + i), c);
  }
  return (requests * newTokens) / seconds;
}

export function prefillTokensPerSecondLimit(m: DecoderShape, c: Ceilings, prompts: number, promptLen: number): number {
  return (prompts * promptLen) / prefillSeconds(m, prompts, promptLen, c);
}

export interface Case {
  name: string;
  measured: number;
  h100Target: number;
  limit: (c: Ceilings) => number;
}

// The issue's cases as gpu-bench.ts runs them (its JSON's field names).
export function issueCases(bench: Record<string, any>, m: DecoderShape = LLAMA3_8B): Case[] {
  return [
    { name: 'batch-1 decode (128 in, 256 out), tok/s', measured: bench.batch1_decode_tokens_per_s, h100Target: 181,
      // gpu-bench times the decode steps only: the limit is the mean step over the 256 tokens.
      limit: (c) => {
        let s = 0;
        for (let i = 1; i <= 256; i++) s += decodeStepSeconds(m, 1, 128 + i, c);
        return 256 / s;
      } },
    { name: '64 requests (512 in, 128 out), output tok/s', measured: bench.requests64_output_tokens_per_s,
      h100Target: 3500, limit: (c) => outputTokensPerSecondLimit(m, c, 64, 512, 128) },
    { name: 'prefill 4 x 2048, tok/s', measured: bench.prefill_4x2048_tokens_per_s, h100Target: 25000,
      limit: (c) => prefillTokensPerSecondLimit(m, c, 4, 2048) },
    { name: "vLLM's throughput test 1000 x (256, 256), output tok/s",
      measured: bench.throughput_1000x256x256_temperature_1?.output_tokens_per_s ?? bench.throughput_1000x256x256?.output_tokens_per_s,
      h100Target: 11400, limit: (c) => outputTokensPerSecondLimit(m, c, 1000, 256, 256, 256) },
  ];
}

export interface Verdict {
  name: string;
  measured: number;
  h100Limit: number;
  ratio: number;        // the H100 target over the H100 limit
  limit: number;        // on this GPU
  target: number;       // ratio x limit
  bandwidthOnlyTarget: number;  // the H100 target scaled by copy bandwidth alone, for comparison
  met: boolean;
}

export function judge(cases: Case[], here: Ceilings): Verdict[] {
  return cases.map((k) => {
    const h100Limit = k.limit(H100);
    const ratio = k.h100Target / h100Limit;
    const limit = k.limit(here);
    const target = ratio * limit;
    return { name: k.name, measured: k.measured, h100Limit, ratio, limit, target,
      bandwidthOnlyTarget: k.h100Target * (here.copyBytesPerS / H100.copyBytesPerS), met: k.measured >= target };
  });
}

async function main(benchFile: string, rooflineFile: string) {
  const bench = JSON.parse(readFileSync(benchFile, 'utf8'));
  // The shape the bench ran (gpu-bench.ts --config writes it; issue 5's runs were the 8B Llama).
  const config = typeof bench.config === 'string' ? bench.config : 'llama3-8b';
  const shape = shapeOf(await readModelConfig(join(packageRoot(), 'bench', 'configs', config)));
  const roofline = JSON.parse(readFileSync(rooflineFile, 'utf8'));
  const here = { copyBytesPerS: roofline.copy_tb_per_s * 1e12, gemmFlopsPerS: roofline.bf16_gemm_tflops * 1e12 };
  console.log(`${roofline.gpu}: copy ${roofline.copy_tb_per_s.toFixed(2)} TB/s, bf16 GEMM ${roofline.bf16_gemm_tflops.toFixed(0)} TFLOP/s`);
  const f = (x: number) => Math.round(x).toLocaleString('en-US');
  console.log(`${config}: ${(weightBytesPerStep(shape) / 1e9).toFixed(2)} GB of weights a decode step`);
  for (const v of judge(issueCases(bench, shape), here)) {
    console.log(`${v.name}: ${f(v.measured)} | H100 target ${(100 * v.ratio).toFixed(1)}% of its limit ${f(v.h100Limit)} | ` +
      `limit here ${f(v.limit)}, target ${f(v.target)} (${(100 * v.measured / v.limit).toFixed(1)}% of the limit; ` +
      `by bandwidth alone ${f(v.bandwidthOnlyTarget)}): ${v.met ? 'met' : 'NOT met'}`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [benchFile, rooflineFile] = process.argv.slice(2);
  if (!benchFile || !rooflineFile) {
    console.error('usage: npx tsx bench/targets.ts GPU_BENCH.json GPU_ROOFLINE.json');
    process.exit(2);
  }
  await main(benchFile, rooflineFile);
}
