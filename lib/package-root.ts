// The folder holding nodellm's package.json, from lib/ (tsx) or dist/lib/ (compiled) alike: where
// the native addon (build/Release) and the embedded default model (models/) are found.
import { existsSync, readFileSync } from 'node:fs';
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

/** nodellm's version, from its package.json ('unknown' if it cannot be read). */
export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}
