// The Hugging Face cache layout, shared with huggingface_hub and vLLM:
//   <cache>/models--<org>--<name>/blobs/<etag>            file contents (sha256 for LFS files)
//   <cache>/models--<org>--<name>/refs/<revision>         the commit a branch or tag points to
//   <cache>/models--<org>--<name>/snapshots/<commit>/...  the repo's files, links to the blobs
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const COMMIT_HASH = /^[0-9a-f]{40}$/;

export function repoFolderName(repoId: string): string {
  return `models--${repoId.split('/').join('--')}`;
}

/** `org/name` or `name`: what a Hugging Face model id looks like. */
export function looksLikeRepoId(name: string): boolean {
  return /^[A-Za-z0-9][\w.-]*(\/[\w.-]+)?$/.test(name) && !name.includes('..') && !name.endsWith('.');
}

export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The repo's folder in the cache (worker-vllm #310: a lower-cased folder is found too). */
export function repoFolder(cacheDir: string, repoId: string): string {
  const exact = join(cacheDir, repoFolderName(repoId));
  if (existsSync(exact)) return exact;
  const lower = join(cacheDir, repoFolderName(repoId.toLowerCase()));
  return existsSync(lower) ? lower : exact;
}

/** The commit a revision resolves to in the cache, or null when the cache has no record of it. */
export function cachedCommit(cacheDir: string, repoId: string, revision = 'main'): string | null {
  if (COMMIT_HASH.test(revision)) return revision;
  const ref = join(repoFolder(cacheDir, repoId), 'refs', revision);
  return existsSync(ref) ? readFileSync(ref, 'utf8').trim() : null;
}

/** The snapshot directory of a revision, or null when it is not in the cache. */
export function cachedSnapshot(cacheDir: string, repoId: string, revision = 'main'): string | null {
  const commit = cachedCommit(cacheDir, repoId, revision);
  if (!commit) return null;
  const dir = join(repoFolder(cacheDir, repoId), 'snapshots', commit);
  return isDirectory(dir) ? dir : null;
}
