// AsyncEngine: the request lifecycle around the native engine. Requests are tokenized and
// validated here, fanned out into n native sequences, and joined into the running batch between
// steps (continuous batching). One loop drives the native engine: each step runs on a native
// worker thread; while it runs, the loop has already queued the requests that arrived, and as soon
// as it returns the next step starts before this step's tokens are detokenized and streamed, so
// JS work overlaps the model's. Stop strings and aborts (a caller that stops iterating) end
// sequences natively at the next step boundary.
//
// Before any of that, a request is admitted or refused (admission.ts: sequences per request,
// sequences waiting) and its input is measured against the limits (input-limits.ts), so that a
// request the engine would refuse anyway costs next to nothing.
import { randomUUID } from 'node:crypto';

import { ChatTemplate } from '../chat/template.js';
import { type EngineOptions, validateEngineOptions } from '../config/engine-options.js';
import { ValidationError } from '../errors.js';
import { DEFAULT_MODEL_NAME, ensureDefaultModel } from '../models/default-model.js';
import { type ModelFiles, nativeEngineConfig, readModelFiles } from '../models/load-model.js';
import { scaledContextLength } from '../models/hf-config.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import { Admission, type RequestGroup } from './admission.js';
import { AsyncQueue } from './async-queue.js';
import { CHARS_PER_TOKEN, type ChatContent, InputLimits, InputTooLargeError } from './input-limits.js';
import { type NativeEngine, type NativeEngineStats, type NativeStepResult, addon } from './native.js';
import {
  type ResolvedSamplingParams,
  type SamplingParams,
  resolveSamplingParams,
  toNativeParams,
} from './sampling-params.js';
import { type EngineObserver, RequestClock } from './request-metrics.js';
import { SequenceOutput } from './sequence-output.js';
import type { FinishReason, RequestChunk, TokenLogprob } from './types.js';

/** A prompt as text (tokenized with the tokenizer's special tokens, e.g. BOS) or as token ids. */
export type PromptInput = string | { promptTokenIds: readonly number[] };

export interface GenerateOptions {
  requestId?: string;
  /** Aborts the request (finish reason "abort") when signalled. */
  signal?: AbortSignal;
  /**
   * The caller's request this prompt is part of (openGroup), when one request sends several
   * prompts: they were admitted together and share running slots as one. Default: a group of
   * its own.
   */
  group?: RequestGroup;
}

/** Default most sequences one request may start (prompts x n). */
export const DEFAULT_MAX_SEQS_PER_REQUEST = 256;

const FINISH_REASONS: (FinishReason | null)[] = [null, 'stop', 'length', 'abort'];

class RequestState {
  readonly queue: AsyncQueue<RequestChunk>;
  readonly sequences: SequenceOutput[];
  readonly seqIds: number[] = [];
  promptLogprobs: (TokenLogprob | null)[] | null;
  promptLogprobsSent = false;

  constructor(
    readonly clock: RequestClock,
    readonly id: string,
    readonly promptTokenIds: readonly number[],
    readonly params: ResolvedSamplingParams,
    tokenizer: Tokenizer,
    onCancel: () => void,
  ) {
    this.queue = new AsyncQueue(onCancel);
    this.sequences = Array.from({ length: params.n }, (_, i) => new SequenceOutput(tokenizer, promptTokenIds, params, i));
    this.promptLogprobs = params.prompt_logprobs === null ? null : [null];
  }

  get finished(): boolean {
    return this.sequences.every((s) => s.finished);
  }
}

export class AsyncEngine {
  private readonly requests = new Map<string, RequestState>();
  private readonly sequences = new Map<number, { request: RequestState; index: number }>();
  private pendingAdds: { seqId: number; group: number; prompt: Int32Array; request: RequestState; index: number; maxTokens: number }[] = [];
  private pendingAborts: number[] = [];
  private nextSeqId = 1;
  private loop: Promise<void> | null = null;
  private stepInFlight = false;
  private readonly observers = new Set<EngineObserver>();
  // Fans each report out to every observer (e.g. several servers over one engine).
  private readonly observer: EngineObserver = {
    onFirstToken: (s) => this.observers.forEach((o) => o.onFirstToken?.(s)),
    onInterTokenLatency: (s) => this.observers.forEach((o) => o.onInterTokenLatency?.(s)),
    onRequestFinished: (r) => this.observers.forEach((o) => o.onRequestFinished?.(r)),
    onRequestRefused: (reason) => this.observers.forEach((o) => o.onRequestRefused?.(reason)),
  };
  /** Whether requests are taken on (sequences per request, sequences waiting). */
  readonly admission: Admission;
  /** generation_config.json's EOS ids other than the tokenizer's eos_token: stop ids of every request. */
  private readonly generationStopIds: number[];
  private latestStats: NativeEngineStats;
  private steps = 0;
  private closed = false;

  private constructor(
    private readonly native: NativeEngine,
    readonly tokenizer: Tokenizer,
    readonly chatTemplate: ChatTemplate,
    readonly model: ModelFiles,
    readonly modelName: string,
    readonly maxModelLen: number,
    readonly maxLogprobs: number,
    /** How large a request's input may be before it is refused (checked before tokenization). */
    readonly limits: InputLimits,
    admissionLimits: { maxSeqsPerRequest: number; maxWaitingSeqs: number },
  ) {
    this.latestStats = native.stats();
    this.generationStopIds = model.generation.eosTokenIds.filter((id) => id !== tokenizer.eosTokenId);
    this.admission = new Admission(
      admissionLimits,
      () => this.stats().numWaiting + this.pendingAdds.length,
      (reason) => this.observer.onRequestRefused!(reason),
    );
  }

  static async create(options: EngineOptions = {}): Promise<AsyncEngine> {
    const opts = validateEngineOptions(options);
    // Checked before anything loads, so a contradiction costs nothing.
    const maxWaitingSeqs = opts.maxWaitingSeqs ?? Infinity;
    // By default one request may ask for as much as may wait.
    const admission = { maxSeqsPerRequest: opts.maxSeqsPerRequest ?? Math.min(DEFAULT_MAX_SEQS_PER_REQUEST, maxWaitingSeqs), maxWaitingSeqs };
    if (admission.maxSeqsPerRequest > admission.maxWaitingSeqs) {
      throw new ValidationError(
        'maxSeqsPerRequest',
        `maxSeqsPerRequest (${admission.maxSeqsPerRequest}) exceeds maxWaitingSeqs (${admission.maxWaitingSeqs}): a request that large could never be taken`,
      );
    }
    const dir = opts.model ?? (await ensureDefaultModel());
    const model = await readModelFiles(dir, { dummy: opts.loadFormat === 'dummy' });
    const maxModelLen = opts.maxModelLen ?? model.config.maxPositionEmbeddings;
    const longest = scaledContextLength(model.config);
    if (maxModelLen > longest) {
      throw new ValidationError(
        'maxModelLen',
        longest === model.config.maxPositionEmbeddings
          ? `maxModelLen (${maxModelLen}) exceeds the model's max_position_embeddings (${longest})`
          : `maxModelLen (${maxModelLen}) exceeds the model's context with its rope_scaling (${longest})`,
      );
    }
    const tokenizerDir = opts.tokenizer ?? model.dir;
    const [tokenizer, chatTemplate] = await Promise.all([
      Tokenizer.load(tokenizerDir),
      ChatTemplate.load(tokenizerDir, opts.chatTemplate !== undefined ? { override: opts.chatTemplate } : {}),
    ]);
    // As vLLM, a completion ends at the tokenizer's eos_token as well as at generation_config's.
    const tokenizerEos = tokenizer.eosTokenId;
    if (tokenizerEos !== undefined && tokenizerEos < model.config.vocabSize && !model.generation.eosTokenIds.includes(tokenizerEos)) {
      model.generation.eosTokenIds = [...model.generation.eosTokenIds, tokenizerEos];
    }
    const native = new addon.Engine(nativeEngineConfig(model, opts, maxModelLen));
    await native.load();
    const name = opts.servedModelName ?? (opts.model ?? DEFAULT_MODEL_NAME);
    const limits = new InputLimits(maxModelLen, opts.maxPromptChars ?? maxModelLen * CHARS_PER_TOKEN);
    return new AsyncEngine(native, tokenizer, chatTemplate, model, name, maxModelLen, opts.maxLogprobs ?? 20, limits, admission);
  }

  /**
   * Counters of the native engine (running / waiting sequences, KV blocks, preemptions): read
   * now when no step runs, else as of the last step.
   */
  stats(): NativeEngineStats {
    if (!this.stepInFlight) this.latestStats = this.native.stats();
    return this.latestStats;
  }

  /** Subscribes to request timings and outcomes (the server's metrics); returns the unsubscribe. */
  addObserver(observer: EngineObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  /**
   * Admits a request of several prompts as one (`sequences` = prompts x n), or refuses it:
   * ValidationError naming `field` when it asks for more sequences than one request may start,
   * OverloadedError when too many already wait. Pass the group to each prompt's generate() and
   * release() it once they have all started (or failed), in a finally block.
   */
  openGroup(sequences: number, field: string, what?: string): RequestGroup {
    return this.admission.open(sequences, field, what);
  }

  /** Tokenizes a prompt string once its size is within the limits (`field` names it in errors). */
  async encodePrompt(text: string, options: { addSpecialTokens: boolean; field: string }): Promise<number[]> {
    this.checkPromptText(text, options.field);
    return this.tokenizer.encode(text, { addSpecialTokens: options.addSpecialTokens });
  }

  /** Refuses a prompt string with more characters than the limit (before it is tokenized). */
  checkPromptText(text: string, field: string): void {
    this.withinLimits(() => this.limits.checkText(text, field));
  }

  /** Refuses a conversation too large to render (before the chat template runs). */
  checkMessages(messages: readonly ChatContent[], field = 'messages'): void {
    this.withinLimits(() => this.limits.checkMessages(messages, field));
  }

  /** Refuses a token-id list longer than the context (before its ids are checked one by one). */
  checkTokenCount(count: number, field: string): void {
    this.withinLimits(() => this.limits.checkTokenCount(count, field));
  }

  private withinLimits(check: () => void): void {
    try {
      check();
    } catch (error) {
      if (error instanceof InputTooLargeError) this.observer.onRequestRefused!('input_too_large');
      throw error;
    }
  }

  /** Steps the engine has run since it was created (for measuring latency in steps). */
  get stepsRun(): number {
    return this.steps;
  }

  /** Number of requests not finished yet. */
  get numUnfinishedRequests(): number {
    return this.requests.size;
  }

  /**
   * Starts a request and streams its chunks. Breaking out of the iteration aborts the request.
   * Throws ValidationError (naming the field) for bad parameters or a prompt that does not fit.
   */
  async *generate(prompt: PromptInput, params?: SamplingParams, options: GenerateOptions = {}): AsyncGenerator<RequestChunk> {
    const request = await this.addRequest(prompt, params, options);
    const onAbort = () => this.abort(request.id);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      yield* request.queue;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      if (!request.finished) this.abort(request.id);
    }
  }

  /** Ends a request now: its completions finish with reason "abort" and its KV blocks are freed. */
  abort(requestId: string): void {
    const request = this.requests.get(requestId);
    if (!request) return;
    for (const seqId of request.seqIds) this.pendingAborts.push(seqId);
    const running = request.sequences.filter((s) => !s.finished);
    for (const seq of running) seq.finish('abort');
    this.emit(request, running);
    this.ensureLoop();
  }

  /** Aborts every request, waits for the step in flight, and frees the native engine. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const id of [...this.requests.keys()]) this.abort(id);
    await this.loop;
    this.native.close();
  }

  private async addRequest(prompt: PromptInput, params: SamplingParams | undefined, options: GenerateOptions): Promise<RequestState> {
    if (this.closed) throw new Error('nodellm: the engine is closed');
    const clock = new RequestClock();
    const resolved = resolveSamplingParams(params, {
      vocabSize: this.model.config.vocabSize,
      maxLogprobs: this.maxLogprobs,
      defaults: this.model.generation.defaults,
    });
    // vLLM's update_from_generation_config: generation_config's EOS ids other than the tokenizer's
    // join stop_token_ids, so a completion they end reports the id as its stop_reason.
    if (!resolved.ignore_eos && this.generationStopIds.length > 0) {
      resolved.stop_token_ids = [...new Set([...this.generationStopIds, ...resolved.stop_token_ids])];
    }
    const group = options.group ?? this.openGroup(resolved.n, 'n');
    let promptTokenIds: number[];
    let maxTokens: number;
    const id = options.requestId ?? `req-${randomUUID()}`;
    try {
      promptTokenIds = await this.tokenizePrompt(prompt);
      maxTokens = this.checkLength(promptTokenIds.length, resolved.max_tokens, resolved.min_tokens);
      if (this.requests.has(id)) throw new ValidationError('request_id', `Request id ${id} is already in use`);
      if (this.closed) throw new Error('nodellm: the engine is closed');
    } catch (error) {
      if (!options.group) group.release();
      throw error;
    }

    const request = new RequestState(clock, id, promptTokenIds, resolved, this.tokenizer, () => this.abort(id));
    this.requests.set(id, request);
    const prompt32 = Int32Array.from(promptTokenIds);
    group.take(resolved.n);
    for (let index = 0; index < resolved.n; index++) {
      const seqId = this.nextSeqId++;
      // A group's id is its first sequence's: unique, and never another group's.
      group.nativeId ??= seqId;
      request.seqIds.push(seqId);
      this.sequences.set(seqId, { request, index });
      this.pendingAdds.push({ seqId, group: group.nativeId, prompt: prompt32, request, index, maxTokens });
    }
    if (options.signal?.aborted) this.abort(id);
    this.ensureLoop();
    return request;
  }

  private async tokenizePrompt(prompt: PromptInput): Promise<number[]> {
    let ids: number[];
    if (typeof prompt === 'string') {
      ids = await this.encodePrompt(prompt, { addSpecialTokens: true, field: 'prompt' });
    } else if (prompt && Array.isArray(prompt.promptTokenIds)) {
      this.checkTokenCount(prompt.promptTokenIds.length, 'prompt');
      ids = [...prompt.promptTokenIds];
      const vocab = this.model.config.vocabSize;
      const bad = ids.find((t) => !Number.isInteger(t) || t < 0 || t >= vocab);
      if (bad !== undefined) throw new ValidationError('prompt', `Token id ${bad} in the prompt is outside the vocabulary [0, ${vocab - 1}]`);
    } else {
      throw new ValidationError('prompt', 'The prompt must be a string or { promptTokenIds: number[] }');
    }
    if (ids.length === 0) throw new ValidationError('prompt', 'The prompt is empty');
    return ids;
  }

  /** The output budget of a prompt; throws when prompt + max_tokens exceeds maxModelLen. */
  private checkLength(promptLen: number, maxTokens: number | null, minTokens: number): number {
    if (promptLen >= this.maxModelLen) {
      throw new ValidationError(
        'prompt',
        `The prompt has ${promptLen} tokens, but this model's maximum context length is ${this.maxModelLen} tokens, which must also leave room for the output`,
      );
    }
    if (maxTokens === null) {
      const budget = this.maxModelLen - promptLen;
      // min_tokens against the output's room, as vLLM checks it once max_tokens is filled in.
      if (minTokens > budget) {
        throw new ValidationError('min_tokens', `min_tokens (${minTokens}) must not exceed the ${budget} tokens the context leaves for the output`);
      }
      return budget;
    }
    if (promptLen + maxTokens > this.maxModelLen) {
      throw new ValidationError(
        'max_tokens',
        `This model's maximum context length is ${this.maxModelLen} tokens. However, you requested ${promptLen + maxTokens} tokens (${promptLen} in the prompt, ${maxTokens} for the completion). Please reduce the prompt or max_tokens.`,
      );
    }
    return maxTokens;
  }

  private ensureLoop(): void {
    if (this.loop) return;
    this.loop = this.runLoop().finally(() => {
      this.loop = null;
      if (this.pendingAdds.length > 0 || this.pendingAborts.length > 0) this.ensureLoop();
    });
  }

  /** Hands queued adds and aborts to the native engine; only called while no step runs. */
  private flushPending(): void {
    for (const seqId of this.pendingAborts) {
      this.native.abort(seqId);
      this.forgetSequence(seqId);
    }
    this.pendingAborts = [];
    const adds = this.pendingAdds;
    this.pendingAdds = [];
    for (const add of adds) {
      if (!this.sequences.has(add.seqId)) continue; // aborted before it started
      try {
        this.native.addRequest(add.seqId, add.prompt, toNativeParams(add.request.params, add.maxTokens, add.index), add.group);
      } catch (err) {
        this.failRequest(add.request, err);
      }
    }
  }

  private startStep(): Promise<NativeStepResult> | null {
    if (!this.native.hasWork()) return null;
    this.stepInFlight = true;
    return this.native.step().finally(() => {
      this.stepInFlight = false;
    });
  }

  private async runLoop(): Promise<void> {
    let inflight: Promise<NativeStepResult> | null = null;
    for (;;) {
      if (!inflight) {
        this.flushPending();
        inflight = this.startStep();
        if (!inflight) return;
      }
      let result: NativeStepResult;
      try {
        result = await inflight;
      } catch (err) {
        inflight = null;
        this.failAll(err);
        continue;
      }
      this.latestStats = result.stats;
      // Start the next step first, then stream this one's tokens while it runs.
      this.flushPending();
      inflight = this.startStep();
      this.processStep(result);
      if (!inflight && !this.native.hasWork() && this.pendingAdds.length === 0 && this.pendingAborts.length === 0) return;
    }
  }

  private processStep(result: NativeStepResult): void {
    this.steps++;
    const touched = new Map<RequestState, SequenceOutput[]>();
    let finished = 0;
    if (result.promptLogprobs) this.collectPromptLogprobs(result);
    for (let row = 0; row < result.seqIds.length; row++) {
      const seqId = result.seqIds[row]!;
      const entry = this.sequences.get(seqId);
      if (!entry) continue; // aborted while the step ran
      const { request, index } = entry;
      const seq = request.sequences[index]!;
      const nativeFinish = FINISH_REASONS[result.finishReasons[row]!] ?? null;
      const logprob = request.params.logprobs === null ? null : this.tokenLogprob(result, row, request.params.logprobs);
      const stoppedByString = seq.append(result.tokens[row]!, logprob, nativeFinish);
      if (stoppedByString && !nativeFinish) this.pendingAborts.push(seqId);
      else if (seq.finished) this.forgetSequence(seqId);
      if (seq.finished) finished++;
      const list = touched.get(request) ?? [];
      list.push(seq);
      touched.set(request, list);
    }
    if (finished > 0) this.admission.noteFinished(finished);
    for (const [request, seqs] of touched) {
      request.clock.tokens(this.observer);
      this.emit(request, seqs);
    }
  }

  private tokenLogprob(result: NativeStepResult, row: number, k: number): TokenLogprob {
    const top = [];
    for (let j = 0; j < k && j < result.topK; j++) {
      const token = result.topIds[row * result.topK + j]!;
      if (token < 0) break;
      top.push({ token, logprob: result.topLogprobs[row * result.topK + j]! });
    }
    return { token: result.tokens[row]!, logprob: result.logprobs[row]!, top };
  }

  private collectPromptLogprobs(result: NativeStepResult): void {
    const p = result.promptLogprobs!;
    for (let row = 0; row < p.seqIds.length; row++) {
      const entry = this.sequences.get(p.seqIds[row]!);
      const request = entry?.request;
      if (!request?.promptLogprobs) continue;
      const k = request.params.prompt_logprobs ?? 0;
      const top = [];
      for (let j = 0; j < k && j < p.topK; j++) top.push({ token: p.topIds[row * p.topK + j]!, logprob: p.topLogprobs[row * p.topK + j]! });
      request.promptLogprobs[p.positions[row]!] = { token: p.tokens[row]!, logprob: p.logprobs[row]!, top };
    }
  }

  /** Pushes the news of the given completions of a request to its stream. */
  private emit(request: RequestState, seqs: SequenceOutput[]): void {
    const finished = request.finished;
    if (finished) this.reportFinished(request);
    if (request.queue.isEnded) {
      // The caller stopped listening; only the bookkeeping remains.
      if (finished) this.requests.delete(request.id);
      return;
    }
    const outputs = [...new Set(seqs)].sort((a, b) => a.index - b.index).map((s) => s.takeDelta());
    const chunk: RequestChunk = { requestId: request.id, promptTokenIds: request.promptTokenIds, outputs, finished };
    // Prompt logprobs are complete once the first completion (which computes them) has a token.
    if (request.promptLogprobs && !request.promptLogprobsSent && (request.sequences[0]!.tokenIds.length > 0 || finished)) {
      chunk.promptLogprobs = request.promptLogprobs;
      request.promptLogprobsSent = true;
    }
    request.queue.push(chunk);
    if (finished) {
      request.queue.end();
      this.requests.delete(request.id);
    }
  }

  private reportFinished(request: RequestState): void {
    if (!this.requests.has(request.id)) return; // reported already
    this.observer.onRequestFinished!({
      promptTokens: request.promptTokenIds.length,
      generationTokens: request.sequences.reduce((sum, s) => sum + s.tokenIds.length, 0),
      finishReasons: request.sequences.map((s) => s.finishReason!),
      e2eLatency: request.clock.e2eLatency,
      timeToFirstToken: request.clock.timeToFirstToken,
    });
  }

  private forgetSequence(seqId: number): void {
    this.sequences.delete(seqId);
  }

  private failRequest(request: RequestState, error: unknown): void {
    for (const seqId of request.seqIds) {
      if (this.sequences.delete(seqId)) this.pendingAborts.push(seqId);
    }
    this.requests.delete(request.id);
    request.queue.fail(error);
  }

  /** A step failed: every request in flight fails with the error; the engine serves new ones. */
  private failAll(error: unknown): void {
    for (const request of [...this.requests.values()]) this.failRequest(request, error);
  }
}
