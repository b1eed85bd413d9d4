// GPU benchmark of the Llama-3-8B shape with random bf16 weights (LOAD_FORMAT=dummy), driving the
// native engine directly with token ids (no tokenizer in the loop):
//   node .device/js/bench/gpu-bench.js [--out results.json]
// Cases (issue 5's targets): batch-1 decode (prompt 128, 256 new tokens), 64 requests at once
// (prompt 512, 128 new tokens, prefill included), prefill of 4 x 2048 tokens, and the time to
// load the engine.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { NativeEngine } from '../lib/engine/native.js';
import { drain, greedy, loadNativeEngine, seededInts } from '../test/helpers/native-engine.js';

const args = process.argv.slice(2);
const outFile = args.includes('--out') ? args[args.indexOf('--out') + 1]! : 'gpu-bench.json';
const configDir = join(process.cwd(), 'bench', 'configs', 'llama3-8b');
const VOCAB = 128256;

async function timeSteps(engine: NativeEngine) {
  const stepTimes: number[] = [];
  let tokens = 0;
  await drain(engine, (r) => {
    stepTimes.push(performance.now());
    tokens += r.seqIds.length;
  });
  return { stepTimes, tokens };
}

const t0 = performance.now();
const engine = await loadNativeEngine(configDir, {
  loadFormat: 'dummy',
  device: 'cuda',
  maxModelLen: 4096,
  maxNumSeqs: 256,
  maxNumBatchedTokens: 8192,
  kvCacheBytes: 24 * 2 ** 30,
});
const loadSeconds = (performance.now() - t0) / 1000;
const stats = engine.stats();
console.log(`loaded in ${loadSeconds.toFixed(1)} s on ${stats.backend}: ${stats.numBlocks} KV blocks`);

let id = 1;
const add = (promptLen: number, newTokens: number) =>
  engine.addRequest(id++, Int32Array.from(seededInts(id, promptLen, VOCAB)), greedy(newTokens));

// --profile: only a short batch-1 decode (for ncu, which times every kernel it sees).
if (args.includes('--profile')) {
  add(128, 17);
  await drain(engine);
  engine.close();
  process.exit(0);
}

// Warm-up (cuBLASLt plans for the shapes used below).
add(128, 8);
for (let i = 0; i < 64; i++) add(32, 4);
await drain(engine);

// 1. batch-1 decode: tokens/s over the decode steps (after the first token).
add(128, 256);
const single = await timeSteps(engine);
const decodeSeconds = (single.stepTimes.at(-1)! - single.stepTimes[0]!) / 1000;
const batch1 = (single.tokens - 1) / decodeSeconds;

// 2. 64 requests at once, prompt 512, 128 new tokens, prefill included.
const s64 = performance.now();
for (let i = 0; i < 64; i++) add(512, 128);
const many = await timeSteps(engine);
const many64 = many.tokens / ((many.stepTimes.at(-1)! - s64) / 1000);

// 3. prefill of 4 x 2048 tokens: until every request has its first token.
const sp = performance.now();
for (let i = 0; i < 4; i++) add(2048, 1);
const pre = await timeSteps(engine);
const prefill = (4 * 2048) / ((pre.stepTimes.at(-1)! - sp) / 1000);

engine.close();

// CUDA graphs change nothing: 8 greedy requests (a graph batch size, so the GEMM shapes match)
// give the same tokens with graphs and eagerly.
async function tokensWith(enforceEager: boolean) {
  const e = await loadNativeEngine(configDir, { loadFormat: 'dummy', device: 'cuda', maxModelLen: 1024, maxNumSeqs: 8, kvCacheBytes: 2 ** 30, enforceEager });
  for (let i = 0; i < 8; i++) e.addRequest(i + 1, Int32Array.from(seededInts(100 + i, 20 + i, VOCAB)), greedy(48));
  const out = new Map<number, number[]>();
  await drain(e, (r) => r.seqIds.forEach((sid, row) => out.set(sid, [...(out.get(sid) ?? []), r.tokens[row]!])));
  e.close();
  return [...out.entries()].sort((a, b) => a[0] - b[0]).map(([, t]) => t.join(','));
}
const graphsMatchEager = JSON.stringify(await tokensWith(false)) === JSON.stringify(await tokensWith(true));

const result = {
  date: new Date().toISOString(),
  model: 'Llama-3-8B shape, dummy bf16 weights',
  engine_load_seconds: loadSeconds,
  batch1_decode_tokens_per_s: batch1,
  batch1_ms_per_token: 1000 / batch1,
  requests64_output_tokens_per_s: many64,
  prefill_4x2048_tokens_per_s: prefill,
  graphs_match_eager: graphsMatchEager,
};
writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');
console.log(`batch-1 decode        ${batch1.toFixed(1)} tok/s (${(1000 / batch1).toFixed(2)} ms/token)`);
console.log(`64 x (512 in, 128 out) ${many64.toFixed(0)} output tok/s`);
console.log(`prefill 4 x 2048      ${prefill.toFixed(0)} tok/s`);
console.log(`graphs match eager    ${graphsMatchEager}`);
