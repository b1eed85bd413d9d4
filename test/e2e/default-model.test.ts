// The embedded default model writes English: greedy continuations of held-out Brown Corpus
// openings are made of words the corpus uses. (Issue 7's acceptance test; the model is trained by
// scripts/train-default-model.py on the documents scripts/brown-corpus.ts does not hold out.)
//
// NODELLM_TEST_MODEL=DIR runs the same checks on another model directory as well, e.g. a freshly
// trained candidate before it replaces the default; the default itself is always checked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DEFAULT_MODEL_NAME } from '../../lib/models/default-model.js';
import type { LLM } from '../../lib/llm.js';
import { readBrownCorpus } from '../../scripts/brown-corpus.js';
import { loadTestLLM } from '../helpers/test-llm.js';

const OPENINGS = 10;
const OPENING_WORDS = 8;
const NEW_TOKENS = 32;

const words = (text: string): string[] => (text.match(/[A-Za-z]+/g) ?? []).map((w) => w.toLowerCase());

const corpus = readBrownCorpus();
const vocabulary = new Set(corpus.flatMap((d) => words(d.text)));

/**
 * One opening from each of 10 held-out documents spread over the 25: the first words of its first
 * paragraph that is a sentence (15 words or more, starting with a capital or a quote), not a
 * headline or a dash line. scripts/train-default-model.py picks its samples the same way.
 */
function heldOutOpenings(): string[] {
  const held = corpus.filter((d) => d.heldOut);
  return Array.from({ length: OPENINGS }, (_, i) => {
    const doc = held[Math.floor((i * held.length) / OPENINGS)]!;
    const paragraph = doc.text.split('\n').find((p) => p.split(' ').length >= 15 && /^["A-Z]/.test(p)) ?? doc.text;
    return paragraph.split(' ').slice(0, OPENING_WORDS).join(' ');
  });
}

const candidate = process.env['NODELLM_TEST_MODEL'];
const models = [
  { label: 'the embedded default model', dir: undefined },
  ...(candidate ? [{ label: `NODELLM_TEST_MODEL=${candidate}`, dir: candidate }] : []),
];

describe.each(models)('$label', ({ dir }) => {
  let llm: LLM;

  beforeAll(async () => {
    llm = await loadTestLLM(dir ? { model: dir } : {});
  });
  afterAll(async () => {
    await llm?.close();
  });

  it('is the trained Brown Corpus model', () => {
    expect(llm.modelName).toBe(dir ?? DEFAULT_MODEL_NAME);
    expect(llm.tokenizer.vocabSize).toBe(4096);
  });

  it('continues held-out sentence openings with words of the corpus (>= 90%)', async () => {
    const openings = heldOutOpenings();
    expect(new Set(openings).size).toBe(OPENINGS);
    const results = await llm.generate(openings, { temperature: 0, max_tokens: NEW_TOKENS });
    const generated = results.map((r) => r.outputs[0]!.text);
    openings.forEach((o, i) => console.log(`${o} | ${generated[i]}`));

    const all = generated.flatMap(words);
    const known = all.filter((w) => vocabulary.has(w));
    const rate = known.length / all.length;
    console.log(`${known.length}/${all.length} generated words are corpus words (${(rate * 100).toFixed(1)}%); ` +
      `${new Set(all).size} distinct; unknown: ${all.filter((w) => !vocabulary.has(w)).join(' ')}`);
    // Enough text to judge, and not one word repeated: an untrained model's "the the the" fails here.
    expect(all.length).toBeGreaterThanOrEqual(OPENINGS * 10);
    expect(new Set(all).size).toBeGreaterThanOrEqual(30);
    expect(rate).toBeGreaterThanOrEqual(0.9);
  });
});
