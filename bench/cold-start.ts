// Time from process start to the first token: spawns `nodellm serve` on a model directory and,
// from the moment of the spawn, keeps sending one streamed completion until the server accepts
// it, then stops the clock at the first streamed token. With the weights in the page cache this is
// the cold start a serverless worker pays (issue 5: at most 15 s; vLLM takes a minute or more).
//   node .device/js/bench/cold-start.js MODEL_DIR [--out result.json] [--runs 2]
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const modelDir: string = args[0] ?? '';
if (!modelDir) throw new Error('usage: cold-start MODEL_DIR [--out FILE] [--runs N]');
const outFile = args.includes('--out') ? args[args.indexOf('--out') + 1]! : 'cold-start.json';
const runs = args.includes('--runs') ? Number(args[args.indexOf('--runs') + 1]) : 2;
const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'lib', 'cli', 'main.js');
const port = 8123;

async function firstToken(): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', prompt: 'The capital of France is', max_tokens: 1, stream: true }),
    });
    if (!res.ok || !res.body) return false;
    for await (const chunk of res.body) if (Buffer.from(chunk).toString().includes('"text"')) return true;
    return false;
  } catch {
    return false;  // not listening yet
  }
}

async function once() {
  const t0 = performance.now();
  const child = spawn(process.execPath, [cli, 'serve', '--model', modelDir, '--served-model-name', 'm', '--port', String(port), '--max-model-len', '4096'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let ready = 0;
  let log = '';
  child.stdout.on('data', (d: Buffer) => {
    log += d.toString();
    if (!ready && log.includes('nodellm serving')) ready = performance.now();
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let ok = false;
  while (!ok && child.exitCode === null) {
    ok = await firstToken();
    if (!ok) await new Promise((r) => setTimeout(r, 50));
  }
  const t1 = performance.now();
  child.kill('SIGTERM');
  await exited;
  if (!ok) throw new Error(`the server exited before answering:\n${log}`);
  return { seconds_to_first_token: (t1 - t0) / 1000, seconds_to_listening: (ready - t0) / 1000, server_log: log.trim() };
}

const results = [];
for (let i = 0; i < runs; i++) {
  const r = await once();
  console.log(`run ${i + 1}: first token ${r.seconds_to_first_token.toFixed(2)} s after process start (listening at ${r.seconds_to_listening.toFixed(2)} s)`);
  results.push(r);
}
writeFileSync(outFile, JSON.stringify({ date: new Date().toISOString(), model: modelDir, runs: results }, null, 2) + '\n');
