// README.md's examples, run as written on the embedded default model (context 512), so they cannot
// drift from the code again (issue 18). Every command of every shell block is either run here or
// named in SKIPPED with the reason; a new command that is neither fails the first test, and so
// does a SKIPPED or RUN entry that no longer matches anything.
//
// - The `nodellm` of a command is the repository's CLI: `node bin/nodellm.js` when dist/ is built
//   from the current sources (as after `npm ci`), else lib/cli/main.ts through tsx (what
//   bin/nodellm.js runs once built). Each command runs through bash in its own temporary
//   directory (result files land there) with a clean environment (PATH and HOME only).
// - Ports: the README's 8000 becomes a free port, in URLs and --port / --rp_api_port flags; a
//   worker API example with no --rp_api_port gets one. Nothing else in a command is changed
//   (but a trailing # comment, dropped).
// - Server examples (curl, `nodellm bench serve`, the openai client): `nodellm serve` is started
//   in the background on that port as the README starts it (npm start is `nodellm serve`), they
//   run against it once /health answers, and it is stopped with SIGTERM (exit code 0).
// - Worker API examples (`nodellm worker --rp_serve_api ...`) are started in the background, and
//   the README's JSON job inputs are sent to their /runsync; then SIGTERM.
// - TypeScript blocks, and the example in lib/llm.ts's header comment, are written to a hidden
//   folder beside this file with 'nodellm' mapped to lib/index.js, type-checked with the
//   project's compiler options, and run (the openai one against the server).
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { portForChild } from '../helpers/http-server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const require = createRequire(import.meta.url);
const TSX = pathToFileURL(require.resolve('tsx')).href;
const TSC = require.resolve('typescript/bin/tsc');

/** Shell commands not run here, keyed by a snippet of the command (or a pattern), with the reason. */
const SKIPPED: { snippet: string | RegExp; reason: string }[] = [
  {
    snippet: 'npm ci && npm start',
    reason:
      'npm ci reinstalls node_modules from the registry and rebuilds the native addon (network, minutes); ' +
      'npm start is `nodellm serve`, which this file starts for the server examples',
  },
  { snippet: /^npm test$/, reason: 'the whole test suite, this file included' },
  { snippet: 'scripts/train-default-model.py', reason: 'trains with PyTorch on a CUDA GPU (--device cuda)' },
  { snippet: 'nodellm download ', reason: 'downloads a model from the Hugging Face Hub (network; a gated repository)' },
  { snippet: 'docker build', reason: 'needs a Docker engine, and pulls a CUDA base image (network)' },
  {
    snippet: '--dataset sharegpt',
    reason: 'needs ShareGPT_V3_unfiltered_cleaned_split.json (a 640 MB download) and a model with a 2,048-token context',
  },
];

type How = 'foreground' | 'server' | 'worker-api';
/**
 * Shell commands run here, by kind (a snippet, or a pattern where a snippet would also take in
 * commands that reach other hosts); a command matching none of these nor SKIPPED fails.
 */
const RUN: { snippet: string | RegExp; how: How }[] = [
  { snippet: 'npx tsx scripts/extract-brown-corpus.ts', how: 'foreground' },
  { snippet: 'nodellm worker --test_input ', how: 'foreground' },
  { snippet: 'nodellm bench latency ', how: 'foreground' },
  { snippet: 'nodellm bench throughput ', how: 'foreground' },
  { snippet: /^curl (-N )?http:\/\/localhost:8000\//, how: 'server' },
  { snippet: /^nodellm bench serve .*\b(localhost|127\.0\.0\.1):8000\b/, how: 'server' },
  { snippet: 'nodellm worker --rp_serve_api', how: 'worker-api' },
];

/** TypeScript blocks run against the server (the others run alone). */
const TS_SERVER_SNIPPET = 'localhost:8000';

interface Block {
  lang: string;
  code: string;
  line: number;
}

function fencedBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^\s*```([\w-]*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const line = i + 1;
    const body: string[] = [];
    for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    blocks.push({ lang: open[1]!.toLowerCase(), code: body.join('\n'), line });
  }
  return blocks;
}

/** A command's text without a trailing `# comment` (outside quotes). */
function stripComment(command: string): string {
  let quote: string | null = null;
  for (let i = 0; i < command.length; i++) {
    const c = command[i]!;
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === "'" || c === '"') {
      quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(command[i - 1]!))) {
      return command.slice(0, i).trimEnd();
    }
  }
  return command.trimEnd();
}

interface Command {
  text: string;
  /** README line of the command's first line. */
  line: number;
}

/** The commands of a shell block: continuation lines joined, comments and blank lines dropped. */
function shellCommands(block: Block): Command[] {
  const commands: Command[] = [];
  const lines = block.code.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = block.line + 1 + i;
    let text = lines[i]!;
    while (text.endsWith('\\') && i + 1 < lines.length) text = `${text.slice(0, -1).trimEnd()} ${lines[++i]!.trim()}`;
    text = stripComment(text.trim());
    if (text) commands.push({ text, line });
  }
  return commands;
}

const SHELL = new Set(['sh', 'bash', 'shell', 'console']);
const TS = new Set(['ts', 'typescript']);
/** JavaScript blocks run as TypeScript's do (without the type check). */
const JS = new Set(['js', 'javascript', 'mjs']);
/** Fenced blocks that are not code to run: JSON is sent to the worker API; an unlabelled block is a diagram. */
const DATA = new Set(['json', '']);

const blocks = fencedBlocks(README);
const commands = blocks.filter((b) => SHELL.has(b.lang)).flatMap(shellCommands);
const matches = (snippet: string | RegExp, text: string) => (typeof snippet === 'string' ? text.includes(snippet) : snippet.test(text));
const classified = commands.map((c) => {
  const skip = SKIPPED.find((s) => matches(s.snippet, c.text));
  const run = skip ? undefined : RUN.find((r) => matches(r.snippet, c.text));
  return { ...c, skip, run };
});
const ofKind = (how: How) => classified.filter((c) => c.run?.how === how);
const tsBlocks = blocks.filter((b) => TS.has(b.lang) || JS.has(b.lang));
const jobInputs = blocks.filter((b) => b.lang === 'json');

/** The repository's `nodellm`, as a shell command prefix. */
function nodellmCommand(): { prefix: string; via: string } {
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const built = path.join(ROOT, 'dist/lib/cli/main.js');
  const newest = (dir: string): number =>
    fs
      .readdirSync(dir, { withFileTypes: true })
      .map((e) => (e.isDirectory() ? newest(path.join(dir, e.name)) : e.name.endsWith('.ts') ? fs.statSync(path.join(dir, e.name)).mtimeMs : 0))
      .reduce((a, b) => Math.max(a, b), 0);
  if (fs.existsSync(built) && fs.statSync(built).mtimeMs >= newest(path.join(ROOT, 'lib'))) {
    return { prefix: `${q(process.execPath)} ${q(path.join(ROOT, 'bin/nodellm.js'))}`, via: 'bin/nodellm.js (dist/ is current)' };
  }
  return {
    prefix: `${q(process.execPath)} --import ${q(TSX)} ${q(path.join(ROOT, 'lib/cli/main.ts'))}`,
    via: 'lib/cli/main.ts through tsx (dist/ is older than lib/; `npm run build:ts` to run bin/nodellm.js)',
  };
}
const NODELLM = nodellmCommand();

/** The command as it runs here: the repository's nodellm, and `port` for the README's 8000. */
function prepare(text: string, port: number): string {
  let out = text
    .replace(/^(?:npx )?nodellm(?= )/, NODELLM.prefix)
    .replace(/\b(localhost|127\.0\.0\.1):8000\b/g, `$1:${port}`)
    .replace(/(--(?:rp_api_)?port[ =])8000\b/g, `$1${port}`);
  if (out.includes('--rp_serve_api') && !out.includes('--rp_api_port')) out += ` --rp_api_port ${port}`;
  return out;
}

const tempDirs: string[] = [];
/** A fresh working directory where `scripts` and `node_modules` are the repository's (for `npx tsx scripts/...`). */
function workDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodellm-readme-'));
  tempDirs.push(dir);
  for (const name of ['scripts', 'node_modules']) fs.symlinkSync(path.join(ROOT, name), path.join(dir, name));
  return dir;
}

const ENV = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.tmpdir() };

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function spawnCommand(command: string, cwd: string): ChildProcess {
  return spawn('bash', ['-c', command], { cwd, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
}

function collect(child: ChildProcess, timeoutMs: number): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? -1 : null), stdout, stderr });
    });
  });
}

const tail = (r: Ran) => `exit ${r.code}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-3000)}`;

/** Waits until GET `url` answers 200, failing early if `child` exits. */
async function waitForHealth(url: string, child: ChildProcess, output: () => string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode} before ${url} answered:\n${output()}`);
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms:\n${output()}`);
}

/** A command started in the background (bash execs it, so the signal reaches nodellm itself). */
function background(command: string, cwd: string) {
  const child = spawnCommand(`exec ${command}`, cwd);
  const exited = collect(child, 600_000);
  let out = '';
  child.stdout!.on('data', (d: string) => (out += d));
  child.stderr!.on('data', (d: string) => (out += d));
  return {
    child,
    output: () => out.slice(-4000),
    async stop(): Promise<Ran> {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const ran = await exited;
      clearTimeout(timer);
      return ran;
    },
  };
}

/** What a finished command must have produced, beyond exit code 0. */
function checkOutput(command: string, ran: Ran, cwd: string): void {
  const out = ran.stdout.trim();
  if (command.startsWith('curl ')) {
    expect(out, tail(ran)).not.toMatch(/"error"/);
    if (/"stream":\s*true/.test(command)) {
      expect(out, tail(ran)).toMatch(/^data: \{/);
      expect(out.endsWith('data: [DONE]'), tail(ran)).toBe(true);
    } else {
      const body = JSON.parse(out) as { choices?: unknown[] };
      expect(body.choices?.length, tail(ran)).toBeGreaterThan(0);
    }
  } else if (command.includes('nodellm worker --test_input')) {
    const result = JSON.parse(out.split('\n').at(-1)!) as { output?: unknown[]; error?: unknown };
    expect(result.error, tail(ran)).toBeUndefined();
    expect(Array.isArray(result.output), tail(ran)).toBe(true);
  } else if (command.includes('nodellm bench ')) {
    expect(out, tail(ran)).toMatch(/Benchmark Result/);
    const file = /--(?:result-file|output-json)[ =](\S+)/.exec(command)?.[1];
    if (file) {
      const result = JSON.parse(fs.readFileSync(path.join(cwd, file), 'utf8')) as { completed?: number; failed?: number; num_prompts?: number };
      if (command.includes('bench serve')) {
        expect(result.failed, tail(ran)).toBe(0);
        expect(result.completed, tail(ran)).toBe(result.num_prompts);
      }
    }
  } else if (command.includes('extract-brown-corpus')) {
    expect(fs.statSync(path.join(cwd, '.device/corpus/brown.jsonl')).size).toBeGreaterThan(1_000_000);
  }
}

async function runForeground(text: string, port: number, timeoutMs: number): Promise<void> {
  const cwd = workDir();
  const command = prepare(text, port);
  const ran = await collect(spawnCommand(command, cwd), timeoutMs);
  expect(ran.code, `${command}\n${tail(ran)}`).toBe(0);
  checkOutput(text, ran, cwd);
}

// TypeScript examples: README's ts blocks and lib/llm.ts's header comment, in a hidden folder
// beside this file (tsconfig's test/**/*.ts skips hidden folders; vitest runs only *.test.ts).
const TS_DIR = path.join(ROOT, 'test/e2e', `.readme-examples-${process.pid}`);
const LIB_INDEX = path.relative(TS_DIR, path.join(ROOT, 'lib/index.js')).split(path.sep).join('/');

interface TsExample {
  name: string;
  file: string;
  server: boolean;
}

/** The header comment's example of lib/llm.ts: the `//   ` lines before the first import. */
function llmHeaderExample(): string {
  const source = fs.readFileSync(path.join(ROOT, 'lib/llm.ts'), 'utf8');
  const header = source.slice(0, source.search(/^import /m));
  const code = header
    .split('\n')
    .filter((l) => l.startsWith('//   '))
    .map((l) => l.slice(5))
    .join('\n');
  if (!code.includes('LLM.load(')) throw new Error('lib/llm.ts: no example found in the header comment (lines starting `//   `)');
  return `import { LLM } from 'nodellm';\n${code}\n`;
}

function writeTsExamples(port: number): TsExample[] {
  fs.mkdirSync(TS_DIR, { recursive: true });
  const sources = [
    ...tsBlocks.map((b) => ({ name: `README.md:${b.line}`, code: b.code, server: b.code.includes(TS_SERVER_SNIPPET), ext: JS.has(b.lang) ? 'mjs' : 'ts' })),
    { name: 'lib/llm.ts header', code: llmHeaderExample(), server: false, ext: 'ts' },
  ];
  const examples = sources.map((s, i) => {
    const file = path.join(TS_DIR, `example-${i}.${s.ext}`);
    const code = s.code
      .replace(/from\s+(['"])nodellm\1/g, `from '${LIB_INDEX}'`)
      .replace(/\b(localhost|127\.0\.0\.1):8000\b/g, `$1:${port}`);
    fs.writeFileSync(file, `// ${s.name}\n${code}\n`);
    return { name: s.name, file, server: s.server };
  });
  fs.writeFileSync(
    path.join(TS_DIR, 'tsconfig.json'),
    JSON.stringify({ extends: '../../../tsconfig.json', compilerOptions: { noEmit: true, rootDir: '../../..' }, include: ['*.ts'] }),
  );
  return examples;
}

async function runTs(example: TsExample): Promise<void> {
  const child = spawn(process.execPath, ['--import', TSX, example.file], { cwd: TS_DIR, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  const ran = await collect(child, 60_000);
  expect(ran.code, `${example.name}\n${tail(ran)}`).toBe(0);
}

let port = 0;
let tsExamples: TsExample[] = [];

beforeAll(async () => {
  port = await portForChild();
  tsExamples = writeTsExamples(port);
  console.info(`README examples: nodellm is ${NODELLM.via}`);
});

afterAll(() => {
  fs.rmSync(TS_DIR, { recursive: true, force: true });
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

describe('README.md examples', () => {
  it('every shell command is run here or skipped with a reason; every block is of a known kind', () => {
    const unknownBlocks = blocks.filter((b) => !SHELL.has(b.lang) && !TS.has(b.lang) && !JS.has(b.lang) && !DATA.has(b.lang));
    expect(unknownBlocks.map((b) => `README.md:${b.line} \`\`\`${b.lang}`), 'blocks of a language this test does not handle').toEqual([]);
    const unclassified = classified.filter((c) => !c.skip && !c.run);
    expect(
      unclassified.map((c) => `README.md:${c.line}: ${c.text}`),
      'README commands neither run by this test (RUN) nor listed in SKIPPED with a reason',
    ).toEqual([]);
    const stale = [...SKIPPED, ...RUN].filter((r) => !commands.some((c) => matches(r.snippet, c.text))).map((r) => String(r.snippet));
    expect(stale, 'SKIPPED or RUN entries that match no README command').toEqual([]);
    expect(tsBlocks.length).toBeGreaterThan(0);
    expect(jobInputs.length).toBeGreaterThan(0);
    // Say what is skipped, so nothing is dropped silently.
    const skipped = classified.filter((c) => c.skip).map((c) => `  README.md:${c.line}: ${c.text}\n    skipped: ${c.skip!.reason}`);
    console.info(`README shell commands: ${classified.length - skipped.length} run, ${skipped.length} skipped:\n${skipped.join('\n')}`);
  });

  it('TypeScript examples type-check with the project\'s compiler options', async () => {
    const ran = await collect(spawn(process.execPath, [TSC, '-p', path.join(TS_DIR, 'tsconfig.json')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }), 90_000);
    const names = tsExamples.map((e) => `${path.basename(e.file)}: ${e.name}`).join('\n');
    expect(ran.code, `${names}\n${tail(ran)}`).toBe(0);
  }, 100_000);

  it('TypeScript examples that need no server run on the default model', async () => {
    const alone = tsExamples.filter((e) => !e.server);
    expect(alone.length).toBeGreaterThan(0);
    for (const example of alone) await runTs(example);
  }, 120_000);

  for (const c of ofKind('foreground')) {
    it(`runs README.md:${c.line}: ${c.text}`, () => runForeground(c.text, port, 110_000), 120_000);
  }

  for (const c of ofKind('worker-api')) {
    it(`runs README.md:${c.line} in the background and answers the README's job inputs: ${c.text}`, async () => {
      const cwd = workDir();
      const command = prepare(c.text, port);
      expect(command, 'the port was not substituted').toContain(`--rp_api_port ${port}`);
      const api = background(command, cwd);
      try {
        await waitForHealth(`http://127.0.0.1:${port}/health`, api.child, api.output);
        for (const block of jobInputs) {
          const body = JSON.parse(block.code) as unknown;
          const response = await fetch(`http://127.0.0.1:${port}/runsync`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
          const view = (await response.json()) as { status?: string; output?: unknown[]; error?: unknown };
          expect({ job: `README.md:${block.line}`, status: response.status, jobStatus: view.status, error: view.error }).toEqual({
            job: `README.md:${block.line}`,
            status: 200,
            jobStatus: 'COMPLETED',
            error: undefined,
          });
          expect(Array.isArray(view.output)).toBe(true);
        }
      } finally {
        const ran = await api.stop();
        expect(ran.code, tail(ran)).toBe(0);
      }
    }, 120_000);
  }

  describe('against `nodellm serve`', () => {
    let server: ReturnType<typeof background>;

    beforeAll(async () => {
      server = background(`${NODELLM.prefix} serve --host 127.0.0.1 --port ${port}`, workDir());
      await waitForHealth(`http://127.0.0.1:${port}/health`, server.child, server.output);
    }, 120_000);

    afterAll(async () => {
      const ran = await server.stop();
      expect(ran.code, tail(ran)).toBe(0);
    }, 60_000);

    for (const c of ofKind('server')) {
      it(`runs README.md:${c.line}: ${c.text}`, () => runForeground(c.text, port, 110_000), 120_000);
    }

    it('runs the TypeScript examples that call the server', async () => {
      const onServer = tsExamples.filter((e) => e.server);
      expect(onServer.length).toBeGreaterThan(0);
      for (const example of onServer) await runTs(example);
    }, 120_000);
  });
});
