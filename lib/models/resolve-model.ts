// MODEL_NAME (and TOKENIZER_NAME) to a local directory: a directory as it is; a Hugging Face
// repo id from the HF cache, downloaded (or completed) first unless offline. Online, the
// download step runs even when a snapshot is cached: it only fetches what is missing or was
// left half-done, so an interrupted cold start resumes instead of loading a partial model.
import { resolve } from 'node:path';

import type { HubSettings, ModelSource } from '../config/worker-config.js';
import { ModelLoadError } from '../errors.js';
import { cachedSnapshot, isDirectory, looksLikeRepoId } from './hf-cache.js';
import { type DownloadProgress, defaultModelFiles, downloadSnapshot, tokenizerFiles } from './hf-download.js';

export interface ResolvedModel {
  /** undefined: the embedded default model. */
  model?: string;
  tokenizer?: string;
}

export interface ResolveOptions {
  log: (line: string) => void;
  progress?: (label: string) => DownloadProgress;
}

async function resolveOne(
  variable: string,
  name: string,
  revision: string | undefined,
  hub: HubSettings,
  filter: (path: string, all: string[]) => boolean,
  options: ResolveOptions,
): Promise<string> {
  if (isDirectory(name)) return resolve(name);
  if (!looksLikeRepoId(name)) {
    throw new ModelLoadError(`${variable}=${name} is neither a directory nor a Hugging Face repo id (org/name)`);
  }
  const cached = cachedSnapshot(hub.cacheDir, name, revision);
  if (hub.offline) {
    if (cached) return cached;
    throw new ModelLoadError(
      `${variable}=${name}${revision ? `@${revision}` : ''} is not in the HF cache (${hub.cacheDir}) and downloads are off ` +
        '(offline, or a baked image whose cache is hidden, e.g. by a volume mounted over BASE_PATH)',
    );
  }
  const started = Date.now();
  options.log(`${cached ? 'Checking' : 'Downloading'} ${name}${revision ? `@${revision}` : ''} into ${hub.cacheDir}`);
  const result = await downloadSnapshot({
    repo: name,
    ...(revision && { revision }),
    cacheDir: hub.cacheDir,
    endpoint: hub.endpoint,
    ...(hub.token && { token: hub.token }),
    include: filter,
    ...(options.progress && { progress: options.progress(name) }),
  });
  const mb = (result.downloadedBytes / 2 ** 20).toFixed(1);
  options.log(`${name}: ${result.files.length} files ready (${mb} MB fetched) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return result.snapshotDir;
}

export async function resolveModel(source: ModelSource, hub: HubSettings, options: ResolveOptions): Promise<ResolvedModel> {
  const out: ResolvedModel = {};
  if (source.name) out.model = await resolveOne('MODEL_NAME', source.name, source.revision, hub, defaultModelFiles, options);
  if (source.tokenizer) {
    const revision = source.tokenizerRevision ?? (source.tokenizer === source.name ? source.revision : undefined);
    out.tokenizer = await resolveOne('TOKENIZER_NAME', source.tokenizer, revision, hub, tokenizerFiles, options);
  }
  return out;
}
