// Each family fixture (test/fixtures/families: transformers' float32 results for a tiny bf16
// checkpoint) on the CUDA engine, which computes in bf16: within bf16 rounding of transformers'
// logits (the bound of cuda-engine.test.ts), the same greedy tokens wherever transformers' top two
// are clearly apart, and the prompt logprobs close. Skipped without a usable GPU.
import { describe, expect, it } from 'vitest';

import { fixtureCases, logSoftmax, maxModelLenFor, readExpected, rowsOf } from '../helpers/family-fixtures.js';
import { relativeError } from '../helpers/logit-error.js';
import { SequenceRows, drain, greedy, loadNativeEngine, writeModel } from '../helpers/native-engine.js';
import { useTempDirs } from '../helpers/temp-dirs.js';

const WORST = 5e-2;
// Greedy tokens are compared while transformers' best token leads the next by this much (in
// logprob): closer calls may flip under bf16 rounding without anything being wrong.
const CLEAR_MARGIN = 0.05;

const tempDir = useTempDirs();
const probe = await loadNativeEngine(writeModel({ seed: 11, config: { vocab_size: 1000 } }), { device: 'auto', maxModelLen: 64, numKvBlocks: 8 });
const { backend, backendNote } = probe.stats();
probe.close();
const cuda = backend === 'cuda';
if (!cuda) console.log(`test/gpu/family-fixtures skipped: no usable CUDA GPU (${backendNote})`);

describe.skipIf(!cuda).each(fixtureCases(tempDir))('$name on CUDA against transformers', ({ dir: makeDir }) => {
  it('last-position logits, greedy tokens and prompt logprobs within bf16 rounding', async () => {
    const dir = await makeDir();
    const expected = readExpected(dir);
    const steps = expected.prompts[0]!.greedy.length;
    let worst = 0;
    let worstLogprob = 0;
    for (const [i, want] of expected.prompts.entries()) {
      const engine = await loadNativeEngine(dir, {
        device: 'cuda', returnLogits: true, maxModelLen: maxModelLenFor(dir, want.prompt.length, steps), maxNumSeqs: 4, numKvBlocks: 64,
      });
      const vocab = want.shape[1];
      engine.addRequest(1, Int32Array.from(want.prompt), greedy(steps, { promptLogprobs: 1 }));
      const rows = new SequenceRows(vocab);
      await drain(engine, rows.add);
      engine.close();
      const wantLogits = rowsOf(want.logits_f32_b64, want.shape);
      const err = relativeError(rows.logits.get(1)![0]!, wantLogits[want.prompt.length - 1]!);
      worst = Math.max(worst, err);
      expect(err, `prompt ${i} last-position logits`).toBeLessThan(WORST);
      const tokens = rows.tokens.get(1)!;
      for (const [step, s] of want.greedy.entries()) {
        const margin = s.top5[0]![1] - s.top5[1]![1];
        if (margin < CLEAR_MARGIN) break;
        expect(tokens[step], `prompt ${i} greedy step ${step} (margin ${margin.toFixed(3)})`).toBe(s.token);
      }
      for (let j = 1; j < want.prompt.length; j++) {
        worstLogprob = Math.max(worstLogprob, Math.abs(rows.promptLogprobs.get(1)!.get(j)! - logSoftmax(wantLogits[j - 1]!)[want.prompt[j]!]!));
      }
    }
    expect(worstLogprob).toBeLessThan(0.1);
    console.log(`${expected.family} on CUDA: worst relative logit error ${worst.toExponential(2)}, worst prompt logprob error ${worstLogprob.toExponential(2)}`);
  });
});
