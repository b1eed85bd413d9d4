// The library API: load a model, then generate, chat or stream. All heavy work runs off the
// event loop (tokenization in the tokenizers binding's threads, model steps on native threads).
//
//   const llm = await LLM.load();                                  // the embedded default model
//   const result = await llm.generate('Hello', { max_tokens: 8 }); // one prompt: one GenerateResult
//   console.log(result.outputs[0]?.text);
//   const results = await llm.generate(['Hello', 'Goodbye']);     // a list of prompts: a list, in order
//   for await (const chunk of llm.stream('Hello')) process.stdout.write(chunk.outputs[0]?.text ?? '');
//   await llm.close();
import type { ChatMessage } from './chat/template.js';
import type { EngineOptions } from './config/engine-options.js';
import { ValidationError } from './errors.js';
import { AsyncEngine, type GenerateOptions, type PromptInput } from './engine/async-engine.js';
import type { SamplingParams } from './engine/sampling-params.js';
import type { CompletionDelta, FinishReason, RequestChunk, TokenLogprob } from './engine/types.js';

/** Options of a chat request besides sampling, with vLLM's names. */
export interface ChatParams extends SamplingParams {
  /** End the prompt with the assistant's header so the model answers. Default true. */
  add_generation_prompt?: boolean;
  /** Let the model continue the last (assistant) message instead of starting a new one. */
  continue_final_message?: boolean;
  /** Extra variables for the chat template (e.g. enable_thinking). */
  chat_template_kwargs?: Record<string, unknown>;
}

export interface CompletionOutput {
  index: number;
  text: string;
  tokenIds: number[];
  finishReason: FinishReason | null;
  stopReason: string | number | null;
  logprobs: TokenLogprob[] | null;
}

export interface GenerateResult {
  requestId: string;
  promptTokenIds: readonly number[];
  outputs: CompletionOutput[];
  promptLogprobs?: (TokenLogprob | null)[];
}

export type StreamInput = PromptInput | { messages: ChatMessage[] };

export class LLM {
  private constructor(readonly engine: AsyncEngine) {}

  /** Loads a model (default: the embedded default model, models/brown-llama-6l). */
  static async load(options: EngineOptions = {}): Promise<LLM> {
    return new LLM(await AsyncEngine.create(options));
  }

  get modelName(): string {
    return this.engine.modelName;
  }

  get tokenizer() {
    return this.engine.tokenizer;
  }

  /** Completes one prompt, or several at once (batched together), and resolves when all finish. */
  generate(prompt: PromptInput, params?: SamplingParams, options?: GenerateOptions): Promise<GenerateResult>;
  generate(prompts: PromptInput[], params?: SamplingParams): Promise<GenerateResult[]>;
  generate(prompt: PromptInput | PromptInput[], params?: SamplingParams, options?: GenerateOptions) {
    if (Array.isArray(prompt)) return Promise.all(prompt.map((p) => collect(this.engine.generate(p, params))));
    return collect(this.engine.generate(prompt, params, options));
  }

  /** Answers a conversation using the model's chat template. */
  async chat(messages: ChatMessage[], params: ChatParams = {}, options?: GenerateOptions): Promise<GenerateResult> {
    return collect(this.stream({ messages }, params, options));
  }

  /** Streams a completion (or, given { messages }, a chat answer) chunk by chunk. */
  async *stream(input: StreamInput, params: ChatParams = {}, options?: GenerateOptions): AsyncGenerator<RequestChunk> {
    const { add_generation_prompt, continue_final_message, chat_template_kwargs, ...sampling } = params;
    let prompt: PromptInput;
    if (typeof input === 'object' && input !== null && 'messages' in input) {
      prompt = { promptTokenIds: await this.chatPromptIds(input.messages, params) };
    } else {
      if (add_generation_prompt !== undefined || continue_final_message !== undefined || chat_template_kwargs !== undefined) {
        throw new ValidationError('add_generation_prompt', 'Chat template options apply only to chat requests ({ messages })');
      }
      prompt = input;
    }
    yield* this.engine.generate(prompt, sampling, options);
  }

  /** The prompt text a conversation renders to with the chat template. */
  renderChat(messages: ChatMessage[], params: ChatParams = {}): string {
    if (!Array.isArray(messages) || messages.length === 0) {
      throw new ValidationError('messages', 'messages must be a non-empty array');
    }
    this.engine.checkMessages(messages);
    return this.engine.chatTemplate.render(messages, {
      addGenerationPrompt: params.add_generation_prompt ?? !params.continue_final_message,
      continueFinalMessage: params.continue_final_message ?? false,
      extra: params.chat_template_kwargs ?? {},
    });
  }

  /** The token ids a conversation is rendered to (template applied, no extra special tokens). */
  async chatPromptIds(messages: ChatMessage[], params: ChatParams = {}): Promise<number[]> {
    // The template writes BOS itself; vLLM encodes chat prompts without adding special tokens.
    return this.engine.tokenizer.encode(this.renderChat(messages, params), { addSpecialTokens: false });
  }

  /** Counters: running and waiting sequences, KV-cache blocks, preemptions, the backend. */
  stats() {
    return this.engine.stats();
  }

  async close(): Promise<void> {
    await this.engine.close();
  }
}

/** Runs a stream to its end and joins the deltas of each completion. */
async function collect(stream: AsyncIterable<RequestChunk>): Promise<GenerateResult> {
  let result: GenerateResult | null = null;
  for await (const chunk of stream) {
    result ??= { requestId: chunk.requestId, promptTokenIds: chunk.promptTokenIds, outputs: [] };
    if (chunk.promptLogprobs) result.promptLogprobs = chunk.promptLogprobs;
    for (const delta of chunk.outputs) merge(result.outputs, delta);
  }
  if (!result) throw new Error('nodellm: the request ended without output');
  result.outputs.sort((a, b) => a.index - b.index);
  return result;
}

function merge(outputs: CompletionOutput[], delta: CompletionDelta): void {
  let out = outputs.find((o) => o.index === delta.index);
  if (!out) {
    out = { index: delta.index, text: '', tokenIds: [], finishReason: null, stopReason: null, logprobs: delta.logprobs ? [] : null };
    outputs.push(out);
  }
  out.text += delta.text;
  out.tokenIds.push(...delta.tokenIds);
  if (delta.logprobs && out.logprobs) out.logprobs.push(...delta.logprobs);
  out.finishReason = delta.finishReason;
  out.stopReason = delta.stopReason;
}
