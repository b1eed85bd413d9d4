// Downloads a model repository snapshot into the HF cache with @huggingface/hub: the commit of
// the revision (modelInfo), the file list (listFiles), then each file (downloadFile) into
// blobs/<etag>.incomplete, resumed from where an earlier attempt stopped (a Range request),
// checked against its hash (sha256 for LFS files, the git blob sha1 otherwise), and renamed into
// place; then the snapshot links and the ref. Files already in the cache are not fetched again.
// HF_ENDPOINT picks the hub; HF_TOKEN is sent to that hub's origin only.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, rename, rm, stat, symlink, copyFile, writeFile, readlink } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';

import { type ListFileEntry, downloadFile, listFiles, modelInfo } from '@huggingface/hub';

import { COMMIT_HASH, repoFolderName } from './hf-cache.js';

export interface DownloadProgress {
  start(totalBytes: number, files: number): void;
  /** Bytes received (or found already present) for a file. */
  advance(bytes: number, file: string): void;
  stop(): void;
}

export interface SnapshotDownloadOptions {
  repo: string;
  revision?: string;
  cacheDir: string;
  /** The hub, e.g. https://huggingface.co (HF_ENDPOINT). */
  endpoint: string;
  token?: string;
  /** Which of the repo's files to fetch. Default: all but weights in formats nodellm does not read. */
  include?: (path: string, all: string[]) => boolean;
  progress?: DownloadProgress;
  /** Files fetched at once. Default 4. */
  concurrency?: number;
  /** Attempts per file (each resumes the last). Default 5. */
  attempts?: number;
  retryDelayMs?: number;
}

export interface SnapshotDownloadResult {
  snapshotDir: string;
  commit: string;
  files: string[];
  /** Bytes fetched over the network (0 when all was cached). */
  downloadedBytes: number;
}

export class DownloadError extends Error {
  override readonly name = 'DownloadError';
}

const OTHER_WEIGHTS = /\.(bin|pt|pth|ckpt|gguf|onnx|onnx_data|msgpack|h5|ot|tflite|mlmodel|nemo)$/i;

/** nodellm reads safetensors: when a repo has them, its other weight formats are skipped. */
export function defaultModelFiles(path: string, all: string[]): boolean {
  if (all.some((p) => p.endsWith('.safetensors')) && OTHER_WEIGHTS.test(path)) return false;
  return !path.startsWith('.git');
}

/** The files a tokenizer needs (for TOKENIZER_NAME). */
export function tokenizerFiles(path: string): boolean {
  return /\.(json|jinja|txt|model|tiktoken)$/i.test(path) || /(^|\/)tokenizer[^/]*$/.test(path);
}

/** fetch that sends the token to the hub's own origin only (not to the CDN it redirects to). */
function hubFetch(endpoint: string, token: string | undefined): typeof fetch {
  const origin = new URL(endpoint).origin;
  return (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const headers = new Headers(init?.headers);
    if (token && new URL(url).origin === origin && !headers.has('authorization')) headers.set('authorization', `Bearer ${token}`);
    headers.set('user-agent', 'nodellm; hf-hub-js');
    return fetch(input, { ...init, headers });
  };
}

function explain(error: unknown, repo: string): Error {
  const status = (error as { statusCode?: number }).statusCode;
  const message = error instanceof Error ? error.message : String(error);
  if (status === 401 || status === 403) {
    return new DownloadError(`${repo}: access denied (HTTP ${status}); for a gated or private model set HF_TOKEN to a token that can read it`);
  }
  if (status === 404) return new DownloadError(`${repo}: not found on the hub (HTTP 404): check MODEL_NAME and the revision`);
  return new DownloadError(`${repo}: ${message}`);
}

interface FileTask {
  path: string;
  size: number;
  etag: string;
  /** 'sha256' for LFS files (etag is the sha256), 'git' for others (etag is the git blob sha1). */
  check: 'sha256' | 'git';
}

export async function downloadSnapshot(options: SnapshotDownloadOptions): Promise<SnapshotDownloadResult> {
  const { repo, cacheDir } = options;
  const revision = options.revision ?? 'main';
  const fetchFn = hubFetch(options.endpoint, options.token);
  const common = { hubUrl: options.endpoint, fetch: fetchFn };

  let commit: string;
  const entries: ListFileEntry[] = [];
  try {
    commit = COMMIT_HASH.test(revision) ? revision : (await modelInfo({ name: repo, revision, additionalFields: ['sha'], ...common })).sha;
    for await (const entry of listFiles({ repo: { type: 'model', name: repo }, revision: commit, recursive: true, ...common })) {
      if (entry.type === 'file') entries.push(entry);
    }
  } catch (error) {
    throw explain(error, repo);
  }
  const all = entries.map((e) => e.path);
  const include = options.include ?? defaultModelFiles;
  const tasks: FileTask[] = entries
    .filter((e) => include(e.path, all))
    .map((e) => (e.lfs ? { path: e.path, size: e.lfs.size, etag: e.lfs.oid, check: 'sha256' } : { path: e.path, size: e.size, etag: e.oid ?? '', check: 'git' }));
  const missingOid = tasks.find((t) => !t.etag);
  if (missingOid) throw new DownloadError(`${repo}: the hub gave no hash for ${missingOid.path}`);

  const folder = join(cacheDir, repoFolderName(repo));
  const snapshotDir = join(folder, 'snapshots', commit);
  await mkdir(join(folder, 'blobs'), { recursive: true });
  options.progress?.start(
    tasks.reduce((s, t) => s + t.size, 0),
    tasks.length,
  );
  let downloadedBytes = 0;
  const queue = [...tasks];
  const worker = async () => {
    for (let task = queue.shift(); task; task = queue.shift()) {
      const fetched = await fetchBlob(task, folder, repo, commit, common, options);
      downloadedBytes += fetched; // not `+= await`: the workers run concurrently
      await link(join(folder, 'blobs', task.etag), join(snapshotDir, task.path));
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 4, Math.max(1, tasks.length)) }, worker));
  } finally {
    options.progress?.stop();
  }
  await mkdir(snapshotDir, { recursive: true });
  if (revision !== commit) {
    await mkdir(join(folder, 'refs', dirname(revision)), { recursive: true });
    await writeFile(join(folder, 'refs', revision), commit);
  }
  return { snapshotDir, commit, files: tasks.map((t) => t.path), downloadedBytes };
}

/** Makes sure blobs/<etag> holds the file; returns the bytes fetched over the network. */
async function fetchBlob(
  task: FileTask,
  folder: string,
  repo: string,
  commit: string,
  common: { hubUrl: string; fetch: typeof fetch },
  options: SnapshotDownloadOptions,
): Promise<number> {
  const blob = join(folder, 'blobs', task.etag);
  if (existsSync(blob)) {
    options.progress?.advance(task.size, task.path);
    return 0;
  }
  const incomplete = `${blob}.incomplete`;
  const attempts = options.attempts ?? 5;
  let fetched = 0;
  for (let attempt = 1; ; attempt++) {
    const offset = existsSync(incomplete) ? (await stat(incomplete)).size : 0;
    if (attempt === 1 && offset > 0) options.progress?.advance(Math.min(offset, task.size), task.path);
    try {
      if (offset < task.size) {
        const file = await downloadFile({ repo: { type: 'model', name: repo }, path: task.path, revision: commit, xet: false, ...common });
        if (!file) throw new DownloadError(`${repo}: ${task.path} is listed but cannot be downloaded`);
        const handle = await open(incomplete, 'a');
        try {
          for await (const chunk of (offset > 0 ? file.slice(offset) : file).stream() as unknown as AsyncIterable<Uint8Array>) {
            await handle.write(chunk);
            fetched += chunk.byteLength;
            options.progress?.advance(chunk.byteLength, task.path);
          }
        } finally {
          await handle.close();
        }
      }
      const size = (await stat(incomplete).catch(() => ({ size: 0 }))).size;
      if (size !== task.size || !(await hashMatches(incomplete, task))) {
        await rm(incomplete, { force: true });
        throw new DownloadError(`${repo}: ${task.path} arrived corrupted (size or hash mismatch); it will be fetched again`);
      }
      await rename(incomplete, blob);
      return fetched;
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (attempt >= attempts || (status !== undefined && status < 500 && status !== 429)) throw explain(error, repo);
      await new Promise((r) => setTimeout(r, (options.retryDelayMs ?? 1000) * attempt));
    }
  }
}

async function hashMatches(path: string, task: FileTask): Promise<boolean> {
  const hash = task.check === 'sha256' ? createHash('sha256') : createHash('sha1').update(`blob ${task.size}\0`);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex') === task.etag;
}

/** snapshots/<commit>/<path> -> ../../blobs/<etag> (a copy where links are not allowed). */
async function link(blob: string, target: string): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  const rel = relative(dirname(target), blob);
  try {
    if ((await readlink(target)) === rel) return;
    await rm(target, { force: true });
  } catch {
    // not a link yet
  }
  try {
    await symlink(rel, target);
  } catch {
    await copyFile(blob, target);
  }
}
