// Runs the real `nodellm` CLI as a child process (through tsx, so no build is needed), with the
// embedded test model's cache, and collects its output lines with the time each arrived.
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';


export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// tsx's loader by absolute URL, so the child may run in any working directory.
export const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export interface ChildRun {
  child: ChildProcess;
  lines: { stream: 'stdout' | 'stderr'; text: string; at: number }[];
  exited: Promise<number | null>;
  output(): string;
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<number>;
}

export function runCli(args: string[], env: Record<string, string> = {}, options: { cwd?: string } = {}): ChildRun {
  const child = spawn(process.execPath, ['--import', TSX, `${ROOT}/lib/cli/main.ts`, ...args], {
    cwd: options.cwd ?? ROOT,
    // A clean environment: only what the test gives, so the runner's own variables never leak in.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return watchChild(child);
}

/** Collects the output lines of a child spawned with stdout and stderr piped. */
export function watchChild(child: ChildProcess): ChildRun {
  const lines: ChildRun['lines'] = [];
  const listeners = new Set<() => void>();
  for (const stream of ['stdout', 'stderr'] as const) {
    let partial = '';
    child[stream]!.setEncoding('utf8').on('data', (data: string) => {
      const parts = (partial + data).split('\n');
      partial = parts.pop()!;
      for (const text of parts) lines.push({ stream, text, at: Date.now() });
      for (const l of listeners) l();
    });
  }
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    lines,
    exited,
    output: () => lines.map((l) => l.text).join('\n'),
    waitForLine(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const line = lines.find((l) => pattern.test(l.text));
          if (!line) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve(line.at);
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`no output line matched ${pattern}; output:\n${lines.map((l) => l.text).join('\n')}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
  };
}
