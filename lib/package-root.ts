// The folder holding nodellm's package.json, from lib/ (tsx) or dist/lib/ (compiled) alike: where
// the native addon (build/Release) and the embedded default model (models/) are found.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('nodellm: cannot find the package root');
    dir = parent;
  }
  return dir;
}
