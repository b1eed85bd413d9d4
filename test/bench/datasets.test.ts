// The benchmark datasets with the real tokenizer of the embedded model: random prompts of exact
// token lengths within the range ratio, repeatable by seed; ShareGPT conversations filtered,
// shuffled and measured as vLLM does.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { resolveBenchTokenizer } from '../../lib/bench/bench-tokenizer.js';
import { type DatasetOptions, loadDataset } from '../../lib/bench/dataset.js';
import { DEFAULT_MODEL_NAME, ensureDefaultModel } from '../../lib/models/default-model.js';
import type { Tokenizer } from '../../lib/tokenizer/tokenizer.js';
import { useTempDirs } from '../helpers/temp-dirs.js';

const tempDir = useTempDirs();
let tokenizer: Tokenizer;
let modelDir: string;

beforeAll(async () => {
  modelDir = await ensureDefaultModel();
  ({ tokenizer } = await resolveBenchTokenizer({ tokenizer: modelDir, warn: () => {} }));
});

const random = (o: Partial<DatasetOptions> = {}): DatasetOptions => ({
  name: 'random',
  numPrompts: 12,
  seed: 0,
  randomInputLen: 40,
  randomOutputLen: 10,
  randomRangeRatio: 0,
  randomPrefixLen: 0,
  ...o,
});

const count = async (text: string) => (await tokenizer.encode(text, { addSpecialTokens: false })).length;

describe('random dataset', () => {
  it('builds prompts whose text has exactly the asked number of tokens', async () => {
    const warnings: string[] = [];
    const requests = await loadDataset(tokenizer, random({ warn: (l) => warnings.push(l) }));
    expect(requests).toHaveLength(12);
    for (const r of requests) {
      expect(r.promptLen).toBe(40);
      expect(await count(r.prompt)).toBe(40);
      expect(r.expectedOutputLen).toBe(10);
    }
    expect(warnings).toEqual([]);
  });

  it('draws lengths within [len*(1-r), len*(1+r)] and repeats with the seed', async () => {
    const opts = random({ numPrompts: 30, randomInputLen: 20, randomOutputLen: 10, randomRangeRatio: 0.5, randomPrefixLen: 4 });
    const a = await loadDataset(tokenizer, opts);
    for (const r of a) {
      expect(r.promptLen).toBeGreaterThanOrEqual(4 + 10);
      expect(r.promptLen).toBeLessThanOrEqual(4 + 30);
      expect(await count(r.prompt)).toBe(r.promptLen);
      expect(r.expectedOutputLen).toBeGreaterThanOrEqual(5);
      expect(r.expectedOutputLen).toBeLessThanOrEqual(15);
    }
    expect(new Set(a.map((r) => r.promptLen)).size).toBeGreaterThan(5);
    expect(await loadDataset(tokenizer, opts)).toEqual(a);
    expect(await loadDataset(tokenizer, { ...opts, seed: 1 })).not.toEqual(a);
  });

  it('refuses a range ratio outside [0, 1)', async () => {
    await expect(loadDataset(tokenizer, random({ randomRangeRatio: 1 }))).rejects.toThrow(/\[0, 1\)/);
  });
});

describe('sharegpt dataset', () => {
  const conversations = [
    { id: 'a', conversations: [{ from: 'human', value: 'Tell me about the history of the Roman empire please.' }, { from: 'gpt', value: 'The Roman empire began in 27 BC and lasted for centuries in the west.' }] },
    { id: 'b', conversations: [{ from: 'system', value: 'be brief' }, { from: 'human', value: 'What is the boiling point of water at sea level?' }, { from: 'gpt', value: 'It boils at one hundred degrees Celsius.' }] },
    { id: 'short', conversations: [{ from: 'human', value: 'Hi' }, { from: 'gpt', value: 'Hello! How can I help you today?' }] },
    { id: 'one-turn', conversations: [{ from: 'human', value: 'Is anyone there to answer this question?' }] },
    { id: 'no-conv' },
  ];

  it('takes the first human turn as the prompt and the reply\'s length as the output, skipping unusable pairs', async () => {
    {
      const path = join(tempDir(), 'sharegpt.json');
      writeFileSync(path, JSON.stringify(conversations));
      const requests = await loadDataset(tokenizer, { ...random(), name: 'sharegpt', path, numPrompts: 2 });
      const byPrompt = new Map(requests.map((r) => [r.prompt, r]));
      expect([...byPrompt.keys()].sort()).toEqual([conversations[1]!.conversations![1]!.value, conversations[0]!.conversations![0]!.value].sort());
      for (const c of conversations.slice(0, 2)) {
        const human = c.conversations!.findIndex((t) => t.from === 'human');
        const r = byPrompt.get(c.conversations![human]!.value)!;
        expect(r.promptLen).toBe(await count(r.prompt));
        expect(r.expectedOutputLen).toBe(await count(c.conversations![human + 1]!.value));
      }
      // --sharegpt-output-len replaces the replies' lengths; too few pairs are drawn again.
      const warnings: string[] = [];
      const more = await loadDataset(tokenizer, { ...random(), name: 'sharegpt', path, numPrompts: 5, sharegptOutputLen: 7, warn: (l) => warnings.push(l) });
      expect(more).toHaveLength(5);
      expect(more.every((r) => r.expectedOutputLen === 7)).toBe(true);
      expect(warnings.join('\n')).toMatch(/has 2 usable conversations; drawing 3 of them again/);
    }
  });

  it('says which file is wrong', async () => {
    {
      const path = join(tempDir(), 'bad.json');
      writeFileSync(path, '{"not": "a list"}');
      await expect(loadDataset(tokenizer, { ...random(), name: 'sharegpt', path })).rejects.toThrow(/bad\.json: not a JSON list/);
      await expect(loadDataset(tokenizer, { ...random(), name: 'sharegpt' })).rejects.toThrow(/--dataset-path/);
    }
  });
});

describe('the tokenizer bench serve uses', () => {
  it('is --tokenizer, else a local --model, else the default model\'s with one warning', async () => {
    const warnings: string[] = [];
    const warn = (l: string) => warnings.push(l);
    expect((await resolveBenchTokenizer({ tokenizer: modelDir, model: 'x/y', warn })).id).toBe(modelDir);
    expect((await resolveBenchTokenizer({ model: modelDir, warn })).id).toBe(modelDir);
    expect(warnings).toEqual([]);
    const fallback = await resolveBenchTokenizer({ model: 'meta-llama/Llama-3.1-8B', warn });
    expect(fallback.id).toBe(DEFAULT_MODEL_NAME);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/embedded default model's/);
    await expect(resolveBenchTokenizer({ tokenizer: '/nonexistent', warn })).rejects.toThrow(/--tokenizer \/nonexistent/);
  });
});
