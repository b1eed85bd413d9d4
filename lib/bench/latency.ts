// `nodellm bench latency`: how long one batch takes end to end, as vLLM's benchmark_latency
// measures it: --batch-size prompts of exactly --input-len random token ids, each generating
// exactly --output-len tokens (ignore_eos, temperature 1), run --num-iters-warmup times unmeasured
// and then --num-iters times. Each iteration draws fresh prompts, so no prompt cache can help.
// Besides the batch latency it reports the per-token decode time: after the last request of the
// batch got its first token, (rest of the batch's time) / (output-len - 1).
import type { LLM } from '../llm.js';
import { randomTokenIds } from './random-dataset.js';
import { engineInfo } from './engine-info.js';
import { environment, vllmDate } from './environment.js';
import { NO_PROGRESS, type Progress, createProgress } from './progress.js';
import { type BenchOutputOptions, formatTable, writeResultFile } from './report.js';
import { Rng } from './rng.js';
import { mean, percentile, std } from './stats.js';

export interface LatencyOptions {
  batchSize: number;
  inputLen: number;
  outputLen: number;
  numItersWarmup: number;
  numIters: number;
  seed: number;
}

const PERCENTILES = [10, 25, 50, 75, 90, 99];

interface Iteration {
  latency: number;
  /** Seconds until every request of the batch had its first token (the prefill of the batch). */
  prefill: number;
}

async function runBatch(llm: LLM, o: LatencyOptions, rng: Rng): Promise<Iteration> {
  const maxTokenId = llm.engine.model.config.vocabSize - 1;
  const prompts = Array.from({ length: o.batchSize }, () => randomTokenIds(llm.tokenizer, rng, o.inputLen, maxTokenId));
  const start = performance.now();
  let lastFirstToken = start;
  await Promise.all(
    prompts.map(async (promptTokenIds) => {
      let first = true;
      for await (const chunk of llm.stream({ promptTokenIds }, { max_tokens: o.outputLen, ignore_eos: true, temperature: 1 })) {
        if (first && (chunk.outputs[0]?.tokenIds.length ?? 0) > 0) {
          first = false;
          lastFirstToken = Math.max(lastFirstToken, performance.now());
        }
      }
    }),
  );
  const end = performance.now();
  return { latency: (end - start) / 1000, prefill: (lastFirstToken - start) / 1000 };
}

export async function runLatency(llm: LLM, o: LatencyOptions, progress: { warmup: Progress; measured: Progress } = { warmup: NO_PROGRESS, measured: NO_PROGRESS }) {
  const rng = new Rng(o.seed);
  for (let i = 0; i < o.numItersWarmup; i++) {
    await runBatch(llm, o, rng);
    progress.warmup.increment();
  }
  progress.warmup.stop();
  const iterations: Iteration[] = [];
  for (let i = 0; i < o.numIters; i++) {
    iterations.push(await runBatch(llm, o, rng));
    progress.measured.increment();
  }
  progress.measured.stop();
  const latencies = iterations.map((it) => it.latency);
  const decodePerToken = o.outputLen > 1 ? iterations.map((it) => (it.latency - it.prefill) / (o.outputLen - 1)) : [];
  return {
    avg_latency: mean(latencies),
    std_latency: std(latencies),
    latencies,
    percentiles: Object.fromEntries(PERCENTILES.map((p) => [String(p), percentile(latencies, p)])),
    avg_prefill_time: mean(iterations.map((it) => it.prefill)),
    avg_decode_time_per_token_ms: mean(decodePerToken) * 1000,
    // vLLM's rough figure: the whole latency spread over the output tokens (one prefill included).
    avg_latency_per_output_token_ms: (mean(latencies) / o.outputLen) * 1000,
  };
}

export interface LatencyBenchOptions extends LatencyOptions, BenchOutputOptions {
  /** The command line's engine flags, recorded in the result file. */
  engineOptions: Record<string, unknown>;
}

export async function benchLatency(llm: LLM, o: LatencyBenchOptions) {
  const started = new Date();
  const figures = await runLatency(llm, o, {
    warmup: createProgress('warmup', o.numItersWarmup, o.progress && o.numItersWarmup > 0),
    measured: createProgress('bench latency', o.numIters, o.progress),
  });
  o.print(
    formatTable('Latency Benchmark Result', [
      ['Batch size', o.batchSize],
      ['Input / output tokens per request', `${o.inputLen} / ${o.outputLen}`],
      ['Iterations (warmup)', `${o.numIters} (${o.numItersWarmup})`],
      ['Avg latency (s)', figures.avg_latency.toFixed(4)],
      ['Std latency (s)', figures.std_latency.toFixed(4)],
      ...PERCENTILES.map((p) => [`P${p} latency (s)`, figures.percentiles[String(p)]!.toFixed(4)] as [string, string]),
      ['Avg batch prefill (s)', figures.avg_prefill_time.toFixed(4)],
      ['Avg decode time per token (ms)', figures.avg_decode_time_per_token_ms],
    ]),
  );
  const engine = engineInfo(llm);
  const settings = {
    batch_size: o.batchSize,
    input_len: o.inputLen,
    output_len: o.outputLen,
    num_iters_warmup: o.numItersWarmup,
    num_iters: o.numIters,
    seed: o.seed,
  };
  const result = {
    date: vllmDate(started),
    model_id: engine.model,
    ...o.metadata,
    ...figures,
    config: { command: 'bench latency', ...engine, engine_options: o.engineOptions, ...settings, temperature: 1, ignore_eos: true },
    ...environment(started),
  };
  if (o.resultFile) o.warn(`bench: results written to ${writeResultFile(o.resultFile, result)}`);
  return { figures, result };
}
