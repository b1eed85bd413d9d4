// The embedded default model: `nodellm/brown-llama-6l`, a small Llama (6 layers, hidden 256,
// 5.28M parameters, bfloat16, vocabulary 4096, context 512) trained on the Brown Corpus by
// scripts/train-default-model.py. Its files ship with the package in models/brown-llama-6l/, so
// nodellm works offline with no download and its first run writes English (README, "The embedded
// default model"). Tests that need other shapes generate random models (random-model.ts).

import * as fs from 'node:fs';
import * as path from 'node:path';

import { packageRoot } from '../package-root.js';

export const DEFAULT_MODEL_NAME = 'nodellm/brown-llama-6l';

/** The default model's folder, relative to the package root. */
const DEFAULT_MODEL_DIR = path.join('models', 'brown-llama-6l');

/** Returns the default model's directory: the package's models/brown-llama-6l. */
export async function ensureDefaultModel(): Promise<string> {
  const dir = path.join(packageRoot(), DEFAULT_MODEL_DIR);
  if (!fs.existsSync(path.join(dir, 'config.json')) || !fs.existsSync(path.join(dir, 'model.safetensors'))) {
    throw new Error(`nodellm: the embedded default model ${DEFAULT_MODEL_NAME} is missing from ${dir}; reinstall the package`);
  }
  return dir;
}
