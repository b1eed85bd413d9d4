// Bad input gets a clear error that names what is wrong, and the engine keeps serving.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ModelLoadError, ValidationError } from '../../lib/errors.js';
import { LLM } from '../../lib/llm.js';
import { readSafetensorsIndex, writeSafetensors } from '../../lib/models/safetensors.js';
import { writeModel } from '../helpers/native-engine.js';
import { loadTestLLM } from '../helpers/test-llm.js';

const small = { seed: 5, config: { vocab_size: 128256, hidden_size: 32, intermediate_size: 64, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 16, num_hidden_layers: 1 } };

describe('models that cannot be loaded', () => {
  it('an unknown architecture', async () => {
    const dir = writeModel(small);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, architectures: ['GPT2LMHeadModel'], model_type: 'gpt2' }));
    const error = await LLM.load({ model: dir }).catch((e) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect(error.message).toMatch(/Unsupported architecture "GPT2LMHeadModel".*LlamaForCausalLM/);
  });

  it('no weights at all', async () => {
    const dir = writeModel(small);
    rmSync(join(dir, 'model.safetensors'));
    const error = await LLM.load({ model: dir }).catch((e) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect(error.message).toMatch(/no safetensors weights found/);
  });

  it('a missing weight names the tensor', async () => {
    const dir = writeModel(small);
    const entries = await readSafetensorsIndex(dir);
    const { readTensorF64 } = await import('../../lib/models/safetensors.js');
    const kept = entries.filter((e) => e.name !== 'model.layers.0.mlp.down_proj.weight');
    const tensors = kept.map((e) => ({ name: e.name, dtype: 'F32' as const, shape: e.shape, data: readTensorF64(e) }));
    writeSafetensors(join(dir, 'model.safetensors'), tensors);
    const error = await LLM.load({ model: dir }).catch((e) => e);
    expect(error.message).toMatch(/missing weight model\.layers\.0\.mlp\.down_proj\.weight/);
  });

  it('a weight of the wrong shape', async () => {
    const dir = writeModel(small);
    const entries = await readSafetensorsIndex(dir);
    const { readTensorF64 } = await import('../../lib/models/safetensors.js');
    const tensors = entries.map((e) => ({ name: e.name, dtype: 'F32' as const, shape: e.shape, data: readTensorF64(e) }));
    const norm = tensors.find((t) => t.name === 'model.norm.weight')!;
    norm.shape = [16, 2];
    writeSafetensors(join(dir, 'model.safetensors'), tensors);
    const error = await LLM.load({ model: dir }).catch((e) => e);
    expect(error.message).toMatch(/model\.norm\.weight has shape \[16, 2\], but config\.json implies \[32\]/);
  });

  it('a weight in a dtype nodellm cannot compute with', async () => {
    const dir = writeModel({ ...small, dtype: 'float32' });
    const file = join(dir, 'model.safetensors');
    const bytes = readFileSync(file);
    // Relabel the first tensor's F32 as I32 (same size, so the file stays valid).
    const at = bytes.indexOf('"dtype":"F32"');
    bytes.write('"dtype":"I32"', at);
    writeFileSync(file, bytes);
    const error = await LLM.load({ model: dir }).catch((e) => e);
    expect(error.message).toMatch(/has dtype I32; nodellm supports F32, F16 and BF16/);
  });

  it('a directory that does not exist', async () => {
    const error = await LLM.load({ model: '/nonexistent/model' }).catch((e) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect(error.message).toMatch(/\/nonexistent\/model does not exist/);
  });

  it('an unknown or invalid engine option', async () => {
    await expect(LLM.load({ maxNumSeqs: 0 })).rejects.toThrow(/maxNumSeqs/);
    await expect(LLM.load({ blockSize: 12 as 16 })).rejects.toThrow(/blockSize/);
    await expect(LLM.load({ nonsense: 1 } as object)).rejects.toThrow(/Unknown engine option: nonsense/);
    await expect(LLM.load({ gpuMemoryUtilization: 1.5 })).rejects.toThrow(/Invalid engine option gpuMemoryUtilization: must be in \(0, 1\], but received 1.5/);
    await expect(LLM.load({ gpuMemoryUtilization: 0 })).rejects.toThrow(/gpuMemoryUtilization: must be in \(0, 1\]/);
    // A request allowed more sequences than may wait could never be taken.
    await expect(LLM.load({ maxSeqsPerRequest: 100, maxWaitingSeqs: 10 })).rejects.toThrow(/maxSeqsPerRequest \(100\) exceeds maxWaitingSeqs \(10\)/);
    await expect(LLM.load({ maxPromptChars: 0 })).rejects.toThrow(/maxPromptChars/);
  });
});

describe('requests that are rejected', () => {
  let llm: LLM;
  beforeAll(async () => {
    llm = await loadTestLLM({ maxModelLen: 64 });
  });
  afterAll(() => llm.close());

  const cases: [string, () => Promise<unknown>, string, RegExp][] = [
    ['prompt longer than max_model_len', () => llm.generate('word '.repeat(100)), 'prompt', /maximum context length is 64/],
    ['prompt + max_tokens beyond max_model_len', () => llm.generate('Hi', { max_tokens: 64 }), 'max_tokens', /maximum context length is 64/],
    ['empty prompt', () => llm.generate({ promptTokenIds: [] }), 'prompt', /empty/],
    ['token id outside the vocabulary', () => llm.generate({ promptTokenIds: [1, 999999] }), 'prompt', /outside the vocabulary/],
    ['negative max_tokens', () => llm.generate('Hi', { max_tokens: -1 }), 'max_tokens', /max_tokens.*at least 1.*-1/],
    ['fractional max_tokens', () => llm.generate('Hi', { max_tokens: 1.5 }), 'max_tokens', /integer/],
    ['top_p of 0', () => llm.generate('Hi', { top_p: 0 }), 'top_p', /top_p.*\(0, 1\].*0/],
    ['top_p above 1', () => llm.generate('Hi', { top_p: 1.5 }), 'top_p', /top_p.*1\.5/],
    ['n below 1', () => llm.generate('Hi', { n: 0 }), 'n', /n: must be at least 1/],
    ['negative temperature', () => llm.generate('Hi', { temperature: -0.5 }), 'temperature', /temperature/],
    ['min_p above 1', () => llm.generate('Hi', { min_p: 2 }), 'min_p', /min_p/],
    ['string where a number goes', () => llm.generate('Hi', { top_k: 'ten' as unknown as number }), 'top_k', /top_k.*number.*"ten"/],
    ['min_tokens above max_tokens', () => llm.generate('Hi', { max_tokens: 2, min_tokens: 5 }), 'min_tokens', /min_tokens/],
    ['logprobs above the maximum', () => llm.generate('Hi', { logprobs: 21 }), 'logprobs', /at most 20/],
    ['logit_bias on a token that does not exist', () => llm.generate('Hi', { logit_bias: { '-3': 1 } }), 'logit_bias', /logit_bias key "-3"/],
    ['logit_bias out of range', () => llm.generate('Hi', { logit_bias: { '5': 500 } }), 'logit_bias.5', /\[-100, 100\]/],
    ['an unknown parameter', () => llm.generate('Hi', { use_beam_search: true } as object), 'use_beam_search', /Unknown or unsupported parameter/],
    ['best_of other than n', () => llm.generate('Hi', { best_of: 3 }), 'best_of', /best_of/],
    ['an empty stop string', () => llm.generate('Hi', { stop: [''] }), 'stop', /empty/],
    ['chat without messages', () => llm.chat([]), 'messages', /non-empty/],
  ];

  it.each(cases)('%s', async (_name, call, field, message) => {
    const error = (await call().catch((e: unknown) => e)) as ValidationError;
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.field).toBe(field);
    expect(error.message).toMatch(message);
    // ... and the engine still serves.
    const ok = await llm.generate('Still serving?', { max_tokens: 3, ignore_eos: true });
    expect(ok.outputs[0]!.tokenIds).toHaveLength(3);
  });

  it('a failing request does not disturb others running beside it', async () => {
    const running = llm.generate('Long request', { max_tokens: 40, ignore_eos: true, temperature: 0 });
    const bad = await llm.generate('Hi', { top_p: 7 }).catch((e) => e);
    expect(bad).toBeInstanceOf(ValidationError);
    const r = await running;
    expect(r.outputs[0]!.tokenIds).toHaveLength(40);
    const alone = await llm.generate('Long request', { max_tokens: 40, ignore_eos: true, temperature: 0 });
    expect(r.outputs[0]!.tokenIds).toEqual(alone.outputs[0]!.tokenIds);
  });
});
