// Which tokenizer `bench serve` builds prompts and counts tokens with: --tokenizer (a local model
// directory), else --model when it is a local directory or the embedded default model's name (what
// a server on the embedded model serves), else the server's `root` from /v1/models when that is a
// directory here, else the embedded default model's, with a warning, so the benchmark still runs
// against a server whose model is not on this machine.
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { DEFAULT_MODEL_NAME, ensureDefaultModel } from '../models/default-model.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';

export interface BenchTokenizer {
  tokenizer: Tokenizer;
  /** What the result file records as tokenizer_id. */
  id: string;
}

const isModelDir = (p: string) => existsSync(p) && statSync(p).isDirectory() && existsSync(join(p, 'tokenizer.json'));

export async function resolveBenchTokenizer(o: {
  tokenizer?: string;
  model?: string;
  /** The model's path as the server reports it (/v1/models `root`). */
  root?: string;
  warn: (line: string) => void;
}): Promise<BenchTokenizer> {
  if (o.tokenizer) {
    if (!isModelDir(o.tokenizer)) throw new Error(`--tokenizer ${o.tokenizer} is not a local directory with a tokenizer.json`);
    return { tokenizer: await Tokenizer.load(o.tokenizer), id: resolve(o.tokenizer) };
  }
  if (o.model && isModelDir(o.model)) return { tokenizer: await Tokenizer.load(o.model), id: resolve(o.model) };
  if (o.model === DEFAULT_MODEL_NAME) return { tokenizer: await Tokenizer.load(await ensureDefaultModel()), id: DEFAULT_MODEL_NAME };
  if (o.root && isModelDir(o.root)) return { tokenizer: await Tokenizer.load(o.root), id: resolve(o.root) };
  o.warn(
    `bench: no local tokenizer (--tokenizer, or --model as a directory); building prompts and counting tokens with the embedded default model's (${DEFAULT_MODEL_NAME})`,
  );
  const dir = await ensureDefaultModel();
  return { tokenizer: await Tokenizer.load(dir), id: DEFAULT_MODEL_NAME };
}
