// The `nodellm` command line: `nodellm serve` starts the OpenAI-compatible server; `nodellm
// worker` runs the RunPod serverless worker; `nodellm bench` runs vLLM's benchmarks; `nodellm
// download` fetches a model into the HF cache.
import { Command, InvalidArgumentError } from 'commander';

import { LLM } from '../llm.js';
import { LOG_LEVELS, type LogLevel } from '../runpod/logger.js';
import { createServer } from '../server/app.js';
import { integer } from './arguments.js';
import { registerBench } from './bench.js';
import { runDownload } from './download.js';
import { addEngineFlags, engineOptionsFromFlags } from './engine-flags.js';

const program = new Command('nodellm').description('LLM inference engine and OpenAI-compatible server for Node.js');

addEngineFlags(
  program.command('serve').description('serve a model over the OpenAI API (default: the embedded default model)'),
)
  .option('--host <host>', 'address to listen on', '0.0.0.0')
  .option('--port <port>', 'port to listen on', integer('--port'), Number(process.env.PORT ?? 8000))
  .option('--api-key <key>', 'require this bearer token on /v1 routes (env API_KEY)')
  .action(async (opts) => {
    const started = Date.now();
    const options = engineOptionsFromFlags(opts);
    const llm = await LLM.load(options);
    // Read from the environment here rather than as a commander default, so --help never prints it.
    const apiKey: string | undefined = opts.apiKey ?? process.env.API_KEY;
    const app = createServer(llm, apiKey ? { apiKey } : {});
    const stats = llm.stats();
    await app.listen({ host: opts.host, port: opts.port });
    console.log(
      `nodellm serving ${llm.modelName} on http://${opts.host}:${opts.port} | device ${stats.backend}` +
        (stats.backendNote ? ` (${stats.backendNote})` : '') +
        ' | ' +
        `KV cache ${stats.numBlocks} blocks x ${stats.blockSize} tokens | max_model_len ${llm.engine.maxModelLen} | ` +
        (options.batchInvariant ? 'batch-invariant | ' : '') +
        `ready in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    const shutdown = async () => {
      await app.close();
      await llm.close();
      process.exit(0);
    };
    process.once('SIGINT', shutdown);
    process.once('SIGTERM', shutdown);
  });

program
  .command('worker')
  .description('run the RunPod serverless worker (worker-vllm compatible; configured by environment variables)')
  .option('--test_input <json>', 'run one job ({"input": {...}}) locally and print its result (default: ./test_input.json)')
  .option('--rp_serve_api', 'serve a local endpoint API (/run, /runsync, /stream/{id}, /status/{id})')
  .option('--rp_api_host <host>', 'host of the local API', 'localhost')
  .option('--rp_api_port <port>', 'port of the local API', integer('--rp_api_port'), 8000)
  .option('--rp_log_level <level>', `log level: ${LOG_LEVELS.join(', ')}`)
  .action(async (opts) => {
    const level = opts.rp_log_level?.toUpperCase();
    if (level !== undefined && !LOG_LEVELS.includes(level)) throw new InvalidArgumentError(`--rp_log_level must be one of ${LOG_LEVELS.join(', ')}`);
    const { runWorker } = await import('../runpod/worker.js');
    const code = await runWorker({
      ...(opts.test_input !== undefined && { testInput: opts.test_input }),
      ...(opts.rp_serve_api && { serveApi: true, apiHost: opts.rp_api_host, apiPort: opts.rp_api_port }),
      ...(level && { logLevel: level as LogLevel }),
    });
    process.exit(code);
  });

registerBench(program);

program
  .command('download')
  .description('download a Hugging Face model into the HF cache ($BASE_PATH/huggingface-cache/hub, HF_HUB_CACHE, ...)')
  .argument('<model>', 'repo id, e.g. meta-llama/Llama-3.2-1B-Instruct')
  .option('--revision <rev>', 'branch, tag or commit', process.env.MODEL_REVISION || undefined)
  .option('--tokenizer <repo>', 'also download this tokenizer repo')
  .option('--tokenizer-revision <rev>', 'revision of the tokenizer repo')
  .option('--cache-dir <dir>', 'HF cache directory (default from DOWNLOAD_DIR, HF_HUB_CACHE, BASE_PATH or HF_HOME)')
  .option('--write-model-args <file>', "record the download for the worker (a baked image's /local_model_args.json)")
  .action(async (model: string, opts) => {
    process.exit(await runDownload(model, opts));
  });

program.parseAsync().catch((error: Error) => {
  console.error(`nodellm: ${error.message}`);
  process.exit(1);
});
