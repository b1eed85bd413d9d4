// The worker's handler: a job with a truthy openai_route goes to the OpenAI passthrough, any
// other to worker-vllm's standard path. Bad input throws (the job fails once, with a message
// naming the problem); the worker goes on serving.
import type { HandlerSettings } from '../config/worker-config.js';
import type { LLM } from '../llm.js';
import type { Handler } from './job.js';
import { parseJobInput } from './job-input.js';
import { runOpenAIJob } from './openai-job.js';
import { runStandardJob } from './standard-job.js';

export function createHandler(llm: LLM, settings: HandlerSettings): Handler {
  return async function* handler(job, { signal }) {
    const input = parseJobInput(job.input, settings.batch);
    if (input.kind === 'openai') yield* runOpenAIJob(llm, input, settings, signal);
    else yield* runStandardJob(llm, input, settings, signal);
  };
}
