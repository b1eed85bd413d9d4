// bench serve's tokenizer: a server on the embedded model is benchmarked with that model's own
// tokenizer, without the warning meant for a model that is not on this machine.
import { describe, expect, it } from 'vitest';

import { resolveBenchTokenizer } from '../../lib/bench/bench-tokenizer.js';
import { DEFAULT_MODEL_NAME, ensureDefaultModel } from '../../lib/models/default-model.js';

describe('resolveBenchTokenizer', () => {
  it("takes the embedded model's tokenizer for its name, with no warning", async () => {
    const warnings: string[] = [];
    const r = await resolveBenchTokenizer({ model: DEFAULT_MODEL_NAME, warn: (l) => warnings.push(l) });
    expect(r.id).toBe(DEFAULT_MODEL_NAME);
    expect(r.tokenizer.vocabSize).toBe(4096);
    expect(warnings).toEqual([]);
  });

  it("takes the server's root when it is a model directory here", async () => {
    const warnings: string[] = [];
    const root = await ensureDefaultModel();
    const r = await resolveBenchTokenizer({ model: 'served-as-something-else', root, warn: (l) => warnings.push(l) });
    expect(r.id).toBe(root);
    expect(warnings).toEqual([]);
  });

  it('warns when it falls back for a model that is not here', async () => {
    const warnings: string[] = [];
    await resolveBenchTokenizer({ model: 'org/elsewhere', warn: (l) => warnings.push(l) });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/no local tokenizer/);
  });
});
