// The figures of `bench serve`, computed from the per-request timings with vLLM's definitions
// and under vLLM's field names, so tools that read vLLM's result files read ours:
//   TTFT   start of the request to its first chunk
//   TPOT   (latency - TTFT) / (output tokens - 1), per request with more than one output token
//   ITL    every gap between successive chunks, pooled over requests
//   E2EL   start of the request to its last chunk
// Throughputs divide by the wall time of the whole run; token totals count completed requests
// only (input tokens as the dataset counts the prompt). Goodput counts the completed requests
// meeting every SLO of --goodput (DistServe's definition; a request of one token has TPOT 0).
import type { RequestOutput } from './serve-client.js';
import { mean, median, percentile, std } from './stats.js';

export const METRICS = ['ttft', 'tpot', 'itl', 'e2el'] as const;
export type MetricName = (typeof METRICS)[number];
export const GOODPUT_METRICS = ['ttft', 'tpot', 'e2el'] as const;
export type Goodput = Partial<Record<(typeof GOODPUT_METRICS)[number], number>>;

export interface MetricInputs {
  outputs: RequestOutput[];
  durationS: number;
  /** Counts the tokens of generated text when the server sent no usage. */
  countTokens: (text: string) => Promise<number>;
  /** SLOs in milliseconds. */
  goodput?: Goodput;
  /** e.g. [99] gives p99_ttft_ms ... */
  percentiles: number[];
}

export interface ServeMetrics {
  duration: number;
  completed: number;
  failed: number;
  total_input_tokens: number;
  total_output_tokens: number;
  request_throughput: number;
  request_goodput: number | null;
  output_throughput: number;
  total_token_throughput: number;
  /** mean_ttft_ms, median_ttft_ms, std_ttft_ms, p99_ttft_ms, ... for every metric. */
  [figure: string]: number | null;
}

/** Per-request figures, as vLLM writes them into its result file. */
export interface PerRequest {
  input_lens: number[];
  output_lens: number[];
  ttfts: number[];
  itls: number[][];
  generated_texts: string[];
  errors: string[];
}

/** The percentile in a field name: p99, p99.9 (String() already writes them as vLLM does). */
export function percentileLabel(p: number): string {
  return String(p);
}

export async function computeServeMetrics(inputs: MetricInputs): Promise<{ metrics: ServeMetrics; perRequest: PerRequest }> {
  const { outputs, durationS } = inputs;
  const samples: Record<MetricName, number[]> = { ttft: [], tpot: [], itl: [], e2el: [] };
  const outputLens: number[] = [];
  let completed = 0;
  let totalInput = 0;
  let good = 0;
  for (const out of outputs) {
    if (!out.success) {
      outputLens.push(0);
      continue;
    }
    const outputLen = out.outputTokens ?? (await inputs.countTokens(out.generatedText));
    outputLens.push(outputLen);
    totalInput += out.promptLen;
    completed++;
    const tpot = outputLen > 1 ? (out.latency - out.ttft) / (outputLen - 1) : 0;
    if (outputLen > 1) samples.tpot.push(tpot);
    samples.ttft.push(out.ttft);
    samples.e2el.push(out.latency);
    samples.itl.push(...out.itl);
    if (inputs.goodput && meetsSlos(inputs.goodput, { ttft: out.ttft, tpot, e2el: out.latency })) good++;
  }
  const totalOutput = outputLens.reduce((a, b) => a + b, 0);
  const metrics: ServeMetrics = {
    duration: durationS,
    completed,
    failed: outputs.length - completed,
    total_input_tokens: totalInput,
    total_output_tokens: totalOutput,
    request_throughput: completed / durationS,
    request_goodput: inputs.goodput ? good / durationS : null,
    output_throughput: totalOutput / durationS,
    total_token_throughput: (totalInput + totalOutput) / durationS,
  };
  for (const name of METRICS) {
    const ms = samples[name].map((s) => s * 1000);
    metrics[`mean_${name}_ms`] = mean(ms);
    metrics[`median_${name}_ms`] = median(ms);
    metrics[`std_${name}_ms`] = std(ms);
    for (const p of inputs.percentiles) metrics[`p${percentileLabel(p)}_${name}_ms`] = percentile(ms, p);
  }
  const perRequest: PerRequest = {
    input_lens: outputs.map((o) => o.promptLen),
    output_lens: outputLens,
    ttfts: outputs.map((o) => o.ttft),
    itls: outputs.map((o) => o.itl),
    generated_texts: outputs.map((o) => o.generatedText),
    errors: outputs.map((o) => o.error),
  };
  return { metrics, perRequest };
}

function meetsSlos(slos: Goodput, seconds: Record<(typeof GOODPUT_METRICS)[number], number>): boolean {
  return GOODPUT_METRICS.every((k) => slos[k] === undefined || seconds[k] * 1000 <= slos[k]);
}

/** Parses --goodput's "ttft:500 tpot:50" (milliseconds; several words or one comma-free list). */
export function parseGoodput(items: string[]): Goodput {
  const slos: Goodput = {};
  for (const item of items.flatMap((s) => s.split(/\s+/)).filter(Boolean)) {
    const [key, value, extra] = item.split(':');
    if (!GOODPUT_METRICS.includes(key as never) || value === undefined || extra !== undefined) {
      throw new Error(`--goodput takes NAME:MILLISECONDS with NAME one of ${GOODPUT_METRICS.join(', ')}, but received "${item}"`);
    }
    const ms = Number(value);
    if (value.trim() === '' || !Number.isFinite(ms) || ms < 0) throw new Error(`--goodput ${key} must be a non-negative number of milliseconds, but received "${value}"`);
    slos[key as keyof Goodput] = ms;
  }
  return slos;
}

/** Parses --percentile-metrics ("ttft,tpot,itl"). */
export function parsePercentileMetrics(value: string): MetricName[] {
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) if (!METRICS.includes(n as MetricName)) throw new Error(`--percentile-metrics: unknown metric "${n}" (choose from ${METRICS.join(', ')})`);
  return names as MetricName[];
}

/** Parses --metric-percentiles ("25,50,99"). */
export function parsePercentiles(value: string): number[] {
  return value.split(',').map((s) => {
    const p = Number(s.trim());
    if (s.trim() === '' || !Number.isFinite(p) || p < 0 || p > 100) throw new Error(`--metric-percentiles: each must be in [0, 100], but received "${s}"`);
    return p;
  });
}
