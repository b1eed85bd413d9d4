// DTYPE / --dtype / the dtype option: vLLM's names mapped onto what the native engine converts
// weights to at load, and refused values named.
import { describe, expect, it } from 'vitest';

import { validateEngineOptions } from '../../lib/config/engine-options.js';
import { ensureDefaultModel } from '../../lib/models/default-model.js';
import { nativeEngineConfig, readModelFiles } from '../../lib/models/load-model.js';
import { SequenceRows, drain, greedy, loadNativeEngine } from '../helpers/native-engine.js';

describe('the dtype option', () => {
  it("maps vLLM's aliases (half, float) and defaults to auto", async () => {
    const model = await readModelFiles(await ensureDefaultModel());
    const dtype = (d?: Parameters<typeof nativeEngineConfig>[1]['dtype']) => nativeEngineConfig(model, { dtype: d }, 64).dtype;
    expect([dtype(), dtype('auto'), dtype('half'), dtype('float16'), dtype('bfloat16'), dtype('float'), dtype('float32')]).toEqual([
      'auto', 'auto', 'float16', 'float16', 'bfloat16', 'float32', 'float32',
    ]);
  });

  it('refuses other values, naming the option', () => {
    expect(() => validateEngineOptions({ dtype: 'fp8' as never })).toThrow(/dtype/);
  });

  it('leaves the CPU engine computing in float32: the same logits whatever it says', async () => {
    const dir = await ensureDefaultModel();
    const logits = async (dtype: 'auto' | 'float16') => {
      const engine = await loadNativeEngine(dir, { dtype, returnLogits: true, maxModelLen: 64, numKvBlocks: 8 });
      engine.addRequest(1, Int32Array.from([0, 17, 99, 250]), greedy(2));
      const rows = new SequenceRows(4096);
      await drain(engine, rows.add);
      engine.close();
      return rows.logits.get(1)!;
    };
    expect(await logits('float16')).toEqual(await logits('auto'));
  });
});
