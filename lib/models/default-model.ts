// The embedded default model: `nodellm/brown-llama-6l`, a small Llama (6 layers, hidden 256,
// 5.28M parameters, bfloat16, vocabulary 4096, context 512) trained on the Brown Corpus by
// scripts/train-default-model.py. Its files ship with the package in models/brown-llama-6l/, so
// nodellm works offline with no download and its first run writes English (README, "The embedded
// default model"). Tests that need other shapes generate random models (random-model.ts).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const DEFAULT_MODEL_NAME = 'nodellm/brown-llama-6l';

/** The default model's folder, relative to the package root. */
const DEFAULT_MODEL_DIR = path.join('models', 'brown-llama-6l');

/**
 * nodellm's cache folder ($NODELLM_CACHE, else ~/.cache/nodellm). The default model no longer
 * lives there (it ships with the package); kept for callers that name a cache folder.
 */
export function defaultCacheDir(): string {
  // An empty NODELLM_CACHE counts as unset, as shells make it easy to set one by accident.
  return process.env.NODELLM_CACHE || path.join(os.homedir(), '.cache', 'nodellm');
}

/**
 * Returns the default model's directory: the package's models/brown-llama-6l. `cacheDir` is
 * accepted for compatibility and ignored: nothing is generated or downloaded any more.
 */
export async function ensureDefaultModel(_opts: { cacheDir?: string } = {}): Promise<string> {
  const dir = path.join(packageRoot(), DEFAULT_MODEL_DIR);
  if (!fs.existsSync(path.join(dir, 'config.json')) || !fs.existsSync(path.join(dir, 'model.safetensors'))) {
    throw new Error(`nodellm: the embedded default model ${DEFAULT_MODEL_NAME} is missing from ${dir}; reinstall the package`);
  }
  return dir;
}

/** The folder holding nodellm's package.json, from lib/ (tsx) or dist/lib/ (compiled) alike. */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('nodellm: cannot find the package root');
    dir = parent;
  }
  return dir;
}
