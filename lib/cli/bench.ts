// `nodellm bench latency | throughput | serve`: vLLM's three benchmarks under vLLM's flag names.
// latency and throughput run the engine in this process with the same model and engine flags as
// `serve`; serve measures any OpenAI-compatible server over HTTP.
import { type Command, InvalidArgumentError, Option } from 'commander';

import { DATASET_NAMES, type DatasetOptions } from '../bench/dataset.js';
import { parseMetadata } from '../bench/environment.js';
import { parseGoodput, parsePercentileMetrics, parsePercentiles } from '../bench/metrics.js';
import type { BenchOutputOptions } from '../bench/report.js';
import { LLM } from '../llm.js';
import { integer, nonNegativeInteger, number, positiveNumber } from './arguments.js';
import { addEngineFlags, engineOptionsFromFlags } from './engine-flags.js';

type Opts = Record<string, unknown>;

const print = (text: string) => process.stdout.write(text);
const warn = (line: string) => process.stderr.write(`${line}\n`);

/** A value parser whose error comes back as commander's, naming the flag. */
const checked =
  <T>(parse: (value: string) => T) =>
  (value: string) => {
    try {
      return parse(value);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };

function addDatasetFlags(command: Command): Command {
  return command
    .addOption(new Option('--dataset-name <name>', 'random, or sharegpt (default when --dataset-path is given)').choices(DATASET_NAMES))
    .addOption(new Option('--dataset <name>', 'same as --dataset-name').choices(DATASET_NAMES))
    .option('--dataset-path <file>', 'ShareGPT JSON file (conversations: the first human turn is the prompt)')
    .option('--num-prompts <n>', 'number of requests', integer('--num-prompts'), 1000)
    .option('--random-input-len <n>', 'random dataset: prompt tokens', integer('--random-input-len'), 1024)
    .option('--random-output-len <n>', 'random dataset: output tokens', integer('--random-output-len'), 128)
    .option('--random-range-ratio <r>', 'random dataset: lengths drawn uniformly in [len*(1-r), len*(1+r)]', number('--random-range-ratio', { min: 0, max: 1, maxExclusive: true }), 0)
    .option('--random-prefix-len <n>', 'random dataset: tokens of a prefix shared by every prompt', nonNegativeInteger('--random-prefix-len'), 0)
    .option('--sharegpt-output-len <n>', "sharegpt: output tokens of every request instead of the reply's", integer('--sharegpt-output-len'))
    .option('--seed <n>', 'seed of the dataset (and of the arrival times)', nonNegativeInteger('--seed'), 0);
}

function addOutputFlags(command: Command, resultFlags = '--result-file <file>'): Command {
  return command
    .option(resultFlags, 'write every figure and the configuration as JSON to this file')
    .option('--metadata <key=value...>', 'extra fields for the result file (e.g. device=H100 dtype=bf16)')
    .option('--disable-tqdm', 'no progress bar');
}

function datasetOptions(opts: Opts, overrides: { inputLen?: number; outputLen?: number } = {}): Omit<DatasetOptions, 'warn'> {
  const name = (opts.datasetName ?? opts.dataset ?? (opts.datasetPath ? 'sharegpt' : 'random')) as DatasetOptions['name'];
  const sharegptOutputLen = (overrides.outputLen ?? opts.sharegptOutputLen) as number | undefined;
  return {
    name,
    numPrompts: opts.numPrompts as number,
    seed: opts.seed as number,
    ...(opts.datasetPath ? { path: opts.datasetPath as string } : {}),
    randomInputLen: overrides.inputLen ?? (opts.randomInputLen as number),
    randomOutputLen: overrides.outputLen ?? (opts.randomOutputLen as number),
    randomRangeRatio: opts.randomRangeRatio as number,
    randomPrefixLen: opts.randomPrefixLen as number,
    ...(sharegptOutputLen !== undefined && { sharegptOutputLen }),
  };
}

/** Loads the engine from the engine flags, runs `body`, and always closes the engine. */
async function withEngine<T>(opts: Opts, body: (llm: LLM) => Promise<T>): Promise<T> {
  const llm = await LLM.load(engineOptionsFromFlags(opts));
  try {
    return await body(llm);
  } finally {
    await llm.close();
  }
}

export function registerBench(program: Command): void {
  const bench = program.command('bench').description('benchmark latency, offline throughput, or a server (vLLM\'s benchmarks and figures)');

  const latency = bench.command('latency').description('latency of one batch, generated in this process');
  addEngineFlags(latency)
    .option('--input-len <n>', 'prompt tokens per request', integer('--input-len'), 32)
    .option('--output-len <n>', 'output tokens per request', integer('--output-len'), 128)
    .option('--batch-size <n>', 'requests in the batch', integer('--batch-size'), 8)
    .option('--num-iters-warmup <n>', 'unmeasured iterations first', nonNegativeInteger('--num-iters-warmup'), 10)
    .option('--num-iters <n>', 'measured iterations', integer('--num-iters'), 30)
    .option('--seed <n>', 'seed of the random prompts', nonNegativeInteger('--seed'), 0);
  addOutputFlags(latency).option('--output-json <file>', 'same as --result-file (vLLM\'s name)');
  latency.action(async (opts: Opts) => {
    const { benchLatency } = await import('../bench/latency.js');
    await withEngine(opts, (llm) =>
      benchLatency(llm, {
        batchSize: opts.batchSize as number,
        inputLen: opts.inputLen as number,
        outputLen: opts.outputLen as number,
        numItersWarmup: opts.numItersWarmup as number,
        numIters: opts.numIters as number,
        seed: opts.seed as number,
        ...outputOptions(opts),
        engineOptions: engineOptionsFromFlags(opts) as Record<string, unknown>,
      }),
    );
  });

  const throughput = bench.command('throughput').description('offline throughput: every prompt submitted at once to the engine in this process');
  addDatasetFlags(addEngineFlags(throughput))
    .option('--input-len <n>', 'same as --random-input-len', integer('--input-len'))
    .option('--output-len <n>', 'output tokens of every request (overrides the dataset\'s)', integer('--output-len'));
  addOutputFlags(throughput).option('--output-json <file>', 'same as --result-file (vLLM\'s name)');
  throughput.action(async (opts: Opts) => {
    const { benchThroughput } = await import('../bench/throughput.js');
    await withEngine(opts, (llm) =>
      benchThroughput(llm, {
        dataset: datasetOptions(opts, {
          ...(opts.inputLen !== undefined && { inputLen: opts.inputLen as number }),
          ...(opts.outputLen !== undefined && { outputLen: opts.outputLen as number }),
        }),
        ...outputOptions(opts),
        engineOptions: engineOptionsFromFlags(opts) as Record<string, unknown>,
      }),
    );
  });

  const serve = bench.command('serve').description('benchmark an OpenAI-compatible server (streaming): TTFT, TPOT, ITL, E2EL, throughput, goodput');
  addDatasetFlags(serve)
    .option('--base-url <url>', 'server origin, e.g. http://127.0.0.1:8000 (default from --host and --port)')
    .option('--host <host>', 'server host', '127.0.0.1')
    .option('--port <port>', 'server port', integer('--port'), 8000)
    .option('--endpoint <path>', '/v1/completions or /v1/chat/completions (default from --backend)')
    .addOption(new Option('--backend <backend>', 'vllm or openai: completions; openai-chat: chat completions').choices(['vllm', 'openai', 'openai-chat']).default('vllm'))
    .option('--model <name>', 'model to ask for (default: the first /v1/models lists); a local directory also gives the tokenizer')
    .option('--served-model-name <name>', 'send this as model instead of --model')
    .option('--tokenizer <dir>', 'local model directory whose tokenizer builds prompts and counts tokens')
    .addOption(new Option('--request-rate <rate>', 'requests per second (inf: all at once)').argParser(positiveNumber('--request-rate', { allowInf: true })).default(Infinity, 'inf'))
    .option('--burstiness <b>', 'shape of the gamma-distributed arrival gaps (1: Poisson)', positiveNumber('--burstiness'), 1)
    .option('--max-concurrency <n>', 'most requests in flight', integer('--max-concurrency'))
    .option('--ignore-eos', 'ask the server to ignore EOS, so every output has its exact length')
    .option('--num-warmups <n>', 'unmeasured requests first', nonNegativeInteger('--num-warmups'), 0)
    .addOption(
      new Option('--percentile-metrics <list>', 'metrics to report percentiles of: ttft, tpot, itl, e2el')
        .argParser(checked(parsePercentileMetrics))
        .default(parsePercentileMetrics('ttft,tpot,itl'), 'ttft,tpot,itl'),
    )
    .addOption(new Option('--metric-percentiles <list>', 'percentiles to report, e.g. 25,50,90,99').argParser(checked(parsePercentiles)).default([99], '99'))
    .option('--goodput <slo...>', 'SLOs in ms, e.g. ttft:500 tpot:50 e2el:2000: report requests/s meeting all')
    .option('--temperature <t>', 'sampling temperature (default 0: greedy, as vLLM)', number('--temperature', { min: 0 }), 0)
    .option('--top-p <p>', 'top_p', number('--top-p', { min: 0, max: 1 }))
    .option('--top-k <k>', 'top_k', number('--top-k', { min: -1 }))
    .option('--min-p <p>', 'min_p', number('--min-p', { min: 0, max: 1 }));
  addOutputFlags(serve).option('--save-detailed', 'also write per-request lengths, TTFTs, ITLs, texts and errors to the result file');
  serve.action(async (opts: Opts) => {
    const { benchServe } = await import('../bench/serve.js');
    const endpoint = (opts.endpoint as string | undefined) ?? (opts.backend === 'openai-chat' ? '/v1/chat/completions' : '/v1/completions');
    if (opts.backend === 'openai-chat' && !endpoint.endsWith('/chat/completions')) throw new InvalidArgumentError('--backend openai-chat needs a chat endpoint (/v1/chat/completions)');
    const apiKey = process.env.OPENAI_API_KEY;
    const { metrics } = await benchServe({
      baseUrl: (opts.baseUrl as string | undefined) ?? `http://${opts.host}:${opts.port}`,
      endpoint,
      ...(opts.model ? { model: opts.model as string } : {}),
      ...(opts.servedModelName ? { servedModelName: opts.servedModelName as string } : {}),
      ...(opts.tokenizer ? { tokenizer: opts.tokenizer as string } : {}),
      dataset: datasetOptions(opts),
      requestRate: opts.requestRate as number,
      burstiness: opts.burstiness as number,
      ...(opts.maxConcurrency !== undefined && { maxConcurrency: opts.maxConcurrency as number }),
      ignoreEos: Boolean(opts.ignoreEos),
      numWarmups: opts.numWarmups as number,
      ...(opts.goodput ? { goodput: parseGoodput(opts.goodput as string[]) } : {}),
      percentileMetrics: opts.percentileMetrics as ReturnType<typeof parsePercentileMetrics>,
      percentiles: opts.metricPercentiles as number[],
      sampling: {
        temperature: opts.temperature,
        ...(opts.topP !== undefined && { top_p: opts.topP }),
        ...(opts.topK !== undefined && { top_k: opts.topK }),
        ...(opts.minP !== undefined && { min_p: opts.minP }),
      },
      ...(apiKey && { apiKey }),
      ...outputOptions(opts),
      saveDetailed: Boolean(opts.saveDetailed),
    });
    // Every request failing is a misconfiguration, not a figure: say so through the exit code.
    if (metrics.completed === 0) process.exitCode = 1;
  });
}

function outputOptions(opts: Opts): BenchOutputOptions {
  const file = (opts.resultFile ?? opts.outputJson) as string | undefined;
  return {
    ...(file && { resultFile: file }),
    metadata: parseMetadata(opts.metadata as string[] | undefined),
    progress: !opts.disableTqdm,
    print,
    warn,
  };
}
