// `npm start` on the embedded default model, stopped the way a process manager or a terminal stops
// it: SIGTERM or SIGINT to npm, and SIGINT to npm's whole process group (Ctrl-C), with a stream
// under way. Each time the server drains (the stream ends whole), exits, npm exits 0 after it, and
// the port is closed. npm forwards SIGTERM and
// SIGINT to its script's process, but that process is `sh -c "<script>"`, and dash (Debian's sh)
// keeps itself between npm and the command: SIGTERM killed sh and left the server running,
// orphaned, on its port; SIGINT reached nothing. The script `exec`s node, so the process npm
// signals is the server. Ctrl-C reaches the server twice (from the terminal and through npm),
// which must count as one signal, not as the second that exits at once without draining.
//
// bin/nodellm.js imports the compiled CLI (dist/); helpers/bin-from-source.mjs has it run the
// TypeScript source, so the test needs no build.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';

import { afterAll, describe, expect, it } from 'vitest';

import { type ChildRun, ROOT, TSX, watchChild } from '../helpers/child-worker.js';
import { portForChild, postJSON } from '../helpers/http-server.js';

const FROM_SOURCE = new URL('../helpers/bin-from-source.mjs', import.meta.url).href;

/** ppid of every process, from /proc. */
function parents(): Map<number, number> {
  const map = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'.
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      map.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // Gone since the listing.
    }
  }
  return map;
}

function descendants(pid: number): number[] {
  const ppid = parents();
  const found: number[] = [];
  const queue = [pid];
  while (queue.length) {
    const parent = queue.shift()!;
    for (const [child, p] of ppid) if (p === parent && !found.includes(child)) (found.push(child), queue.push(child));
  }
  return found;
}

/** Whether the process still runs (a zombie does not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

const spawned: number[] = [];
afterAll(() => {
  // Whatever a failed test left running: these processes only, by id.
  for (const pid of spawned) if (alive(pid)) process.kill(pid, 'SIGKILL');
});

interface Started {
  npm: ChildProcess;
  run: ChildRun;
  port: number;
  /** npm's processes below it: the script's shell (if any) and the server. */
  below: number[];
}

async function npmStart(): Promise<Started> {
  const port = await portForChild();
  const npm = spawn('npm', ['start', '--', '--host', '127.0.0.1', '--port', String(port), '--max-model-len', '256'], {
    cwd: ROOT,
    // Its own process group, as a terminal's foreground job: the Ctrl-C case signals all of it.
    detached: true,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      NODE_OPTIONS: `--import ${TSX} --import ${FROM_SOURCE}`,
      npm_config_update_notifier: 'false',
      npm_config_fund: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  spawned.push(npm.pid!);
  const run = watchChild(npm);
  await run.waitForLine(/nodellm serving/, 90_000);
  const below = descendants(npm.pid!);
  spawned.push(...below);
  expect(await connects(port)).toBe(true);
  return { npm, run, port, below };
}

/** npm's exit code, or 'running' if it has not exited within `ms`. */
function exitWithin(run: ChildRun, ms: number): Promise<number | null | 'running'> {
  return Promise.race([run.exited, new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), ms))]);
}

describe.skipIf(process.platform !== 'linux')('npm start', () => {
  it.each([
    ['SIGTERM to npm', 'SIGTERM', false],
    ['SIGINT to npm', 'SIGINT', false],
    ["SIGINT to npm's process group (Ctrl-C)", 'SIGINT', true],
  ] as const)('%s stops the server: it drains, exits, and the port closes', async (_name, signal, group) => {
    const { npm, run, port, below } = await npmStart();
    expect(below.length).toBeGreaterThan(0);
    // A stream under way, so the drain lasts: a signal delivered twice would cut it short.
    const response = await postJSON(`http://127.0.0.1:${port}/v1/completions`, { prompt: 'Once upon a time', max_tokens: 200, ignore_eos: true, stream: true });
    const reader = response.body!.getReader();
    await reader.read();
    process.kill(group ? -npm.pid! : npm.pid!, signal);
    let text = '';
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += new TextDecoder().decode(r.value);
    const code = await exitWithin(run, 30_000);
    const output = run.output();
    // Without the CUDA backend, the start-up line says which of nvcc and cuBLAS is missing.
    const serving = output.split('\n').find((l) => l.includes('nodellm serving'))!;
    expect(serving).not.toContain('were not found when it was built');
    if (serving.includes('no CUDA backend')) expect(serving).toMatch(/no CUDA backend: (nvcc|cuBLAS|it was built)/);
    expect(code, output).toBe(0);
    expect(below.filter(alive), output).toEqual([]);
    expect(await connects(port)).toBe(false);
    expect(output).toContain(`${signal}: not accepting connections`);
    expect(output).not.toContain('again: exiting now');
    expect(output).toMatch(/shut down in \d+\.\d s: drained \(1 request was in flight, all finished\)/);
    expect(text).toContain('"finish_reason":"length"');
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
  });
});
