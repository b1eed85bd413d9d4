// Temporary directories that a test file removes when it is done.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';

/** Returns a function that makes a fresh temporary directory, all removed after the file's tests. */
export function useTempDirs(): () => string {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });
  return () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodellm-'));
    dirs.push(dir);
    return dir;
  };
}
