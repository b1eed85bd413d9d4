// nodellm's side of the default model's transformers parity check (scripts/default_model_parity.py
// runs this, then compares):
//   npx tsx scripts/default-model-parity-prepare.ts MODEL_DIR OUT_DIR [--sentences 4] [--device cpu]
// Writes OUT_DIR/manifest.json and float32 logit files. For a few held-out sentence openings of the
// Brown Corpus, every prefix is its own request, so the logits at its last position are the
// teacher-forced logits of every position of the real text; one long held-out passage fills the
// model's whole context (prefill, then greedy decode steps to the last position), so far RoPE
// positions and the paged KV cache are covered too. The manifest also holds the token ids our
// tokenizer gives and a chat prompt rendered by lib/chat, for transformers to check against its own.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { ChatTemplate } from '../lib/chat/template.js';
import { addon } from '../lib/engine/native.js';
import { nativeEngineConfig, readModelFiles } from '../lib/models/load-model.js';
import { Tokenizer } from '../lib/tokenizer/tokenizer.js';
import { drain, greedy, SequenceRows, writeF32Rows } from '../test/helpers/native-engine.js';
import { readBrownCorpus } from './brown-corpus.js';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
};
const [modelDir, out] = args;
if (!modelDir || !out) throw new Error('usage: default-model-parity-prepare.ts MODEL_DIR OUT_DIR [--sentences N] [--device cpu|cuda]');
const device = flag('device', 'cpu') as 'cpu' | 'cuda';
const SENTENCES = Number(flag('sentences', '4'));
const MAX_PREFIX = 40; // tokens of each opening checked position by position
const LONG_DECODE = 12; // greedy steps after the long passage's prefill

const model = await readModelFiles(modelDir);
const tokenizer = await Tokenizer.load(modelDir);
const vocab = model.config.vocabSize;
const context = model.config.maxPositionEmbeddings;
const held = readBrownCorpus().filter((d) => d.heldOut);

// Openings: the first paragraph of successive held-out documents (BOS added, as completions do).
const texts = held.slice(0, SENTENCES).map((d) => d.text.split('\n')[0]!);
const sentences = await Promise.all(texts.map(async (text) => (await tokenizer.encode(text)).slice(0, MAX_PREFIX)));
const longText = held[SENTENCES]!.text;
const longPrompt = (await tokenizer.encode(longText)).slice(0, context - LONG_DECODE);

const engine = new addon.Engine(
  nativeEngineConfig(model, { returnLogits: true, numThreads: 2, maxNumSeqs: 256, numKvBlocks: 1024, device }, context),
);
await engine.load();
// Request ids: 1 is the long passage; 1000 * (s + 1) + n is sentence s's prefix of n tokens.
engine.addRequest(1, Int32Array.from(longPrompt), greedy(LONG_DECODE));
sentences.forEach((ids, s) => {
  for (let n = 1; n <= ids.length; n++) engine.addRequest(1000 * (s + 1) + n, Int32Array.from(ids.slice(0, n)), greedy(1));
});
const steps = new SequenceRows(vocab);
await drain(engine, steps.add);
const backend = engine.stats().backend;
engine.close();
if (backend !== device) throw new Error(`asked for ${device}, ran on ${backend}`);

mkdirSync(out, { recursive: true });
const write = (file: string, rows: Float32Array[]) => writeF32Rows(join(out, file), rows, vocab);
// Each sequence: `tokens` to run through transformers in one pass, and the positions whose
// logits the engine produced, in the order of the rows in `logits_file`.
const sequences = sentences.map((ids, s) => {
  const file = `sentence${s}.f32`;
  write(file, ids.map((_, n) => steps.logits.get(1000 * (s + 1) + n + 1)![0]!));
  return { kind: 'teacher-forced prefixes', text: texts[s], tokens: ids, positions: ids.map((_, n) => n), logits_file: file };
});
const generated = steps.tokens.get(1)!;
write('long.f32', steps.logits.get(1)!);
sequences.push({
  kind: `prefill ${longPrompt.length} + ${LONG_DECODE} greedy decode steps`,
  text: longText.slice(0, 200),
  tokens: [...longPrompt, ...generated.slice(0, -1)],
  positions: generated.map((_, j) => longPrompt.length - 1 + j),
  logits_file: 'long.f32',
});

const chat = await ChatTemplate.load(modelDir);
const messages = [
  { role: 'system', content: 'You write plain English.' },
  { role: 'user', content: texts[0]! },
];
const tokenizerCheck = await Promise.all(
  [...texts, longText.slice(0, 2000), 'Numbers 1,234.5 and "quotes" -- dashes; café\nnew line'].map(async (text) => ({
    text,
    ids: await tokenizer.encode(text),
    decoded: await tokenizer.decode(await tokenizer.encode(text)),
  })),
);
writeFileSync(
  join(out, 'manifest.json'),
  JSON.stringify({
    model_dir: modelDir,
    vocab,
    device,
    sequences,
    tokenizer: tokenizerCheck,
    chat: { messages, rendered: chat.render(messages, { addGenerationPrompt: true }) },
  }),
);
console.log(`wrote ${join(out, 'manifest.json')}: ${sequences.length} sequences, ${sequences.reduce((n, s) => n + s.positions.length, 0)} logit rows`);
