// The human-readable report on stdout (laid out like vLLM's, so the two read side by side) and
// the JSON result file.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

import { type MetricName, type ServeMetrics, percentileLabel } from './metrics.js';

const WIDTH = 50;

/** How every bench command reports: result file, extra metadata, progress bar, table and warnings. */
export interface BenchOutputOptions {
  resultFile?: string;
  metadata: Record<string, string>;
  progress: boolean;
  print: (text: string) => void;
  warn: (line: string) => void;
}

export type Row = [label: string, value: string | number] | { section: string };

export function formatTable(title: string, rows: Row[]): string {
  const lines = [center(` ${title} `, '=')];
  for (const row of rows) {
    if (!Array.isArray(row)) lines.push(center(row.section, '-'));
    else lines.push(`${`${row[0]}:`.padEnd(40)} ${typeof row[1] === 'number' ? fixed(row[1]) : row[1]}`);
  }
  lines.push('='.repeat(WIDTH));
  return `${lines.join('\n')}\n`;
}

function center(text: string, fill: string): string {
  const left = Math.floor((WIDTH - text.length) / 2);
  return fill.repeat(Math.max(0, left)) + text + fill.repeat(Math.max(0, WIDTH - text.length - left));
}

/** Integers as they are, other numbers with two decimals. */
function fixed(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

const SECTIONS: Record<MetricName, [title: string, short: string]> = {
  ttft: ['Time to First Token', 'TTFT'],
  tpot: ['Time per Output Token (excl. 1st token)', 'TPOT'],
  itl: ['Inter-token Latency', 'ITL'],
  e2el: ['End-to-end Latency', 'E2EL'],
};

export function serveTable(m: ServeMetrics, o: { maxConcurrency?: number; percentileMetrics: MetricName[]; percentiles: number[] }): string {
  const rows: Row[] = [
    ['Successful requests', m.completed],
    ['Failed requests', m.failed],
    ...(o.maxConcurrency !== undefined ? [['Maximum request concurrency', o.maxConcurrency] as Row] : []),
    ['Benchmark duration (s)', m.duration],
    ['Total input tokens', m.total_input_tokens],
    ['Total generated tokens', m.total_output_tokens],
    ['Request throughput (req/s)', m.request_throughput],
    ...(m.request_goodput !== null ? [['Request goodput (req/s)', m.request_goodput] as Row] : []),
    ['Output token throughput (tok/s)', m.output_throughput],
    ['Total Token throughput (tok/s)', m.total_token_throughput],
  ];
  for (const name of o.percentileMetrics) {
    const [title, short] = SECTIONS[name];
    rows.push({ section: title });
    rows.push([`Mean ${short} (ms)`, m[`mean_${name}_ms`]!], [`Median ${short} (ms)`, m[`median_${name}_ms`]!]);
    for (const p of o.percentiles) rows.push([`P${percentileLabel(p)} ${short} (ms)`, m[`p${percentileLabel(p)}_${name}_ms`]!]);
  }
  return formatTable('Serving Benchmark Result', rows);
}

/** Writes the result JSON (creating its folder); returns the absolute path. */
export function writeResultFile(path: string, result: unknown): string {
  const file = resolve(path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}
