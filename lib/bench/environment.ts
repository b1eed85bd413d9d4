// What a result file records about the run besides its figures: when, with which nodellm and
// Node.js, on what machine, so a figure can be traced back to its setting.
import os from 'node:os';

import { packageVersion } from '../package-root.js';

/** nodellm's version, from its package.json. */
export const nodellmVersion = packageVersion;

/** vLLM's result-file date: YYYYMMDD-HHMMSS, local time. */
export function vllmDate(d: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${two(d.getMonth() + 1)}${two(d.getDate())}-${two(d.getHours())}${two(d.getMinutes())}${two(d.getSeconds())}`;
}

export function environment(now = new Date()) {
  return {
    date_iso: now.toISOString(),
    versions: { nodellm: nodellmVersion(), node: process.version },
    host: { platform: `${process.platform}-${process.arch}`, cpu: os.cpus()[0]?.model ?? 'unknown', cpu_count: os.cpus().length },
  };
}

/** --metadata KEY=VALUE pairs (vLLM's flag) as an object. */
export function parseMetadata(items: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items ?? []) {
    const at = item.indexOf('=');
    if (at <= 0) throw new Error(`--metadata takes KEY=VALUE, but received "${item}"`);
    out[item.slice(0, at)] = item.slice(at + 1);
  }
  return out;
}
