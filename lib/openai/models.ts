// GET /v1/models: the served model as vLLM lists it (the server and the RunPod worker both answer it).
import type { LLM } from '../llm.js';

export function modelList(llm: LLM) {
  return {
    object: 'list',
    data: [
      {
        id: llm.modelName,
        object: 'model',
        created: Math.floor(Date.now() / 1000),
        owned_by: 'nodellm',
        root: llm.engine.model.dir,
        parent: null,
        max_model_len: llm.engine.maxModelLen,
        permission: [],
      },
    ],
  };
}
