// The embedded default model: a tiny Llama 3 shaped model with seeded random weights and the real
// Llama 3 tokenizer. It is generated on first use into a cache folder, so nodellm works offline
// with no download. Its text is noise; it exists so every path of the engine can run anywhere.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeRandomLlamaModel } from './random-model.js';

export const DEFAULT_MODEL_NAME = 'nodellm/tiny-random-llama3';

// Bump the version whenever the generator's output changes (weights, config or tokenizer), so
// caches written by an older nodellm are not mistaken for the new model.
const DEFAULT_MODEL_DIR = 'tiny-random-llama3-v2';
const DEFAULT_MODEL_SEED = 1;

export function defaultCacheDir(): string {
  // An empty NODELLM_CACHE counts as unset, as shells make it easy to set one by accident.
  return process.env.NODELLM_CACHE || path.join(os.homedir(), '.cache', 'nodellm');
}

/** Returns the default model's directory, generating it on first use. */
export async function ensureDefaultModel(opts: { cacheDir?: string } = {}): Promise<string> {
  const modelsDir = path.join(path.resolve(opts.cacheDir ?? defaultCacheDir()), 'models');
  const target = path.join(modelsDir, DEFAULT_MODEL_DIR);
  // The directory only ever appears through the rename below, so its presence means complete.
  if (fs.existsSync(target)) return target;

  fs.mkdirSync(modelsDir, { recursive: true });
  removeStaleTempDirs(modelsDir);
  const tmp = fs.mkdtempSync(path.join(modelsDir, `${TEMP_PREFIX}${process.pid}-`));
  try {
    writeRandomLlamaModel(tmp, { seed: DEFAULT_MODEL_SEED });
    try {
      fs.renameSync(tmp, target);
    } catch (err) {
      // Another process finished first; its copy is identical, so use it.
      const code = (err as NodeJS.ErrnoException).code;
      if ((code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'EPERM') && fs.existsSync(target)) return target;
      throw err;
    }
  } finally {
    // After a successful rename tmp is gone; otherwise remove the partial copy.
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return target;
}

const TEMP_PREFIX = `.${DEFAULT_MODEL_DIR}.tmp-`;
const STALE_AFTER_MS = 60 * 60 * 1000; // generation takes seconds; an hour-old temp dir is a crash's leftover

function removeStaleTempDirs(modelsDir: string): void {
  for (const name of fs.readdirSync(modelsDir)) {
    if (!name.startsWith(TEMP_PREFIX)) continue;
    const dir = path.join(modelsDir, name);
    try {
      if (Date.now() - fs.statSync(dir).mtimeMs > STALE_AFTER_MS) fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // Another process removed or renamed it meanwhile: nothing to clean.
    }
  }
}
