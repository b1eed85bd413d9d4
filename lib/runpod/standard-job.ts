// worker-vllm's standard path: a prompt (or messages, through the chat template with the
// generation prompt) generated with sampling_params (max_tokens 100 unless given, as
// worker-vllm injects it), yielding worker-vllm's items:
//   {"choices": [{"tokens": [text deltas]}, ... one per n], "usage": {"input": N, "output": M}}
// Streaming, each item holds the next 1, 3, 9, 27, 50, 50, ... updates (BatchSize); without
// streaming there is one item whose tokens are each choice's whole text. Unlike worker-vllm,
// usage.output counts generated tokens, and the last item gives each choice's finish_reason.
import { ValidationError } from '../errors.js';
import type { HandlerSettings } from '../config/worker-config.js';
import type { PromptInput } from '../engine/async-engine.js';
import type { CompletionDelta, FinishReason, RequestChunk } from '../engine/types.js';
import type { LLM } from '../llm.js';
import { BatchSize } from './batch-size.js';
import { JobInputError } from './job.js';
import type { StandardInput } from './job-input.js';

export interface StandardChoice {
  tokens: string[];
  finish_reason?: FinishReason | null;
}

export interface StandardItem {
  choices: StandardChoice[];
  usage: { input: number; output: number };
}

/** Engine validation errors name a sampling parameter; say where it was given. */
function inSamplingParams(error: unknown): unknown {
  if (!(error instanceof ValidationError) || error.field === 'prompt' || error.field === 'messages') return error;
  return new ValidationError(`sampling_params.${error.field}`, `Invalid sampling_params: ${error.message}`);
}

export async function* runStandardJob(
  llm: LLM,
  input: StandardInput,
  settings: HandlerSettings,
  signal: AbortSignal,
): AsyncGenerator<StandardItem> {
  const params = { ...input.samplingParams };
  if (!('max_tokens' in params)) params.max_tokens = settings.defaultMaxTokens;

  let prompt: PromptInput;
  if (input.messages) {
    try {
      prompt = { promptTokenIds: await llm.chatPromptIds(input.messages, { add_generation_prompt: true }) };
    } catch (error) {
      if (error instanceof ValidationError) throw new JobInputError(error.message, 'messages');
      throw new JobInputError(`The chat template could not be applied to messages: ${(error as Error).message}`, 'messages');
    }
  } else {
    prompt = input.prompt!;
  }

  const iterator = llm.engine.generate(prompt, params, { signal })[Symbol.asyncIterator]();
  let first: IteratorResult<RequestChunk>;
  try {
    first = await iterator.next(); // validation errors surface here, before anything is yielded
  } catch (error) {
    throw inSamplingParams(error);
  }
  const n = typeof params.n === 'number' ? params.n : 1;
  const batchSize = new BatchSize(input.batch);
  const finish: (FinishReason | null)[] = Array.from({ length: n }, () => null);
  const texts = Array.from({ length: n }, () => '');
  const usage = { input: 0, output: 0 };
  let batch: StandardChoice[] = texts.map(() => ({ tokens: [] }));
  let count = 0;
  let finishSent = false;
  const item = (last: boolean): StandardItem => {
    finishSent = last;
    return {
      choices: last ? batch.map((c, i) => ({ ...c, finish_reason: finish[i] ?? null })) : batch,
      usage: { ...usage },
    };
  };

  try {
    for (let next = first; !next.done; next = await iterator.next()) {
      const chunk = next.value;
      usage.input = chunk.promptTokenIds.length;
      for (const o of chunk.outputs) if (o.finishReason) finish[o.index] = o.finishReason;
      // A delta with neither text nor tokens only reports a finish: it is not an update.
      const isUpdate = (o: CompletionDelta) => o.tokenIds.length > 0 || o.text !== '';
      const lastUpdate = chunk.outputs.findLastIndex(isUpdate);
      for (const [k, o] of chunk.outputs.entries()) {
        usage.output += o.tokenIds.length;
        if (!isUpdate(o)) continue;
        texts[o.index] += o.text;
        if (!input.stream) continue;
        batch[o.index]!.tokens.push(o.text);
        count++;
        if (batchSize.isFull(count)) {
          yield item(chunk.finished && k === lastUpdate);
          batch = texts.map(() => ({ tokens: [] }));
          count = 0;
          batchSize.grow();
        }
      }
    }
  } finally {
    await iterator.return?.(undefined);
  }
  if (!input.stream) {
    batch = texts.map((text) => ({ tokens: [text] }));
    yield item(true);
  } else if (count > 0 || !finishSent) {
    yield item(true);
  }
}
