// A completion ends at the tokenizer's eos_token even where generation_config.json leaves it out,
// as vLLM stops on both (the tokenizer's EOS and the generation config's eos_token_id).
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { LLM } from '../../lib/llm.js';
import { writeRandomLlamaModel } from '../../lib/models/random-model.js';
import { useTempDirs } from '../helpers/temp-dirs.js';

const tempDir = useTempDirs();
const dir = path.join(tempDir(), 'model');
// The Llama 3 tokenizer's eos_token is <|end_of_text|> (128001); the generation config names only <|eot_id|>.
writeRandomLlamaModel(dir, { config: { vocab_size: 128256, eos_token_id: [128009] } });
const llm = await LLM.load({ model: dir, numThreads: 2, maxModelLen: 64 });
afterAll(() => llm.close());

describe("the tokenizer's eos_token", () => {
  it('is an EOS id of the engine beside the generation config ones', () => {
    expect(llm.tokenizer.eosToken).toBe('<|end_of_text|>');
    expect(llm.engine.model.generation.eosTokenIds).toEqual([128009, 128001]);
  });

  it('ends a completion when sampled', async () => {
    const r = await llm.generate('Hello', { temperature: 0, max_tokens: 5, logit_bias: { 128001: 100 } });
    expect(r.outputs[0]!.tokenIds).toEqual([128001]);
    expect(r.outputs[0]!.finishReason).toBe('stop');
  });
});
