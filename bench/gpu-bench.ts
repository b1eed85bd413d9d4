// GPU benchmark of the Llama-3-8B shape with random bf16 weights (LOAD_FORMAT=dummy), driving the
// native engine directly with token ids (no tokenizer in the loop):
//   node .device/js/bench/gpu-bench.js [--out results.json]
// Cases (issue 5's targets): batch-1 decode (prompt 128, 256 new tokens), 64 requests at once
// (prompt 512, 128 new tokens, prefill included), prefill of 4 x 2048 tokens, vLLM's throughput
// test (1000 prompts x (256 in, 256 out) submitted at once, max_num_seqs 256), and the time to
// load the engine. The KV cache is sized by gpu_memory_utilization (0.9) after the profiling step.
//   --only-prefill: load, warm up and run the prefill case only (to compare attention kernels)
//   --only-batch1: the same for the batch-1 decode case (to compare GEMV and attention settings)
//   --only-throughput: the same for vLLM's throughput test at temperature 1 (to compare GEMM settings)
//   --config NAME: the shape of bench/configs/NAME (default llama3-8b; issue 17 adds qwen2.5-7b,
//     qwen3-8b, mistral-7b, mistral-7b-window4096 and gemma-2-9b)
//   --batch-invariant: every engine with batchInvariant (what that mode costs, and its seeded check)
//   --profile, --profile-batch N: short runs for ncu (below)
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { NativeEngine, NativeSamplingParams } from '../lib/engine/native.js';
import { ensureDefaultModel } from '../lib/models/default-model.js';
import { readModelConfig } from '../lib/models/hf-config.js';
import { drain, greedy, loadNativeEngine, SequenceRows, seededInts, seededRequestAmong } from '../test/helpers/native-engine.js';

const args = process.argv.slice(2);
const outFile = args.includes('--out') ? args[args.indexOf('--out') + 1]! : 'gpu-bench.json';
// --config NAME: one of bench/configs/ (default llama3-8b, issue 5's shape); dummy weights.
const configName = args.includes('--config') ? args[args.indexOf('--config') + 1]! : 'llama3-8b';
const configDir = join(process.cwd(), 'bench', 'configs', configName);
const shape = await readModelConfig(configDir);
const VOCAB = shape.vocabSize;
const batchInvariant = args.includes('--batch-invariant');

// Steps the engine until idle; stepTimes are the moments each step's result arrived, inStepMs
// the time spent waiting on engine.step() (the rest is JavaScript between steps), and idleMs the
// host time between a step's results and the next launch, when the GPU had nothing queued.
async function timeSteps(engine: NativeEngine) {
  const stepTimes: number[] = [];
  const idleMs: number[] = [];
  const prepareMs: number[] = [];
  // Per step: whether it carried prompt tokens (a prefill chunk: more tokens than sampled rows,
  // or rows that sample nothing) and how many rows it sampled.
  const withPrompt: boolean[] = [];
  const rows: number[] = [];
  let tokens = 0;
  let inStepMs = 0;
  while (engine.hasWork()) {
    const before = performance.now();
    const r = await engine.step();
    const after = performance.now();
    inStepMs += after - before;
    idleMs.push(r.idleBeforeLaunchMs);
    prepareMs.push(r.idleBeforeLaunchMs > 0 ? r.prepareMs : 0);  // only where the idle time is known
    stepTimes.push(after);
    withPrompt.push(r.numScheduledTokens > r.seqIds.length);
    rows.push(r.seqIds.length);
    tokens += r.seqIds.length;
  }
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  // idleMs: every step's; idleAfterFirstMs: within the window from the first step's results on;
  // prepareAfterFirstMs: the part of it inside the engine (scheduling and inputs).
  return { stepTimes, tokens, inStepMs, idleMs: sum(idleMs), idleAfterFirstMs: sum(idleMs.slice(1)),
    prepareAfterFirstMs: sum(prepareMs.slice(1)), withPrompt, rows };
}

const t0 = performance.now();
const engine = await loadNativeEngine(configDir, {
  loadFormat: 'dummy',
  device: 'cuda',
  maxModelLen: 4096,
  maxNumSeqs: 256,
  maxNumBatchedTokens: 8192,
  batchInvariant,
});
const loadSeconds = (performance.now() - t0) / 1000;
const stats = engine.stats();
// K and V of every layer's KV heads in bf16, per token.
const kvGiB = (stats.numBlocks * stats.blockSize * 2 * shape.numHiddenLayers * shape.numKeyValueHeads * shape.headDim * 2) / 2 ** 30;
console.log(`loaded in ${loadSeconds.toFixed(1)} s on ${stats.backend}: ${stats.numBlocks} KV blocks (${kvGiB.toFixed(1)} GiB)`);

let id = 1;
const add = (promptLen: number, newTokens: number, sampling: Partial<NativeSamplingParams> = {}) =>
  engine.addRequest(id++, Int32Array.from(seededInts(id, promptLen, VOCAB)), greedy(newTokens, sampling));

// --profile: only a short batch-1 decode (for ncu, which times every kernel it sees).
// --profile-batch N: N requests of (256 in, 8 out) at once, the throughput test's two kinds of
// step: 8192-token prefills, then decodes at batch N (scripts/ncu_summary.py --steps).
if (args.includes('--profile') || args.includes('--profile-batch')) {
  if (args.includes('--profile-batch')) {
    const n = Number(args[args.indexOf('--profile-batch') + 1]);
    if (!Number.isInteger(n) || n < 1) throw new Error('--profile-batch takes a number of requests, e.g. --profile-batch 256');
    for (let i = 0; i < n; i++) add(256, 8);
  } else {
    add(128, 17);
  }
  await drain(engine);
  engine.close();
  process.exit(0);
}

// Warm-up (cuBLASLt plans for the shapes used below).
add(128, 8);
for (let i = 0; i < 64; i++) add(32, 4);
await drain(engine);

async function prefill4x2048() {
  const sp = performance.now();
  for (let i = 0; i < 4; i++) add(2048, 1);
  const pre = await timeSteps(engine);
  return (4 * 2048) / ((pre.stepTimes.at(-1)! - sp) / 1000);
}
if (args.includes('--only-prefill')) {
  await prefill4x2048();  // warm-up of the 8192-token shapes
  const rate = await prefill4x2048();
  engine.close();
  console.log(`prefill 4 x 2048      ${rate.toFixed(0)} tok/s (NODELLM_PREFILL_ATTENTION=${process.env.NODELLM_PREFILL_ATTENTION ?? 'default'})`);
  writeFileSync(outFile, JSON.stringify({ prefill_4x2048_tokens_per_s: rate, attention: process.env.NODELLM_PREFILL_ATTENTION ?? 'tensor cores' }, null, 2) + '\n');
  process.exit(0);
}

// 1. batch-1 decode: tokens/s over the decode steps (after the first token), and the share of that
// time the GPU waited for the host between steps.
let batch1IdleShare = 0;
let batch1PrepareShare = 0;  // the part of batch1IdleShare spent inside the engine
async function batch1Decode() {
  add(128, 256);
  const single = await timeSteps(engine);
  const decodeSeconds = (single.stepTimes.at(-1)! - single.stepTimes[0]!) / 1000;
  batch1IdleShare = single.idleAfterFirstMs / (decodeSeconds * 1000);
  batch1PrepareShare = single.prepareAfterFirstMs / (decodeSeconds * 1000);
  return (single.tokens - 1) / decodeSeconds;
}
if (args.includes('--only-batch1')) {
  const rate = await batch1Decode();
  engine.close();
  // The caller labels the line with the settings it ran under (scripts/gpu-visit.sh does).
  console.log(`batch-1 decode        ${rate.toFixed(1)} tok/s${batchInvariant ? ' (batch-invariant)' : ''} (GPU waits for the host ${(100 * batch1IdleShare).toFixed(1)}% of it, ${(100 * batch1PrepareShare).toFixed(1)}% inside the engine)`);
  process.exit(0);
}
// throughputTest (below) is a function declaration, defined before this runs.
if (args.includes('--only-throughput')) {
  const t = await throughputTest(1);
  engine.close();
  // The caller labels the line with the settings it ran under (scripts/gpu-visit.sh does).
  console.log(`1000 x (256 in, 256 out), temperature 1: ${t.output_tokens_per_s.toFixed(0)} output tok/s ` +
    `(prompt steps ${t.seconds_in_steps_with_prompt_tokens.toFixed(2)} s, ${t.decode_only_steps} decode-only steps ` +
    `${t.decode_only_mean_step_ms.toFixed(2)} ms each)`);
  process.exit(0);
}
const batch1 = await batch1Decode();

// 2. 64 requests at once, prompt 512, 128 new tokens, prefill included.
const s64 = performance.now();
for (let i = 0; i < 64; i++) add(512, 128);
const many = await timeSteps(engine);
const many64 = many.tokens / ((many.stepTimes.at(-1)! - s64) / 1000);

// 3. prefill of 4 x 2048 tokens: until every request has its first token.
const prefill = await prefill4x2048();

// 4. Seeded sampling (temperature 0.8, top_p 0.95, seed 1234) gives the same tokens for a request
// alone and inside a batch of 64 (issue 5's acceptance): the other 63 have their own seeds. The
// sampler's stream depends only on (seed, position, token); the logits it draws from come from
// GEMMs whose shape, and so cuBLASLt's algorithm and its rounding, depends on the batch unless
// --batch-invariant. Checked here on the random 8B model (near-uniform logits over 128K tokens)
// and on the trained default model below.
async function seededTokens(e: NativeEngine, vocab: number, companions: number) {
  const { tokens } = await seededRequestAmong(e, vocab, companions, { firstId: id });
  id += companions + 1;
  return tokens;
}
async function seededCheck(e: NativeEngine, vocab: number) {
  const alone = await seededTokens(e, vocab, 0);
  const inBatch = await seededTokens(e, vocab, 63);
  return { match: JSON.stringify(alone) === JSON.stringify(inBatch), firstDifference: alone.findIndex((t, i) => t !== inBatch[i]) };
}
const seeded8b = await seededCheck(engine, VOCAB);

// 5. vLLM's throughput test: 1000 prompts x (256 in, 256 out), all submitted at once, ignore_eos;
// greedy (the figures recorded up to 2026-12-02), then at temperature 1, top_p 1, as vLLM's
// benchmark_throughput samples.
async function throughputTest(temperature: number) {
  const st = performance.now();
  for (let i = 0; i < 1000; i++) add(256, 256, { temperature });
  const run = await timeSteps(engine);
  const seconds = (run.stepTimes.at(-1)! - st) / 1000;
  // Where the time goes: each step's time is from the previous step's results (or the start) to
  // its own, split between steps that carried prompt tokens and steps of decodes only.
  let promptMs = 0, decodeMs = 0, decodeSteps = 0, decodeRows = 0;
  run.stepTimes.forEach((t, i) => {
    const ms = t - (i === 0 ? st : run.stepTimes[i - 1]!);
    if (run.withPrompt[i]) promptMs += ms;
    else {
      decodeMs += ms;
      decodeSteps += 1;
      decodeRows += run.rows[i]!;
    }
  });
  return {
    seconds,
    output_tokens: run.tokens,
    output_tokens_per_s: run.tokens / seconds,
    total_tokens_per_s: (1000 * 256 + run.tokens) / seconds,
    steps: run.stepTimes.length,
    mean_step_ms: (seconds * 1000) / run.stepTimes.length,
    share_of_time_in_native_step: run.inStepMs / (seconds * 1000),
    // Host work between one step's tokens and the next launch (the GPU idles): what overlapping
    // the next step's preparation with the current one could win.
    share_of_time_gpu_waits_for_host: run.idleMs / (seconds * 1000),
    share_of_time_gpu_waits_for_engine_preparation: run.prepareAfterFirstMs / (seconds * 1000),
    seconds_in_steps_with_prompt_tokens: promptMs / 1000,
    steps_with_prompt_tokens: run.stepTimes.length - decodeSteps,
    decode_only_steps: decodeSteps,
    decode_only_mean_step_ms: decodeMs / Math.max(1, decodeSteps),
    decode_only_mean_rows: decodeRows / Math.max(1, decodeSteps),
  };
}
const throughputGreedy = await throughputTest(0);
const throughputSampled = await throughputTest(1);

engine.close();

// CUDA graphs change nothing: 8 greedy requests (a graph batch size, so the GEMM shapes match)
// give the same tokens with graphs and eagerly.
let smallEngineBlocks = 0;
async function tokensWith(enforceEager: boolean) {
  const e = await loadNativeEngine(configDir, { loadFormat: 'dummy', device: 'cuda', maxModelLen: 1024, maxNumSeqs: 8, gpuMemoryUtilization: 0.3, enforceEager, batchInvariant });
  smallEngineBlocks = e.stats().numBlocks;
  for (let i = 0; i < 8; i++) e.addRequest(i + 1, Int32Array.from(seededInts(100 + i, 20 + i, VOCAB)), greedy(48));
  const steps = new SequenceRows();
  await drain(e, steps.add);
  e.close();
  return [...steps.tokens.entries()].sort((a, b) => a[0] - b[0]).map(([, t]) => t.join(','));
}
const graphsMatchEager = JSON.stringify(await tokensWith(false)) === JSON.stringify(await tokensWith(true));

const defaultModel = await loadNativeEngine(await ensureDefaultModel(), { device: 'cuda', maxNumSeqs: 128, gpuMemoryUtilization: 0.2, batchInvariant });
const seededDefault = await seededCheck(defaultModel, (await readModelConfig(await ensureDefaultModel())).vocabSize);
defaultModel.close();

const result = {
  date: new Date().toISOString(),
  model: `${configName} shape (bench/configs/${configName}), dummy bf16 weights`,
  config: configName,
  batch_invariant: batchInvariant,
  engine_load_seconds: loadSeconds,
  batch1_decode_tokens_per_s: batch1,
  batch1_ms_per_token: 1000 / batch1,
  batch1_share_of_time_gpu_waits_for_host: batch1IdleShare,
  batch1_share_of_time_gpu_waits_for_engine_preparation: batch1PrepareShare,
  requests64_output_tokens_per_s: many64,
  prefill_4x2048_tokens_per_s: prefill,
  throughput_1000x256x256: throughputGreedy,
  throughput_1000x256x256_temperature_1: throughputSampled,
  kv_cache: { gpu_memory_utilization: 0.9, blocks: stats.numBlocks, gib: kvGiB, blocks_at_utilization_0_3_small_engine: smallEngineBlocks },
  graphs_match_eager: graphsMatchEager,
  seeded_sampling_alone_matches_batch_of_64: { random_8b: seeded8b, trained_default_model: seededDefault },
  seeded_sampling_tokens: 64,
};
writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');
console.log(`numerics              ${batchInvariant ? 'batch-invariant (--batch-invariant)' : 'default'}`);
console.log(`batch-1 decode        ${batch1.toFixed(1)} tok/s (${(1000 / batch1).toFixed(2)} ms/token; GPU waits for the host ${(100 * batch1IdleShare).toFixed(1)}%, ${(100 * batch1PrepareShare).toFixed(1)}% inside the engine)`);
console.log(`64 x (512 in, 128 out) ${many64.toFixed(0)} output tok/s`);
console.log(`prefill 4 x 2048      ${prefill.toFixed(0)} tok/s`);
for (const [label, t] of [['greedy', throughputGreedy], ['temperature 1', throughputSampled]] as const) {
  console.log(`1000 x (256 in, 256 out), ${label}: ${t.output_tokens_per_s.toFixed(0)} output tok/s, ${t.total_tokens_per_s.toFixed(0)} total (${t.seconds.toFixed(1)} s, ${t.steps} steps, ${t.mean_step_ms.toFixed(1)} ms each, ${(100 * t.share_of_time_in_native_step).toFixed(0)}% inside engine.step(), GPU waits for the host ${(100 * t.share_of_time_gpu_waits_for_host).toFixed(1)}%, ${(100 * t.share_of_time_gpu_waits_for_engine_preparation).toFixed(1)}% inside the engine)`);
  console.log(`  of which ${t.steps_with_prompt_tokens} steps with prompt tokens took ${t.seconds_in_steps_with_prompt_tokens.toFixed(1)} s, and ${t.decode_only_steps} decode-only steps ${t.decode_only_mean_step_ms.toFixed(2)} ms each at ${t.decode_only_mean_rows.toFixed(0)} rows on average`);
}
console.log(`KV cache at 0.9       ${stats.numBlocks} blocks, ${kvGiB.toFixed(1)} GiB; at 0.3 (small engine) ${smallEngineBlocks} blocks`);
console.log(`graphs match eager    ${graphsMatchEager}`);
for (const [name, r] of [['random 8B', seeded8b], ['trained default model', seededDefault]] as const)
  console.log(`seeded sampling alone = in a batch of 64 (${name}): ${r.match}${r.match ? '' : ` (first difference at token ${r.firstDifference})`}`);
