// What an in-process benchmark records about the engine it ran: model, device, dtype, limits.
import type { LLM } from '../llm.js';

export function engineInfo(llm: LLM) {
  const stats = llm.stats();
  const config = llm.engine.model.config;
  return {
    model: llm.modelName,
    model_dir: llm.engine.model.dir,
    device: stats.backend,
    ...(stats.backendNote && { device_note: stats.backendNote }),
    // The checkpoint's dtype; the CPU backend computes in float32 whatever it is.
    dtype: config.torchDtype,
    max_model_len: llm.engine.maxModelLen,
    kv_cache_blocks: stats.numBlocks,
    block_size: stats.blockSize,
  };
}
