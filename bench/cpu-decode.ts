// Decode speed of the embedded default model on the CPU backend, at 1 and 16 concurrent requests,
// measured through the public LLM API (so tokenization, detokenization and streaming are in the
// loop). The peer measured in the same run is the machine itself: a memcpy of the model's
// weights gives the memory bandwidth, and each decode step must read every weight once, so
// "achieved weight bandwidth / memcpy bandwidth" says how close decode runs to the memory.
//
//   npx tsx bench/cpu-decode.ts [--tokens 256] [--out bench/results/cpu-default-decode.json]
import { writeFileSync } from 'node:fs';
import os from 'node:os';

import { LLM } from '../lib/index.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const outputTokens = Number(arg('tokens', '256'));
const outFile = arg('out', 'bench/results/cpu-default-decode.json');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** GB/s of copying `bytes` from one buffer to another (median of several runs). */
function memcpyBandwidth(bytes: number): number {
  const src = new Float32Array(bytes / 4).fill(1.5);
  const dst = new Float32Array(bytes / 4);
  const times: number[] = [];
  for (let i = 0; i < 15; i++) {
    const t = performance.now();
    dst.set(src);
    times.push(performance.now() - t);
  }
  return (2 * bytes) / (median(times) / 1000) / 1e9; // read + write
}

/** Runs `concurrency` requests of `outputTokens` tokens; returns decode tokens/s. */
async function run(llm: LLM, concurrency: number) {
  const firstTokenAt: number[] = [];
  const lastTokenAt: number[] = [];
  const counts: number[] = [];
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, i) => {
      let n = 0;
      for await (const chunk of llm.stream(`Benchmark prompt number ${i}: the quick brown fox`, {
        max_tokens: outputTokens,
        ignore_eos: true,
        temperature: 0,
      })) {
        const got = chunk.outputs[0]?.tokenIds.length ?? 0;
        if (got > 0 && n === 0) firstTokenAt[i] = performance.now();
        n += got;
        lastTokenAt[i] = performance.now();
      }
      counts[i] = n;
    }),
  );
  const end = performance.now();
  const total = counts.reduce((a, b) => a + b, 0);
  // Decode phase: from the moment every request had its first token to the last token.
  const decodeStart = Math.max(...firstTokenAt);
  const decodeTokens = counts.reduce((a, c, i) => a + c - 1, 0);
  return {
    concurrency,
    output_tokens: total,
    elapsed_s: (end - start) / 1000,
    output_tokens_per_s: total / ((end - start) / 1000),
    decode_tokens_per_s: decodeTokens / ((Math.max(...lastTokenAt) - decodeStart) / 1000 || Infinity),
  };
}

const llm = await LLM.load();
const cfg = llm.engine.model.config;
// Weights read per decode step, in the backend's float32.
const params =
  cfg.vocabSize * cfg.hiddenSize * (cfg.tieWordEmbeddings ? 1 : 2) +
  cfg.numHiddenLayers * (cfg.hiddenSize * (cfg.numAttentionHeads + 2 * cfg.numKeyValueHeads) * cfg.headDim +
    cfg.numAttentionHeads * cfg.headDim * cfg.hiddenSize + 3 * cfg.hiddenSize * cfg.intermediateSize);
const weightBytes = params * 4;
await run(llm, 1); // warm-up
const single = await run(llm, 1);
const sixteen = await run(llm, 16);
await llm.close();
const bandwidth = memcpyBandwidth(weightBytes);
const stepsPerS = single.decode_tokens_per_s;
const result = {
  date: new Date().toISOString(),
  device: `cpu: ${os.cpus()[0]?.model ?? 'unknown'} x${os.cpus().length}`,
  command: `npx tsx bench/cpu-decode.ts --tokens ${outputTokens}`,
  model: llm.modelName,
  weight_bytes_fp32: weightBytes,
  output_tokens_per_request: outputTokens,
  single,
  sixteen,
  peer: {
    memcpy_gb_per_s: bandwidth,
    single_weight_read_gb_per_s: (weightBytes * stepsPerS) / 1e9,
    single_fraction_of_memcpy: (weightBytes * stepsPerS) / 1e9 / bandwidth,
  },
};
writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');
console.log(`device            ${result.device}`);
console.log(`1 request         ${single.decode_tokens_per_s.toFixed(1)} decode tok/s`);
console.log(`16 concurrent     ${sixteen.decode_tokens_per_s.toFixed(1)} decode tok/s (${sixteen.output_tokens_per_s.toFixed(1)} output tok/s incl. prefill)`);
console.log(`weights/step      ${(weightBytes / 1e6).toFixed(1)} MB fp32; memcpy ${bandwidth.toFixed(1)} GB/s; 1-request decode reads ${result.peer.single_weight_read_gb_per_s.toFixed(1)} GB/s (${(100 * result.peer.single_fraction_of_memcpy).toFixed(0)}% of memcpy)`);
console.log(`wrote ${outFile}`);
