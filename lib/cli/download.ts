// `nodellm download MODEL [--revision R]`: fetches a model (and optionally a tokenizer repo) into
// the HF cache with a progress bar, resuming any earlier partial download. With
// --write-model-args it records what it baked (worker-vllm's /local_model_args.json): the worker
// then loads that model from the cache, offline, whatever MODEL_NAME says at run time.
// QUANTIZATION (a build argument of worker-vllm's image) is refused here: not supported yet.
import { writeFileSync } from 'node:fs';

import { ConfigError, hubSettingsFromEnv } from '../config/worker-config.js';
import { createDownloadProgress } from '../models/download-progress.js';
import { looksLikeRepoId } from '../models/hf-cache.js';
import { defaultModelFiles, downloadSnapshot, tokenizerFiles } from '../models/hf-download.js';

export interface DownloadCommandOptions {
  revision?: string;
  tokenizer?: string;
  tokenizerRevision?: string;
  cacheDir?: string;
  writeModelArgs?: string;
}

export async function runDownload(model: string, opts: DownloadCommandOptions, env = process.env): Promise<number> {
  let hub;
  try {
    hub = hubSettingsFromEnv(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`nodellm download: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  const quantization = env.QUANTIZATION?.trim();
  if (quantization && quantization !== 'None' && quantization !== 'none') {
    // Refused now rather than by the worker at run time, after the image was built.
    process.stderr.write(`nodellm download: QUANTIZATION=${quantization}: quantized weights are not supported yet\n`);
    return 1;
  }
  const cacheDir = opts.cacheDir ?? hub.cacheDir;
  if (hub.offline) {
    process.stderr.write('nodellm download: HF_HUB_OFFLINE is set; nothing can be downloaded\n');
    return 1;
  }
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const fetchOne = async (repo: string, revision: string | undefined, include: (path: string, all: string[]) => boolean) => {
    if (!looksLikeRepoId(repo)) throw new Error(`${repo} is not a Hugging Face repo id (org/name)`);
    const result = await downloadSnapshot({
      repo,
      ...(revision && { revision }),
      cacheDir,
      endpoint: hub.endpoint,
      ...(hub.token && { token: hub.token }),
      include,
      progress: createDownloadProgress(repo, { log }),
    });
    log(`${repo}@${result.commit}: ${result.files.length} files in ${result.snapshotDir}`);
    return result;
  };
  try {
    const main = await fetchOne(model, opts.revision, defaultModelFiles);
    const tok = opts.tokenizer ? await fetchOne(opts.tokenizer, opts.tokenizerRevision, tokenizerFiles) : undefined;
    if (opts.writeModelArgs) {
      const args = {
        MODEL_NAME: model,
        MODEL_REVISION: main.commit,
        ...(opts.tokenizer && tok && { TOKENIZER_NAME: opts.tokenizer, TOKENIZER_REVISION: tok.commit }),
        HF_HUB_CACHE: cacheDir,
      };
      writeFileSync(opts.writeModelArgs, `${JSON.stringify(args, null, 2)}\n`);
      log(`Wrote ${opts.writeModelArgs}`);
    }
    process.stdout.write(`${main.snapshotDir}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`nodellm download: ${(error as Error).message}\n`);
    return 1;
  }
}
