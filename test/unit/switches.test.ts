// The experiment switches of the native core are read in one place (native/common/switches.cc),
// which lists each with its default and purpose; nothing else in native/ or kernels/ reads the
// environment, and every NODELLM_ variable the sources name is one of that list.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const SWITCHES = 'native/common/switches.cc';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.(cc|h|cu|cuh)$/.test(name) ? [relative(root, path)] : [];
  });
}

const files = [...sources(join(root, 'native')), ...sources(join(root, 'kernels'))];

describe('experiment switches', () => {
  it('are read from the environment only in native/common/switches.cc', () => {
    const readers = files.filter((f) => /\bgetenv\s*\(/.test(readFileSync(join(root, f), 'utf8')));
    expect(readers).toEqual([SWITCHES]);
  });

  it('every NODELLM_ variable the native sources name is one switches.cc reads and switches.h documents', () => {
    const listed = new Set(readFileSync(join(root, SWITCHES), 'utf8').match(/env\("(NODELLM_[A-Z0-9_]+)"\)/g)!.map((m) => m.slice(5, -2)));
    const header = readFileSync(join(root, 'native/common/switches.h'), 'utf8');
    for (const name of listed) expect(header, name).toContain(name);
    const texts = files.map((f) => readFileSync(join(root, f), 'utf8'));
    const named = new Set(texts.flatMap((t) => t.match(/NODELLM_[A-Z][A-Z0-9_]+/g) ?? []));
    // Macros (#define NODELLM_...) and CMake's compile definition are names of code, not switches.
    for (const t of texts) for (const m of t.matchAll(/#define (NODELLM_[A-Z0-9_]+)/g)) named.delete(m[1]!);
    named.delete('NODELLM_WITH_CUDA');
    for (const name of named) expect(listed.has(name), `${name} is read somewhere but not listed in ${SWITCHES}`).toBe(true);
  });
});
