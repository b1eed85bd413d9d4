// The LLM that most tests run: the embedded default model on two CPU threads (CI's two cores).
import type { EngineOptions } from '../../lib/config/engine-options.js';
import { LLM } from '../../lib/llm.js';

export function loadTestLLM(options: EngineOptions = {}): Promise<LLM> {
  return LLM.load({ numThreads: 2, ...options });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
