// `nodellm bench serve`: benchmarks any OpenAI-compatible server over HTTP, streaming, and reports
// vLLM's serving figures (see metrics.ts) on stdout and in the --result-file JSON.
import { resolveBenchTokenizer } from './bench-tokenizer.js';
import { type DatasetOptions, type SampleRequest, datasetConfig, loadDataset } from './dataset.js';
import { environment, vllmDate } from './environment.js';
import { type Goodput, type MetricName, type PerRequest, type ServeMetrics, computeServeMetrics } from './metrics.js';
import { createProgress } from './progress.js';
import { type BenchOutputOptions, serveTable, writeResultFile } from './report.js';
import { Rng } from './rng.js';
import type { EndpointKind } from './serve-client.js';
import { runLoad } from './serve-run.js';

export interface ServeBenchOptions extends BenchOutputOptions {
  /** Server origin, e.g. http://127.0.0.1:8000 (the endpoint path is appended). */
  baseUrl: string;
  endpoint: string;
  /** The model to ask for; default: the first one /v1/models lists. */
  model?: string;
  /** Sent as `model` instead of --model (vLLM's --served-model-name). */
  servedModelName?: string;
  tokenizer?: string;
  dataset: Omit<DatasetOptions, 'warn'>;
  requestRate: number;
  burstiness: number;
  maxConcurrency?: number;
  ignoreEos: boolean;
  numWarmups: number;
  goodput?: Goodput;
  percentileMetrics: MetricName[];
  percentiles: number[];
  /** temperature, top_p, ... merged into every request body. */
  sampling: Record<string, unknown>;
  apiKey?: string;
  /** Also write the per-request lists (lengths, TTFTs, ITLs, texts, errors), as vLLM's --save-detailed. */
  saveDetailed?: boolean;
}

export interface ServeBenchResult {
  requests: SampleRequest[];
  metrics: ServeMetrics;
  perRequest: PerRequest;
  result: Record<string, unknown>;
}

export function endpointKind(endpoint: string): EndpointKind {
  if (endpoint.endsWith('/chat/completions')) return 'chat';
  if (endpoint.endsWith('/completions')) return 'completions';
  throw new Error(`--endpoint must be an OpenAI completions or chat completions path (e.g. /v1/completions), but received ${endpoint}`);
}

async function getJson(url: string, apiKey?: string): Promise<unknown> {
  try {
    const r = await fetch(url, { headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {} });
    return r.ok ? await r.json() : null;
  } catch {
    return null;
  }
}

export async function benchServe(o: ServeBenchOptions): Promise<ServeBenchResult> {
  const origin = o.baseUrl.replace(/\/+$/, '');
  const kind = endpointKind(o.endpoint);
  const models = (await getJson(`${origin}/v1/models`, o.apiKey)) as { data?: { id: string; max_model_len?: number; root?: string }[] } | null;
  const model = o.servedModelName ?? o.model ?? models?.data?.[0]?.id;
  if (!model) throw new Error(`no --model given and ${origin}/v1/models did not list one; is the server up?`);
  const version = (await getJson(`${origin}/version`)) as { version?: string } | null;

  const { tokenizer, id: tokenizerId } = await resolveBenchTokenizer({
    ...(o.tokenizer && { tokenizer: o.tokenizer }),
    ...((o.model ?? model) && { model: o.model ?? model }),
    ...(models?.data?.find((m) => m.id === model)?.root && { root: models.data.find((m) => m.id === model)!.root }),
    warn: o.warn,
  });
  const requests = await loadDataset(tokenizer, { ...o.dataset, warn: o.warn });

  const progress = createProgress('bench serve', requests.length, o.progress);
  const started = new Date();
  const { outputs, durationS } = await runLoad({
    url: `${origin}${o.endpoint}`,
    kind,
    model,
    requests,
    requestRate: o.requestRate,
    burstiness: o.burstiness,
    ...(o.maxConcurrency !== undefined && { maxConcurrency: o.maxConcurrency }),
    ignoreEos: o.ignoreEos,
    extraBody: o.sampling,
    ...(o.apiKey && { apiKey: o.apiKey }),
    numWarmups: o.numWarmups,
    // Arrivals draw from their own stream, so changing the dataset size does not reshuffle prompts.
    rng: new Rng(o.dataset.seed + 1),
    progress,
  });
  const { metrics, perRequest } = await computeServeMetrics({
    outputs,
    durationS,
    countTokens: async (text) => (await tokenizer.encode(text, { addSpecialTokens: false })).length,
    ...(o.goodput && { goodput: o.goodput }),
    percentiles: o.percentiles,
  });
  o.print(serveTable(metrics, { ...(o.maxConcurrency !== undefined && { maxConcurrency: o.maxConcurrency }), percentileMetrics: o.percentileMetrics, percentiles: o.percentiles }));
  if (metrics.completed === 0) o.warn('bench: every request failed; the first error: ' + (perRequest.errors.find(Boolean) ?? 'unknown'));
  else if (metrics.failed > 0) o.warn(`bench: ${metrics.failed} of ${outputs.length} requests failed; the first error: ${perRequest.errors.find(Boolean)}`);

  const result = {
    date: vllmDate(started),
    backend: kind === 'chat' ? 'openai-chat' : 'openai',
    model_id: model,
    tokenizer_id: tokenizerId,
    num_prompts: requests.length,
    request_rate: o.requestRate === Infinity ? 'inf' : o.requestRate,
    burstiness: o.burstiness,
    max_concurrency: o.maxConcurrency ?? null,
    ...o.metadata,
    ...metrics,
    // Failures stay visible even without the per-request lists.
    failed_requests: perRequest.errors.flatMap((error, index) => (error ? [{ index, error }] : [])),
    ...(o.saveDetailed && perRequest),
    config: {
      command: 'bench serve',
      base_url: origin,
      endpoint: o.endpoint,
      model,
      // A remote server does not say what it runs on; --metadata device=... dtype=... records it.
      device: o.metadata.device ?? null,
      dtype: o.metadata.dtype ?? null,
      ...datasetConfig(o.dataset),
      ignore_eos: o.ignoreEos,
      num_warmups: o.numWarmups,
      goodput: o.goodput ?? null,
      percentile_metrics: o.percentileMetrics,
      metric_percentiles: o.percentiles,
      sampling: o.sampling,
    },
    server: { version: version?.version ?? null, models: models?.data ?? null },
    ...environment(started),
  };
  if (o.resultFile) o.warn(`bench: results written to ${writeResultFile(o.resultFile, result)}`);
  return { requests, metrics, perRequest, result };
}
