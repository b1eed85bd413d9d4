// The progress bar of a benchmark run: cli-progress on stderr, so stdout keeps only the report.
// Off with --disable-tqdm (vLLM's flag name) and wherever stderr is not a terminal.
import cliProgress from 'cli-progress';

export interface Progress {
  increment(): void;
  stop(): void;
}

export const NO_PROGRESS: Progress = { increment() {}, stop() {} };

export function createProgress(label: string, total: number, enabled: boolean): Progress {
  if (!enabled || !process.stderr.isTTY) return NO_PROGRESS;
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {value}/{total} | {duration_formatted}`, hideCursor: true, stream: process.stderr },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return {
    increment: () => bar.increment(),
    stop: () => bar.stop(),
  };
}
