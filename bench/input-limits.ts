// What an oversize prompt costs the server (issue 16): a 10 MB prompt sent to /v1/completions
// is refused with a 400 before it is tokenized. Measured over HTTP against `nodellm serve` in a
// process of its own, on the embedded default model (max_model_len 512, so the cap is 8,192
// characters): the time from the request's start to the whole answer (upload and JSON parsing
// included), median of 20, and the server's RSS (/proc) over 100 such requests; beside it, in the
// same run, what the same prompt cost before the cap: tokenizing it (the tokenizer's time and
// memory, in this process).
//   npx tsx bench/input-limits.ts [--out bench/results/input-limits-<machine>.json]
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { LLM } from '../lib/llm.js';

const args = process.argv.slice(2);
const out = args.includes('--out') ? args[args.indexOf('--out') + 1]! : null;
const mb = () => process.memoryUsage().rss / 2 ** 20;
const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const port = 18000 + Math.floor(Math.random() * 2000);
const server = spawn(process.execPath, ['--import', createRequire(import.meta.url).resolve('tsx'), join(root, 'lib/cli/main.ts'), 'serve', '--port', String(port), '--host', '127.0.0.1'], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
await new Promise<void>((resolve, reject) => {
  server.stdout!.setEncoding('utf8').on('data', (d: string) => d.includes('serving') && resolve());
  server.once('exit', (code) => reject(new Error(`nodellm serve exited with ${code}`)));
});
const origin = `http://127.0.0.1:${port}`;
const body = JSON.stringify({ prompt: 'word '.repeat(2 * 1024 * 1024) }); // 10 MiB of text

const post = async () => {
  const t0 = performance.now();
  const r = await fetch(`${origin}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  await r.text();
  if (r.status !== 400) throw new Error(`expected a 400, got ${r.status}`);
  return performance.now() - t0;
};

for (let i = 0; i < 3; i++) await post(); // warm up
const times: number[] = [];
for (let i = 0; i < 20; i++) times.push(await post());
const rssBefore = rssOf(server.pid!);
for (let i = 0; i < 100; i++) await post();
const rssAfter = rssOf(server.pid!);
server.kill('SIGTERM');

// The cost the cap prevents: the tokenizer on the same 10 MiB.
const llm = await LLM.load({ numThreads: 2 });
const text = 'word '.repeat(2 * 1024 * 1024);
const tokRss = mb();
const t0 = performance.now();
const ids = await llm.tokenizer.encode(text);
const tokenizeMs = performance.now() - t0;
const tokRssAfter = mb();

await llm.close();

const result = {
  date: new Date().toISOString().slice(0, 10),
  machine: `${cpus()[0]?.model ?? 'cpu'} x ${cpus().length}`,
  node: process.version,
  refused_10mb_ms_median: Number(median(times).toFixed(1)),
  refused_10mb_ms_max: Number(Math.max(...times).toFixed(1)),
  server_rss_before_mb: Number(rssBefore.toFixed(1)),
  server_rss_growth_over_100_refused_mb: Number((rssAfter - rssBefore).toFixed(1)),
  uncapped_tokenize_10mb_ms: Number(tokenizeMs.toFixed(0)),
  uncapped_tokenize_10mb_tokens: ids.length,
  uncapped_tokenize_rss_growth_mb: Number((tokRssAfter - tokRss).toFixed(0)),
};
console.log(JSON.stringify(result, null, 2));
if (out) writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
