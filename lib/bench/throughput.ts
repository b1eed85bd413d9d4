// `nodellm bench throughput`: the offline engine's throughput, as vLLM's benchmark_throughput
// measures it. Every prompt is submitted at once to the engine in this process (no HTTP), each
// with ignore_eos, temperature 1, top_p 1 and max_tokens = its output length, and the clock
// covers only the generation. Token totals are what the engine processed: prompt ids as the
// engine tokenized them (special tokens included) and every generated token.
import type { LLM } from '../llm.js';
import { type DatasetOptions, type SampleRequest, datasetConfig, loadDataset } from './dataset.js';
import { engineInfo } from './engine-info.js';
import { environment, vllmDate } from './environment.js';
import { NO_PROGRESS, type Progress, createProgress } from './progress.js';
import { type BenchOutputOptions, formatTable, writeResultFile } from './report.js';

export interface ThroughputFigures {
  elapsed_time: number;
  num_requests: number;
  total_prompt_tokens: number;
  total_output_tokens: number;
  total_num_tokens: number;
  requests_per_second: number;
  tokens_per_second: number;
  output_tokens_per_second: number;
}

export async function runThroughput(llm: LLM, requests: SampleRequest[], progress: Progress = NO_PROGRESS): Promise<ThroughputFigures> {
  const start = performance.now();
  const results = await Promise.all(
    requests.map(async (r) => {
      const result = await llm.generate(r.prompt, { max_tokens: r.expectedOutputLen, ignore_eos: true, temperature: 1, top_p: 1 });
      progress.increment();
      return result;
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  progress.stop();
  const prompt = results.reduce((s, r) => s + r.promptTokenIds.length, 0);
  const output = results.reduce((s, r) => s + r.outputs.reduce((t, o) => t + o.tokenIds.length, 0), 0);
  return {
    elapsed_time: elapsed,
    num_requests: results.length,
    total_prompt_tokens: prompt,
    total_output_tokens: output,
    total_num_tokens: prompt + output,
    requests_per_second: results.length / elapsed,
    tokens_per_second: (prompt + output) / elapsed,
    output_tokens_per_second: output / elapsed,
  };
}

export interface ThroughputBenchOptions extends BenchOutputOptions {
  dataset: Omit<DatasetOptions, 'warn'>;
  /** The command line's engine flags, recorded in the result file. */
  engineOptions: Record<string, unknown>;
}

export async function benchThroughput(llm: LLM, o: ThroughputBenchOptions) {
  const requests = await loadDataset(llm.tokenizer, { ...o.dataset, maxTokenId: llm.engine.model.config.vocabSize - 1, warn: o.warn });
  const started = new Date();
  const figures = await runThroughput(llm, requests, createProgress('bench throughput', requests.length, o.progress));
  o.print(
    formatTable('Throughput Benchmark Result', [
      ['Requests', figures.num_requests],
      ['Elapsed time (s)', figures.elapsed_time],
      ['Total prompt tokens', figures.total_prompt_tokens],
      ['Total output tokens', figures.total_output_tokens],
      ['Request throughput (req/s)', figures.requests_per_second],
      ['Output token throughput (tok/s)', figures.output_tokens_per_second],
      ['Total token throughput (tok/s)', figures.tokens_per_second],
    ]),
  );
  const engine = engineInfo(llm);
  const result = {
    date: vllmDate(started),
    model_id: engine.model,
    ...o.metadata,
    ...figures,
    config: { command: 'bench throughput', ...engine, engine_options: o.engineOptions, ...datasetConfig(o.dataset), ignore_eos: true, temperature: 1, top_p: 1 },
    ...environment(started),
  };
  if (o.resultFile) o.warn(`bench: results written to ${writeResultFile(o.resultFile, result)}`);
  return { figures, requests, result };
}
