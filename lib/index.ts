// nodellm's public API.
export { LLM } from './llm.js';
export type { ChatParams, CompletionOutput, GenerateResult, StreamInput } from './llm.js';
export { AsyncEngine } from './engine/async-engine.js';
export type { GenerateOptions, PromptInput } from './engine/async-engine.js';
export type { SamplingParams, ResolvedSamplingParams } from './engine/sampling-params.js';
export type { CompletionDelta, FinishReason, RequestChunk, TokenLogprob, TopLogprob } from './engine/types.js';
export type { EngineOptions } from './config/engine-options.js';
export type { ChatMessage } from './chat/template.js';
export { ValidationError, ModelLoadError } from './errors.js';
export { DEFAULT_MODEL_NAME, ensureDefaultModel } from './models/default-model.js';
export { type ModelFamily, MODEL_FAMILIES, writeRandomLlamaModel, writeRandomModel } from './models/random-model.js';
