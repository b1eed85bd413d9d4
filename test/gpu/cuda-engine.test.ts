// The CUDA backend on a GPU (the device machine; see scripts/gpu-visit.sh). Everywhere else the
// suite is skipped, and says why. It checks:
//   - every kernel against the CPU reference (build/Release/backend_check, which prints one line
//     per case and exits 1 if any fails);
//   - the CUDA engine's logits against the independent float64 forward pass
//     (test/reference/llama-f64.ts) of the same safetensors: prefill, then 32 greedy decode steps,
//     four prompts batched and one alone (the one-row GEMV), on models that route through each
//     attention kernel (head_dim 128 and 64: the bandwidth decode kernel and the tensor-core
//     prefill kernel; head_dim 32: the per-row kernel), within bf16 rounding;
//   - recorded CUDA graphs give exactly the logits of eager steps;
//   - launching decode steps ahead (asyncScheduling) changes no token;
//   - with batchInvariant, a seeded request gives the same logits, bit for bit, and so the same
//     tokens, alone and inside a batch of 64 (build/Release/invariance_check holds each kernel
//     to it first).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import type { NativeEngine } from '../../lib/engine/native.js';
import type { RandomModelOptions } from '../../lib/models/random-model.js';
import { ensureDefaultModel } from '../../lib/models/default-model.js';
import { readModelConfig } from '../../lib/models/hf-config.js';
import { packageRoot } from '../../lib/package-root.js';
import { relativeError } from '../helpers/logit-error.js';
import { drain, greedy, loadNativeEngine, SequenceRows, seededInts, seededRequestAmong, writeModel } from '../helpers/native-engine.js';
import { LlamaReference } from '../reference/llama-f64.js';

const DECODE_STEPS = 32;
// bf16 activations against float64 on 2-layer random models, whose near-uniform logits make the
// relative error large: transformers' own bf16 is 6e-2 from its fp32 on the head_dim-128 model
// (bench/RESULTS.md), nodellm 3.6e-2. A broken kernel gives errors of order 1.
const WORST = 5e-2;
const MEAN = 2e-2;

const tiny = writeModel({ seed: 11, config: { vocab_size: 1000 } });
const probe = await loadNativeEngine(tiny, { device: 'auto', maxModelLen: 64, numKvBlocks: 8 });
const { backend, backendNote } = probe.stats();
probe.close();
const cuda = backend === 'cuda';
if (!cuda) console.log(`test/gpu skipped: no usable CUDA GPU (${backendNote})`);

const models: { name: string; model: RandomModelOptions }[] = [
  {
    name: 'head_dim 128, GQA 4, bf16',
    model: { seed: 21, dtype: 'bfloat16', config: { vocab_size: 2000, hidden_size: 512, num_attention_heads: 4, num_key_value_heads: 1, head_dim: 128, intermediate_size: 768 } },
  },
  {
    name: 'head_dim 64, GQA 1, fp16',
    model: { seed: 22, dtype: 'float16', config: { vocab_size: 1500, hidden_size: 256, num_attention_heads: 4, num_key_value_heads: 4, head_dim: 64, intermediate_size: 512 } },
  },
  {
    name: 'head_dim 32, GQA 2, bf16 (per-row attention kernel)',
    model: { seed: 23, dtype: 'bfloat16', config: { vocab_size: 1200, hidden_size: 128, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 32, intermediate_size: 256 } },
  },
];

async function cudaEngine(dir: string, enforceEager = false): Promise<NativeEngine> {
  return loadNativeEngine(dir, { device: 'cuda', returnLogits: true, maxModelLen: 256, maxNumSeqs: 8, numKvBlocks: 64, enforceEager });
}

/** Greedy generation of each prompt; every sampled row's logits and the tokens, by request. */
async function generate(engine: NativeEngine, prompts: number[][], vocab: number) {
  prompts.forEach((p, i) => engine.addRequest(i + 1, Int32Array.from(p), greedy(DECODE_STEPS + 1)));
  const rows = new SequenceRows(vocab);
  await drain(engine, rows.add);
  return prompts.map((_, i) => ({ logits: rows.logits.get(i + 1)!, tokens: rows.tokens.get(i + 1)! }));
}

/**
 * Runs a check binary of build/Release; its lines with FAIL are the failures. Where
 * NODELLM_CHECK_LOGS names a directory holding this visit's output of the binary (NAME.txt, with
 * dashes, ending in the line `exit STATUS`: scripts/gpu-visit.sh runs both checks first), that
 * output is checked instead of a second run.
 */
function runCheck(name: string) {
  const binary = join(packageRoot(), 'build', 'Release', name);
  expect(existsSync(binary), `${binary} is built with the CUDA backend`).toBe(true);
  const log = process.env.NODELLM_CHECK_LOGS && join(process.env.NODELLM_CHECK_LOGS, `${name.replace('_', '-')}.txt`);
  const logged = log && existsSync(log) ? readFileSync(log, 'utf8') : undefined;
  const status = logged?.match(/^exit (\d+)\s*$/m);
  if (logged !== undefined) expect(status, `${log} ends with its exit status`).not.toBeNull();
  const run = logged !== undefined ? { stdout: logged, status: Number(status![1]) } : spawnSync(binary, [], { encoding: 'utf8', timeout: 600_000 });
  const failing = run.stdout.split('\n').filter((l) => l.includes('FAIL'));
  expect(failing, run.stdout.slice(-2000)).toEqual([]);
  expect(run.stdout).toContain('PASS: 0 failing case(s)');
  expect(run.status).toBe(0);
}

/**
 * With batchInvariant: a seeded request (100-token prompt, 64 tokens at temperature 0.8, top_p
 * 0.95) alone, then as the first of 64 requests with other prompts, seeds and temperatures, then
 * as the last of them (its prompt then waits behind ~5,000 others and the token budget cuts it
 * where it happens to fall): its logits at every step and its tokens. With 64 prompts the budget
 * mixes prefill chunks with decodes; later steps are graphed decodes at batch 64.
 */
async function seededAloneAndInBatch(dir: string, maxModelLen: number) {
  const vocab = (await readModelConfig(dir)).vocabSize;
  const run = async (companions: number, targetFirst = true) => {
    const engine = await loadNativeEngine(dir, {
      device: 'cuda', returnLogits: true, maxModelLen, maxNumSeqs: 128, numKvBlocks: 1200, batchInvariant: true,
    });
    const result = await seededRequestAmong(engine, vocab, companions, { targetFirst });
    engine.close();
    return result;
  };
  return { alone: await run(0), inBatch: await run(63), behind: await run(63, false) };
}

describe.skipIf(!cuda)('CUDA backend on the GPU', () => {
  it('every kernel matches the CPU reference (backend_check)', () => {
    runCheck('backend_check');
  });

  it('batch-invariant kernels give a row the same bits in any batch (invariance_check)', () => {
    runCheck('invariance_check');
  });

  describe.each([
    { name: 'the default model (head_dim 32)', dir: async () => ensureDefaultModel(), maxModelLen: 512 },
    { name: models[0]!.name, dir: async () => writeModel(models[0]!.model), maxModelLen: 256 },
  ])('seeded sampling alone and in a batch of 64: $name', ({ dir, maxModelLen }) => {
    it('batchInvariant: the same logits, bit for bit, and the same 64 tokens', async () => {
      const { alone, inBatch, behind } = await seededAloneAndInBatch(await dir(), maxModelLen);
      expect(alone.tokens).toHaveLength(64);
      for (const [where, got] of [['first of 64', inBatch], ['last of 64', behind]] as const) {
        expect(got.tokens, where).toEqual(alone.tokens);
        for (let step = 0; step < 64; step++)
          expect(Array.from(got.logits[step]!), `${where}, step ${step}`).toEqual(Array.from(alone.logits[step]!));
      }
    });
  });

  describe.each(models)('logits against the float64 reference: $name', ({ model }) => {
    it('prefill + 32 greedy decode steps, four prompts batched and one alone, within bf16 rounding', async () => {
      const dir = writeModel(model);
      const reference = await LlamaReference.load(dir);
      const vocab = reference.config.vocabSize;
      const batched = [1, 9, 40, 130].map((n, i) => seededInts(300 + i, n, vocab));
      const alone = [seededInts(400, 70, vocab)];
      const errors: number[] = [];
      for (const prompts of [batched, alone]) {
        const engine = await cudaEngine(dir);
        const results = await generate(engine, prompts, vocab);
        engine.close();
        for (const [i, prompt] of prompts.entries()) {
          const { logits, tokens } = results[i]!;
          expect(tokens).toHaveLength(DECODE_STEPS + 1);
          // Teacher forcing on the engine's own tokens: one float64 pass gives every position.
          const want = reference.forward([...prompt, ...tokens.slice(0, -1)]);
          for (let step = 0; step <= DECODE_STEPS; step++)
            errors.push(relativeError(logits[step]!, want[prompt.length - 1 + step]!));
        }
      }
      const worst = Math.max(...errors);
      const mean = errors.reduce((a, b) => a + b, 0) / errors.length;
      console.log(`${JSON.stringify(model.config)}: worst ${worst.toExponential(2)}, mean ${mean.toExponential(2)}`);
      expect(worst).toBeLessThan(WORST);
      expect(mean).toBeLessThan(MEAN);
    });
  });

  it('CUDA graphs replay exactly the logits of eager steps', async () => {
    const dir = writeModel(models[0]!.model);
    const prompts = [3, 17, 33, 64, 100].map((n, i) => seededInts(500 + i, n, 2000));
    const graphed = await cudaEngine(dir, false);
    const withGraphs = await generate(graphed, prompts, 2000);
    graphed.close();
    const eagerEngine = await cudaEngine(dir, true);
    const eager = await generate(eagerEngine, prompts, 2000);
    eagerEngine.close();
    for (let i = 0; i < prompts.length; i++) {
      expect(withGraphs[i]!.tokens).toEqual(eager[i]!.tokens);
      for (let step = 0; step <= DECODE_STEPS; step++)
        expect(Array.from(withGraphs[i]!.logits[step]!), `request ${i + 1} step ${step}`).toEqual(Array.from(eager[i]!.logits[step]!));
    }
  });

  it('launch-ahead (asyncScheduling) gives the tokens of one step at a time, with late requests and an abort', async () => {
    const dir = writeModel(models[0]!.model);
    // Greedy and seeded requests; two more join after 5 steps, and one is aborted after 8. Logits
    // are not returned (they would turn launch-ahead off), so tokens are compared.
    const run = async (asyncScheduling: boolean) => {
      const engine = await loadNativeEngine(dir, { device: 'cuda', maxModelLen: 256, maxNumSeqs: 8, numKvBlocks: 64, asyncScheduling });
      const freeBefore = engine.stats().numFreeBlocks;
      const rows = new SequenceRows();
      const params = (i: number) => (i % 2 === 0 ? greedy(40) : greedy(40, { temperature: 0.9, topP: 0.9, seed: 50 + i }));
      for (let i = 1; i <= 4; i++) engine.addRequest(i, Int32Array.from(seededInts(600 + i, 5 + 9 * i, 2000)), params(i));
      for (let step = 0; engine.hasWork(); step++) {
        rows.add(await engine.step());
        if (step === 5) for (let i = 5; i <= 6; i++) engine.addRequest(i, Int32Array.from(seededInts(600 + i, 12, 2000)), params(i));
        if (step === 8) expect(engine.abort(3)).toBe(true);
      }
      const freed = engine.stats().numFreeBlocks === freeBefore;
      engine.close();
      return { tokens: rows.tokens, freed };
    };
    const [ahead, plain] = [await run(true), await run(false)];
    for (const id of [1, 2, 4, 5, 6]) {
      expect(plain.tokens.get(id), `request ${id}`).toHaveLength(40);
      expect(ahead.tokens.get(id), `request ${id}`).toEqual(plain.tokens.get(id));
    }
    // The aborted request stops within a step of the abort either way, and every block comes back.
    expect(Math.abs(ahead.tokens.get(3)!.length - plain.tokens.get(3)!.length)).toBeLessThanOrEqual(1);
    expect(ahead.freed).toBe(true);
    expect(plain.freed).toBe(true);
  });
});

describe('device auto', () => {
  it('uses CUDA where a GPU is usable, and otherwise the CPU with the reason', () => {
    if (cuda) expect(backendNote).toBe('');
    else expect(backend).toBe('cpu');
    if (!cuda) expect(backendNote.length).toBeGreaterThan(0);
  });
});
