// `nodellm --version` and `-V` print the version in package.json, and nothing else; so does the
// installed command, bin/nodellm.js (run on the TypeScript source: helpers/bin-from-source.mjs).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { ROOT, TSX, runCli } from '../helpers/child-worker.js';

const { version } = JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as { version: string };
const FROM_SOURCE = new URL('../helpers/bin-from-source.mjs', import.meta.url).href;

describe('nodellm --version', () => {
  it.each(['--version', '-V'])('%s prints the package version and exits 0', async (flag) => {
    const run = runCli([flag]);
    expect(await run.exited).toBe(0);
    expect(run.lines).toEqual([{ stream: 'stdout', text: version, at: expect.any(Number) }]);
  });

  it('bin/nodellm.js -V prints it too', () => {
    const r = spawnSync(process.execPath, ['--import', TSX, '--import', FROM_SOURCE, `${ROOT}/bin/nodellm.js`, '-V'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${version}\n`);
  });

  it('is listed in --help', async () => {
    const run = runCli(['--help']);
    expect(await run.exited).toBe(0);
    expect(run.output()).toMatch(/-V, --version +print the version of nodellm/);
  });
});
