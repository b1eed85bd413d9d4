// Model downloads against a local server that mimics the hub's file routes (HF_ENDPOINT): the HF
// cache layout, the token of private repos, resumed partial files, dropped connections, and
// `nodellm download` baking a model that the worker then loads offline.
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { readWorkerConfig } from '../../lib/config/worker-config.js';
import { LLM } from '../../lib/llm.js';
import { DownloadError, downloadSnapshot } from '../../lib/models/hf-download.js';
import { resolveModel } from '../../lib/models/resolve-model.js';
import { writeRandomLlamaModel } from '../../lib/models/random-model.js';
import { runCli } from '../helpers/child-worker.js';
import { FakeHub, type HubFile } from '../helpers/fake-hub.js';
import { useTempDirs } from '../helpers/temp-dirs.js';

const tempDir = useTempDirs();
const TOKEN = 'hf_fakeHubTokenForTests123456';
let hub: FakeHub;
let files: HubFile[];
let weights: HubFile;
let sha: string;
let privateSha: string;

beforeAll(async () => {
  const dir = tempDir();
  writeRandomLlamaModel(dir, { seed: 5 });
  files = readdirSync(dir).map((name) => ({ path: name, content: readFileSync(join(dir, name)), lfs: name.endsWith('.safetensors') }));
  files.push({ path: 'pytorch_model.bin', content: Buffer.from('not needed'), lfs: true });
  weights = files.find((f) => f.path.endsWith('.safetensors'))!;
  hub = await FakeHub.start(TOKEN);
  sha = hub.addRepo('org/tiny', { files });
  privateSha = hub.addRepo('org/private-tiny', { files, private: true });
});
afterAll(async () => {
  await hub.close();
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('downloadSnapshot', () => {
  it('fills the HF cache layout: blobs by hash, snapshot links, the ref; other weight formats skipped', async () => {
    const cacheDir = tempDir();
    const result = await downloadSnapshot({ repo: 'org/tiny', cacheDir, endpoint: hub.origin });
    const folder = join(cacheDir, 'models--org--tiny');
    expect(result.commit).toBe(sha);
    expect(result.snapshotDir).toBe(join(folder, 'snapshots', sha));
    expect(readFileSync(join(folder, 'refs', 'main'), 'utf8')).toBe(sha);
    expect(result.files.sort()).toEqual(files.filter((f) => f.path !== 'pytorch_model.bin').map((f) => f.path).sort());
    for (const f of files.filter((f) => f.path !== 'pytorch_model.bin')) {
      const link = join(result.snapshotDir, f.path);
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
      expect(readFileSync(link).equals(f.content)).toBe(true);
    }
    expect(readlinkSync(join(result.snapshotDir, weights.path))).toBe(`../../blobs/${sha256(weights.content)}`);
    expect(existsSync(join(result.snapshotDir, 'pytorch_model.bin'))).toBe(false);
    expect(result.downloadedBytes).toBe(files.reduce((s, f) => s + (f.path === 'pytorch_model.bin' ? 0 : f.content.length), 0));

    // A second run fetches nothing.
    const before = hub.resolveRequests().length;
    const again = await downloadSnapshot({ repo: 'org/tiny', cacheDir, endpoint: hub.origin });
    expect(again.downloadedBytes).toBe(0);
    expect(hub.resolveRequests().length).toBe(before);
  });

  it('a private repo needs HF_TOKEN, sent as a Bearer token', async () => {
    await expect(downloadSnapshot({ repo: 'org/private-tiny', cacheDir: tempDir(), endpoint: hub.origin })).rejects.toThrow(
      /org\/private-tiny: access denied \(HTTP 401\); for a gated or private model set HF_TOKEN/,
    );
    const start = hub.requests.length;
    await downloadSnapshot({ repo: 'org/private-tiny', cacheDir: tempDir(), endpoint: hub.origin, token: TOKEN });
    const sent = hub.requests.slice(start);
    expect(sent.length).toBeGreaterThan(3);
    expect(sent.every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
  });

  it('resumes a partial file with a Range request from where it stopped', async () => {
    const cacheDir = tempDir();
    const blobs = join(cacheDir, 'models--org--tiny', 'blobs');
    mkdirSync(blobs, { recursive: true });
    const half = Math.floor(weights.content.length / 2);
    writeFileSync(join(blobs, `${sha256(weights.content)}.incomplete`), weights.content.subarray(0, half));
    const start = hub.requests.length;
    const result = await downloadSnapshot({ repo: 'org/tiny', cacheDir, endpoint: hub.origin });
    const ranges = hub.requests.slice(start).filter((r) => r.path.endsWith(weights.path)).map((r) => r.range);
    expect(ranges).toContain(`bytes=${half}-${weights.content.length - 1}`);
    expect(readFileSync(join(result.snapshotDir, weights.path)).equals(weights.content)).toBe(true);
    expect(existsSync(join(blobs, `${sha256(weights.content)}.incomplete`))).toBe(false);
  });

  it('a dropped connection mid-file is resumed; a corrupted partial file is fetched again', async () => {
    const cacheDir = tempDir();
    hub.dropAfter.set(weights.path, 100_000);
    const start = hub.requests.length;
    const result = await downloadSnapshot({ repo: 'org/tiny', cacheDir, endpoint: hub.origin, retryDelayMs: 10 });
    const ranges = hub.requests.slice(start).filter((r) => r.path.endsWith(weights.path)).map((r) => r.range);
    expect(ranges).toContain(`bytes=100000-${weights.content.length - 1}`);
    expect(readFileSync(join(result.snapshotDir, weights.path)).equals(weights.content)).toBe(true);

    const cache2 = tempDir();
    const blobs = join(cache2, 'models--org--tiny', 'blobs');
    mkdirSync(blobs, { recursive: true });
    writeFileSync(join(blobs, `${sha256(weights.content)}.incomplete`), Buffer.alloc(1000, 7));
    const again = await downloadSnapshot({ repo: 'org/tiny', cacheDir: cache2, endpoint: hub.origin, retryDelayMs: 10 });
    expect(readFileSync(join(again.snapshotDir, weights.path)).equals(weights.content)).toBe(true);
  });

  it('an unknown repo or revision is a clear error', async () => {
    await expect(downloadSnapshot({ repo: 'org/missing', cacheDir: tempDir(), endpoint: hub.origin })).rejects.toThrow(DownloadError);
    await expect(downloadSnapshot({ repo: 'org/tiny', revision: 'nope', cacheDir: tempDir(), endpoint: hub.origin })).rejects.toThrow(
      /not found on the hub \(HTTP 404\)/,
    );
  });
});

describe('MODEL_NAME as a repo id', () => {
  it('is downloaded at start-up into BASE_PATH\'s cache, then loads; offline it comes from the cache', async () => {
    const base = tempDir();
    const env = { MODEL_NAME: 'org/private-tiny', HF_ENDPOINT: hub.origin, HF_TOKEN: TOKEN, BASE_PATH: base };
    const lines: string[] = [];
    const config = readWorkerConfig(env, { localModelArgsPath: '/nonexistent' });
    const dirs = await resolveModel(config.model, config.hub, { log: (l) => lines.push(l) });
    expect(dirs.model).toBe(join(base, 'huggingface-cache', 'hub', 'models--org--private-tiny', 'snapshots', privateSha));
    expect(lines.join('\n')).not.toContain(TOKEN);

    const offline = readWorkerConfig({ ...env, HF_ENDPOINT: 'http://127.0.0.1:1', HF_HUB_OFFLINE: '1' }, { localModelArgsPath: '/nonexistent' });
    const start = hub.requests.length;
    expect(await resolveModel(offline.model, offline.hub, { log: () => {} })).toEqual(dirs);
    expect(hub.requests.length).toBe(start);
    const llm = await LLM.load({ ...config.engine, ...dirs, numThreads: 2 });
    expect(llm.modelName).toBe('org/private-tiny');
    expect((await llm.generate('Hi', { max_tokens: 3, ignore_eos: true })).outputs[0]!.tokenIds).toHaveLength(3);
    await llm.close();

    // A separate tokenizer repo: only the tokenizer's files are fetched.
    hub.addRepo('org/tok', { files });
    const withTok = readWorkerConfig({ ...env, MODEL_NAME: '', TOKENIZER_NAME: 'org/tok' }, { localModelArgsPath: '/nonexistent' });
    const tok = await resolveModel(withTok.model, withTok.hub, { log: () => {} });
    expect(tok.model).toBeUndefined();
    expect(readdirSync(tok.tokenizer!).sort()).toEqual(['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json']);

    const missing = readWorkerConfig({ MODEL_NAME: 'org/not-cached', HF_HUB_OFFLINE: '1', BASE_PATH: base }, { localModelArgsPath: '/nonexistent' });
    await expect(resolveModel(missing.model, missing.hub, { log: () => {} })).rejects.toThrow(/org\/not-cached is not in the HF cache/);
  });
});

describe('nodellm download (child process)', () => {
  it('downloads with progress, writes the baked-model args, and the worker then runs offline from them', async () => {
    const base = tempDir();
    const argsFile = join(tempDir(), 'local_model_args.json');
    const run = runCli(['download', 'org/private-tiny', '--revision', 'main', '--write-model-args', argsFile], {
      HF_ENDPOINT: hub.origin,
      HF_TOKEN: TOKEN,
      BASE_PATH: base,
    });
    expect(await run.exited).toBe(0);
    const cache = join(base, 'huggingface-cache', 'hub');
    const snapshot = join(cache, 'models--org--private-tiny', 'snapshots', privateSha);
    expect(run.lines.filter((l) => l.stream === 'stdout').map((l) => l.text)).toEqual([snapshot]);
    expect(run.output()).toMatch(/org\/private-tiny: \d+ files, [\d.]+ MB/);
    expect(run.output()).toMatch(/org\/private-tiny: 100\.0%/);
    expect(run.output()).not.toContain(TOKEN);
    expect(JSON.parse(readFileSync(argsFile, 'utf8'))).toEqual({ MODEL_NAME: 'org/private-tiny', MODEL_REVISION: privateSha, HF_HUB_CACHE: cache });

    // At run time the baked args win over MODEL_NAME, and nothing is fetched.
    const config = readWorkerConfig({ MODEL_NAME: 'org/something-else', HF_ENDPOINT: hub.origin }, { localModelArgsPath: argsFile });
    const start = hub.requests.length;
    const dirs = await resolveModel(config.model, config.hub, { log: () => {} });
    expect(dirs.model).toBe(snapshot);
    expect(hub.requests.length).toBe(start);
  });
});
