// The embedded default model for tests, generated once into a shared temporary cache.
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { EngineOptions } from '../../lib/config/engine-options.js';
import { LLM } from '../../lib/llm.js';

export const TEST_CACHE_DIR = join(tmpdir(), 'nodellm-test-cache');

export function loadTestLLM(options: EngineOptions = {}): Promise<LLM> {
  return LLM.load({ cacheDir: TEST_CACHE_DIR, numThreads: 2, ...options });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
