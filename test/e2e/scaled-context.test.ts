// max_model_len may reach the context a model's rope_scaling gives it (vLLM's derived
// max_model_len), and no further.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

import { ValidationError } from '../../lib/errors.js';
import { LLM } from '../../lib/llm.js';
import { writeRandomLlamaModel } from '../../lib/models/random-model.js';
import { useTempDirs } from '../helpers/temp-dirs.js';

const tempDir = useTempDirs();
const dir = path.join(tempDir(), 'model');
writeRandomLlamaModel(dir, { config: { vocab_size: 128256, max_position_embeddings: 64, rope_scaling: { rope_type: 'linear', factor: 2 } } });

describe('max_model_len with a linear rope_scaling of 2 over 64 positions', () => {
  it('reaches 128 tokens, and a prompt past the original 64 generates', async () => {
    const llm = await LLM.load({ model: dir, numThreads: 2, maxModelLen: 128 });
    try {
      const r = await llm.generate({ promptTokenIds: Array.from({ length: 100 }, (_, i) => 1000 + i) }, { max_tokens: 8, temperature: 0, ignore_eos: true });
      expect(r.outputs[0]!.tokenIds).toHaveLength(8);
    } finally {
      await llm.close();
    }
  });

  it('refuses 129, naming maxModelLen and the scaled context', async () => {
    const err = await LLM.load({ model: dir, numThreads: 2, maxModelLen: 129 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toBe("maxModelLen (129) exceeds the model's context with its rope_scaling (128)");
  });
});
