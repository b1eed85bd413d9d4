// The `nodellm` command line: `nodellm serve` starts the OpenAI-compatible server; `nodellm
// worker` runs the RunPod serverless worker; `nodellm bench` runs vLLM's benchmarks; `nodellm
// download` fetches a model into the HF cache.
import { constants } from 'node:os';

import { Command, InvalidArgumentError } from 'commander';

import { SERVER_MAX_WAITING_SEQS } from '../config/engine-options.js';
import { explainBackendNote } from '../engine/backend-note.js';
import { LLM } from '../llm.js';
import { packageVersion } from '../package-root.js';
import { LOG_LEVELS, type LogLevel } from '../runpod/logger.js';
import { createServer } from '../server/app.js';
import { CORS_DEFAULTS } from '../server/cors.js';
import { describeShutdown, shutdownServer } from '../server/shutdown.js';
import { integer, jsonStringList, positiveNumber } from './arguments.js';
import { registerBench } from './bench.js';
import { runDownload } from './download.js';
import { addEngineFlags, engineOptionsFromFlags } from './engine-flags.js';

const program = new Command('nodellm')
  .description('LLM inference engine and OpenAI-compatible server for Node.js')
  .version(packageVersion(), '-V, --version', 'print the version of nodellm');

/** A signal that arrives again within this many ms is the same one delivered twice (see stop below). */
const SAME_SIGNAL_MS = 500;

addEngineFlags(
  program.command('serve').description('serve a model over the OpenAI API (default: the embedded default model)'),
)
  .option('--host <host>', 'address to listen on', '0.0.0.0')
  .option('--port <port>', 'port to listen on', integer('--port'), Number(process.env.PORT ?? 8000))
  .option('--api-key <key>', 'require this bearer token on every route but /health, /ping, /version and /metrics (env API_KEY)')
  .option('--request-timeout <s>', 'seconds a client has to send a whole request, headers and body (408 after)', positiveNumber('--request-timeout'), 30)
  .option('--keep-alive-timeout <s>', 'seconds an idle keep-alive connection stays open', positiveNumber('--keep-alive-timeout'), 5)
  .option('--max-connections <n>', 'most connections open at once; more are closed at once', integer('--max-connections'), 1024)
  .option('--body-limit <bytes>', 'largest request body (413 above it)', integer('--body-limit'), 32 * 1024 * 1024)
  .option('--shutdown-timeout <s>', 'on SIGTERM/SIGINT, seconds requests in flight may finish before they are aborted (env SHUTDOWN_TIMEOUT; default 30)', positiveNumber('--shutdown-timeout'))
  // vLLM's CORS flags: JSON lists, e.g. --allowed-origins '["https://app.example"]'.
  .option('--allowed-origins <json>', 'CORS: origins allowed, a JSON list ("*": any; []: CORS off)', jsonStringList('--allowed-origins'), [...CORS_DEFAULTS.allowedOrigins])
  .option('--allowed-methods <json>', 'CORS: methods allowed, a JSON list ("*": any)', jsonStringList('--allowed-methods'), [...CORS_DEFAULTS.allowedMethods])
  .option('--allowed-headers <json>', 'CORS: request headers allowed, a JSON list ("*": any)', jsonStringList('--allowed-headers'), [...CORS_DEFAULTS.allowedHeaders])
  .option('--allow-credentials', 'CORS: allow credentials (cookies, Authorization) on cross-origin requests', false)
  .action(async (opts) => {
    const started = Date.now();
    // Read from the environment here rather than as commander defaults, so --help never prints
    // the key; SHUTDOWN_TIMEOUT is checked like the flag, before the model loads.
    const apiKey: string | undefined = opts.apiKey ?? process.env.API_KEY;
    const envShutdown = process.env.SHUTDOWN_TIMEOUT;
    const shutdownS: number = opts.shutdownTimeout ?? (envShutdown ? positiveNumber('SHUTDOWN_TIMEOUT')(envShutdown) : 30);
    const ms = (s: number) => Math.max(1, Math.round(s * 1000));
    // A server bounds what may wait (the library leaves it to its caller): --max-waiting-seqs.
    const options = { maxWaitingSeqs: SERVER_MAX_WAITING_SEQS, ...engineOptionsFromFlags(opts) };
    const llm = await LLM.load(options);
    const app = createServer(llm, {
      ...(apiKey && { apiKey }),
      requestTimeoutMs: ms(opts.requestTimeout),
      keepAliveTimeoutMs: ms(opts.keepAliveTimeout),
      maxConnections: opts.maxConnections,
      bodyLimit: opts.bodyLimit,
      cors: {
        allowedOrigins: opts.allowedOrigins,
        allowedMethods: opts.allowedMethods,
        allowedHeaders: opts.allowedHeaders,
        allowCredentials: opts.allowCredentials === true,
      },
    });
    const stats = llm.stats();
    await app.listen({ host: opts.host, port: opts.port });
    let first: { signal: NodeJS.Signals; at: number } | undefined;
    const stop = (signal: NodeJS.Signals) => {
      if (first) {
        // Ctrl-C under `npm start` reaches the server twice at once: from the terminal (to the
        // whole process group) and from npm, which forwards it. That is one signal, not a second.
        if (signal === first.signal && performance.now() - first.at < SAME_SIGNAL_MS) return;
        console.error(`${signal} again: exiting now`);
        process.exit(128 + (constants.signals[signal] ?? 0));
      }
      first = { signal, at: performance.now() };
      console.log(`${signal}: not accepting connections; requests in flight have ${shutdownS} s to finish`);
      shutdownServer(app, { graceMs: ms(shutdownS) })
        .then(async (result) => {
          await llm.close();
          console.log(describeShutdown(result));
          process.exit(0);
        })
        .catch((error: Error) => {
          console.error(`nodellm: shutdown failed: ${error.message}`);
          process.exit(1);
        });
    };
    // Before the line that says it serves: whoever waits for that line may signal at once.
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    console.log(
      `nodellm serving ${llm.modelName} on http://${opts.host}:${opts.port} | device ${stats.backend}` +
        (stats.backendNote ? ` (${explainBackendNote(stats.backendNote)})` : '') +
        ' | ' +
        `KV cache ${stats.numBlocks} blocks x ${stats.blockSize} tokens | max_model_len ${llm.engine.maxModelLen} | ` +
        (options.batchInvariant ? 'batch-invariant | ' : '') +
        `ready in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  });

program
  .command('worker')
  .description('run the RunPod serverless worker (worker-vllm compatible; configured by environment variables)')
  .option('--test_input <json>', 'run one job ({"input": {...}}) locally and print its result (default: ./test_input.json)')
  .option('--rp_serve_api', 'serve a local endpoint API (/run, /runsync, /stream/{id}, /status/{id})')
  // The local API has no authentication: loopback unless the user asks for more.
  .option('--rp_api_host <host>', 'address the local API listens on (0.0.0.0: every interface, no authentication)', '127.0.0.1')
  .option('--rp_api_port <port>', 'port of the local API', integer('--rp_api_port'), 8000)
  // Flag only, no environment variable: allowing outbound POSTs is a decision for the command
  // line at hand, not something an inherited environment should switch on unseen.
  .option(
    '--rp_webhook_hosts <list>',
    'hosts a job\'s "webhook" may POST to: comma-separated host or host:port, repeatable (default: none, webhooks refused)',
    (value: string, previous: string[] = []) => [...previous, value],
  )
  .option('--rp_log_level <level>', `log level: ${LOG_LEVELS.join(', ')}`)
  .action(async (opts) => {
    const level = opts.rp_log_level?.toUpperCase();
    if (level !== undefined && !LOG_LEVELS.includes(level)) throw new InvalidArgumentError(`--rp_log_level must be one of ${LOG_LEVELS.join(', ')}`);
    const { parseWebhookHosts } = await import('../runpod/dev-api.js');
    let webhookHosts: string[];
    try {
      webhookHosts = ((opts.rp_webhook_hosts ?? []) as string[]).flatMap(parseWebhookHosts);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
    const { runWorker } = await import('../runpod/worker.js');
    const code = await runWorker({
      ...(opts.test_input !== undefined && { testInput: opts.test_input }),
      ...(opts.rp_serve_api && { serveApi: true, apiHost: opts.rp_api_host, apiPort: opts.rp_api_port, webhookHosts }),
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
