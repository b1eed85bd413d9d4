// Prometheus metrics at /metrics, named and defined as vLLM's (vllm:... becomes nodellm:...),
// every series labelled with model_name.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

import type { AsyncEngine } from '../engine/async-engine.js';

// vLLM's buckets.
const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
const ITL_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
const E2E_BUCKETS = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680];
const TOKEN_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];

/** Creates the registry and subscribes it to the engine's request reports. */
export function createMetrics(engine: AsyncEngine): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ model_name: engine.modelName });
  const stats = () => engine.stats();

  new Gauge({
    name: 'nodellm:num_requests_running',
    help: 'Sequences in the running batch (one per completion of a request).',
    registers: [registry],
    collect() {
      this.set(stats().numRunning);
    },
  });
  new Gauge({
    name: 'nodellm:num_requests_waiting',
    help: 'Sequences waiting to be scheduled (new or preempted).',
    registers: [registry],
    collect() {
      this.set(stats().numWaiting);
    },
  });
  new Gauge({
    name: 'nodellm:kv_cache_usage_perc',
    help: 'Fraction of KV-cache blocks in use (0 to 1).',
    registers: [registry],
    collect() {
      const s = stats();
      this.set(1 - s.numFreeBlocks / s.numBlocks);
    },
  });
  new Counter({
    name: 'nodellm:num_preemptions_total',
    help: 'Sequences preempted (their KV blocks freed, to be recomputed) since start.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats().totalPreemptions);
    },
  });
  const promptTokens = new Counter({ name: 'nodellm:prompt_tokens_total', help: 'Prompt tokens of finished requests.', registers: [registry] });
  const generationTokens = new Counter({ name: 'nodellm:generation_tokens_total', help: 'Tokens generated for finished requests.', registers: [registry] });
  const success = new Counter({
    name: 'nodellm:request_success_total',
    help: 'Finished completions, by finish reason.',
    labelNames: ['finished_reason'],
    registers: [registry],
  });
  for (const reason of ['stop', 'length', 'abort']) success.inc({ finished_reason: reason }, 0);
  const ttft = new Histogram({ name: 'nodellm:time_to_first_token_seconds', help: 'Arrival to first token.', buckets: TTFT_BUCKETS, registers: [registry] });
  const itl = new Histogram({ name: 'nodellm:inter_token_latency_seconds', help: 'Gap between successive token batches of a request.', buckets: ITL_BUCKETS, registers: [registry] });
  const e2e = new Histogram({ name: 'nodellm:e2e_request_latency_seconds', help: 'Arrival to last token.', buckets: E2E_BUCKETS, registers: [registry] });
  const promptLen = new Histogram({ name: 'nodellm:request_prompt_tokens', help: 'Prompt tokens per request.', buckets: TOKEN_BUCKETS, registers: [registry] });
  const generationLen = new Histogram({ name: 'nodellm:request_generation_tokens', help: 'Generated tokens per request.', buckets: TOKEN_BUCKETS, registers: [registry] });

  const refused = new Counter({
    name: 'nodellm:request_refused_total',
    help: 'Requests refused before they started: too_many_sequences (prompts x n over --max-seqs-per-request, 400), overloaded (--max-waiting-seqs reached, 503), input_too_large (400).',
    labelNames: ['reason'],
    registers: [registry],
  });
  for (const reason of ['too_many_sequences', 'overloaded', 'input_too_large']) refused.inc({ reason }, 0);

  engine.addObserver({
    onRequestRefused: (reason) => refused.inc({ reason }),
    onFirstToken: (seconds) => ttft.observe(seconds),
    onInterTokenLatency: (seconds) => itl.observe(seconds),
    onRequestFinished: (r) => {
      promptTokens.inc(r.promptTokens);
      generationTokens.inc(r.generationTokens);
      for (const reason of r.finishReasons) success.inc({ finished_reason: reason });
      e2e.observe(r.e2eLatency);
      promptLen.observe(r.promptTokens);
      generationLen.observe(r.generationTokens);
    },
  });
  return registry;
}
