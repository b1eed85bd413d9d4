// Download progress: a cli-progress bar on a terminal; elsewhere (container logs) a line every
// few seconds and one at the end, so a long cold-start download shows it is moving.
import cliProgress from 'cli-progress';

import type { DownloadProgress } from './hf-download.js';

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

export function createDownloadProgress(
  label: string,
  options: { tty?: boolean; log?: (line: string) => void; intervalMs?: number } = {},
): DownloadProgress {
  const tty = options.tty ?? Boolean(process.stderr.isTTY);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  let total = 0;
  let done = 0;
  let started = 0;
  if (tty) {
    const bar = new cliProgress.SingleBar(
      { format: `${label} [{bar}] {percentage}% | {doneMB}/{totalMB} MB | {file}`, hideCursor: true, stream: process.stderr },
      cliProgress.Presets.shades_classic,
    );
    return {
      start(bytes) {
        total = bytes;
        bar.start(Math.max(bytes, 1), 0, { doneMB: mb(0), totalMB: mb(bytes), file: '' });
      },
      advance(bytes, file) {
        done += bytes;
        bar.update(Math.min(done, Math.max(total, 1)), { doneMB: mb(done), totalMB: mb(total), file });
      },
      stop() {
        bar.stop();
      },
    };
  }
  let timer: NodeJS.Timeout | null = null;
  const report = () => {
    const seconds = (Date.now() - started) / 1000;
    const pct = total > 0 ? ((100 * done) / total).toFixed(1) : '100.0';
    log(`${label}: ${pct}% (${mb(done)} of ${mb(total)} MB, ${seconds.toFixed(0)} s)`);
  };
  return {
    start(bytes, files) {
      total = bytes;
      started = Date.now();
      log(`${label}: ${files} files, ${mb(bytes)} MB`);
      timer = setInterval(report, options.intervalMs ?? 5000);
      timer.unref();
    },
    advance(bytes) {
      done += bytes;
    },
    stop() {
      if (timer) clearInterval(timer);
      report();
    },
  };
}
