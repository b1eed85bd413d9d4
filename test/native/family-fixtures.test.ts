// Each supported family on the CPU engine against transformers: test/fixtures/families/<name>
// holds a tiny checkpoint with random weights that transformers saved in bfloat16, and what
// transformers computed from it in float32 (scripts/make_family_fixtures.py, run on the GPU
// machine): every prompt position's logits, and a greedy continuation, each step a full forward
// pass, with its top-5 logprobs. Prompts (23 and 40 tokens) are longer than the sliding windows (8).
// The multimodal checkpoints (Gemma 3 and Mistral 3 ...ForConditionalGeneration) are the same
// language models written as those checkpoints store them, in the Hub's layout and in
// transformers 5's.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

import {
  FAMILIES, FIXTURES, asMultimodal, fixtureCases, logSoftmax, maxAbs, maxModelLenFor, readExpected, rowsOf,
} from '../helpers/family-fixtures.js';
import { relativeError } from '../helpers/logit-error.js';
import { SequenceRows, drain, greedy, loadNativeEngine } from '../helpers/native-engine.js';
import { useTempDirs } from '../helpers/temp-dirs.js';

const TOLERANCE = 1e-4;
const tempDir = useTempDirs();
const cases = fixtureCases(tempDir);

describe('the fixtures are there', () => {
  it('has one per family', () => {
    expect(FAMILIES).toEqual(['gemma2', 'gemma3', 'llama', 'mistral', 'phi3', 'qwen2', 'qwen2-yarn', 'qwen3']);
  });
});

describe.each(cases)('$name matches transformers on the CPU', ({ dir: makeDir }) => {
  it('prompt logprobs, last-position logits, greedy tokens and their top-5 logprobs', async () => {
    const dir = await makeDir();
    const expected = readExpected(dir);
    const steps = expected.prompts[0]!.greedy.length;
    // Prompts that need the same max_model_len run batched in one engine.
    const groups = new Map<number, number[]>();
    expected.prompts.forEach((p, i) => {
      const len = maxModelLenFor(dir, p.prompt.length, steps);
      groups.set(len, [...(groups.get(len) ?? []), i]);
    });
    let worst = 0;
    for (const [maxModelLen, indices] of groups) {
      const engine = await loadNativeEngine(dir, { returnLogits: true, maxModelLen, maxNumSeqs: 4, numKvBlocks: 64, blockSize: 16 });
      const vocab = expected.prompts[0]!.shape[1];
      for (const i of indices) {
        engine.addRequest(i + 1, Int32Array.from(expected.prompts[i]!.prompt), greedy(steps, { promptLogprobs: 1 }));
      }
      const rows = new SequenceRows(vocab);
      await drain(engine, rows.add);
      engine.close();

      for (const i of indices) {
        const want = expected.prompts[i]!;
        const wantLogits = rowsOf(want.logits_f32_b64, want.shape);
        const got = rows.logits.get(i + 1)!;
        // Greedy tokens, and each step's logprobs of transformers' top 5.
        expect(rows.tokens.get(i + 1), `prompt ${i} greedy tokens`).toEqual(want.greedy.map((s) => s.token));
        for (const [step, s] of want.greedy.entries()) {
          const lp = logSoftmax(got[step]!);
          const tol = 2 * TOLERANCE * maxAbs(got[step]!);
          for (const [id, logprob] of s.top5) expect(Math.abs(lp[id]! - logprob), `prompt ${i} step ${step} token ${id}`).toBeLessThan(tol);
        }
        // The first step's logits are the last prompt position's.
        const err = relativeError(got[0]!, wantLogits[want.prompt.length - 1]!);
        worst = Math.max(worst, err);
        expect(err, `prompt ${i} last-position logits`).toBeLessThan(TOLERANCE);
        // Every other position, through its prompt logprob.
        const scored = rows.promptLogprobs.get(i + 1)!;
        expect(scored.size).toBe(want.prompt.length - 1);
        for (let j = 1; j < want.prompt.length; j++) {
          const ref = wantLogits[j - 1]!;
          const lp = logSoftmax(ref)[want.prompt[j]!]!;
          expect(Math.abs(scored.get(j)! - lp), `prompt ${i} position ${j}`).toBeLessThan(2 * TOLERANCE * maxAbs(ref));
        }
      }
    }
    console.log(`${expected.family}: worst relative logit error ${worst.toExponential(2)} (transformers ${expected.transformers})`);
  });
});

describe('checkpoints that contradict their config', () => {
  it('names the tensor whose shape does not match', async () => {
    const dir = tempDir();
    for (const f of fs.readdirSync(path.join(FIXTURES, 'qwen3'))) fs.copyFileSync(path.join(FIXTURES, 'qwen3', f), path.join(dir, f));
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, head_dim: 16 }));
    await expect(loadNativeEngine(dir)).rejects.toThrow(/weight model\.layers\.0\.self_attn\.q_proj\.weight has shape \[128, 64\], but config\.json implies \[64, 64\]/);
  });

  it('names a fused Phi-3 tensor that does not split as the config says', async () => {
    const dir = tempDir();
    for (const f of fs.readdirSync(path.join(FIXTURES, 'phi3'))) fs.copyFileSync(path.join(FIXTURES, 'phi3', f), path.join(dir, f));
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, intermediate_size: 96 }));
    await expect(loadNativeEngine(dir)).rejects.toThrow(/weight model\.layers\.0\.mlp\.gate_up_proj\.weight has shape \[256, 64\], but config\.json implies \[192, 64\]/);
  });

  it('names the checkpoint name of a renamed tensor (multimodal layout)', async () => {
    const dir = await asMultimodal(tempDir(), path.join(FIXTURES, 'gemma3'), 'Gemma3ForConditionalGeneration', 'gemma3', 'hub');
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as { text_config: Record<string, unknown> };
    config.text_config.intermediate_size = 96;
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    await expect(loadNativeEngine(dir)).rejects.toThrow(
      /weight model\.layers\.0\.mlp\.gate_proj\.weight \(checkpoint tensor language_model\.model\.layers\.0\.mlp\.gate_proj\.weight\) has shape \[128, 64\]/,
    );
  });
});
