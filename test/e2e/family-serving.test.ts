// Random Qwen3 and Gemma 3 models (writeRandomModel: their real tokenizers and chat templates)
// served by the OpenAI-compatible server and the RunPod worker, and Qwen2, Mistral, Gemma 2 and
// Phi-3 by the server (Llama is the embedded default model, served everywhere else). The prompts the server counts are
// the families' exactly rendered templates, written out here by hand: Qwen3's ChatML with the
// empty thinking block that enable_thinking=false (chat_template_kwargs) asks for, and Gemma 3's
// turns with the system prompt folded into the first user turn and one <bos>.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { LLM } from '../../lib/llm.js';
import { type ModelFamily, writeRandomModel } from '../../lib/models/random-model.js';
import { FakeRunpod } from '../helpers/fake-runpod.js';
import { type RunningServer, postJSON, startServer } from '../helpers/http-server.js';
import { startTestWorker } from '../helpers/runpod-worker.js';
import { useTempDirs } from '../helpers/temp-dirs.js';
import { loadTestLLM } from '../helpers/test-llm.js';

const tempDir = useTempDirs();

const SYSTEM = 'You are a helpful assistant.';
const QUESTION = 'What is 2+2?';
const messages = [
  { role: 'system' as const, content: SYSTEM },
  { role: 'user' as const, content: QUESTION },
];

const QWEN3_PROMPT = `<|im_start|>system\n${SYSTEM}<|im_end|>\n<|im_start|>user\n${QUESTION}<|im_end|>\n<|im_start|>assistant\n`;
const QWEN3_NO_THINKING_PROMPT = `${QWEN3_PROMPT}<think>\n\n</think>\n\n`;
const GEMMA3_PROMPT = `<bos><start_of_turn>user\n${SYSTEM}\n\n${QUESTION}<end_of_turn>\n<start_of_turn>model\n`;

interface Served {
  llm: LLM;
  server: RunningServer;
  client: OpenAI;
  model: string;
}

const served: Partial<Record<ModelFamily, Served>> = {};

async function serve(family: ModelFamily): Promise<Served> {
  const dir = tempDir();
  writeRandomModel(dir, { family, seed: 7 });
  const model = `random-${family}`;
  const llm = await loadTestLLM({ model: dir, servedModelName: model, maxModelLen: 512 });
  const server = await startServer(llm);
  return { llm, server, model, client: new OpenAI({ baseURL: server.baseURL, apiKey: 'unused', maxRetries: 0 }) };
}

/** The token count of a prompt string as the chat path tokenizes it (no added special tokens). */
async function countTokens(s: Served, prompt: string): Promise<number> {
  return (await s.llm.tokenizer.encode(prompt, { addSpecialTokens: false })).length;
}

beforeAll(async () => {
  served.qwen3 = await serve('qwen3');
  served.gemma3 = await serve('gemma3');
});
afterAll(async () => {
  for (const s of Object.values(served)) {
    await s.server.close();
    await s.llm.close();
  }
});

describe('Qwen3 through the server', () => {
  it('counts the rendered ChatML prompt, and chat_template_kwargs.enable_thinking=false adds the empty thinking block', async () => {
    const s = served.qwen3!;
    expect(await countTokens(s, QWEN3_PROMPT)).toBe(26);
    expect(await countTokens(s, QWEN3_NO_THINKING_PROMPT)).toBe(30);

    const body = { model: s.model, messages, max_tokens: 6, temperature: 0 };
    const plain = await s.client.chat.completions.create(body);
    expect(plain.usage!.prompt_tokens).toBe(26);
    const noThinking = await s.client.chat.completions.create({ ...body, chat_template_kwargs: { enable_thinking: false } } as never);
    const completion = noThinking as unknown as OpenAI.ChatCompletion;
    expect(completion.usage!.prompt_tokens).toBe(30);
    expect(['stop', 'length']).toContain(completion.choices[0]!.finish_reason);
    expect(completion.usage!.completion_tokens).toBeGreaterThan(0);
    expect(completion.usage!.completion_tokens).toBeLessThanOrEqual(6);
    const direct = await s.llm.chat(messages, { max_tokens: 6, temperature: 0, chat_template_kwargs: { enable_thinking: false } });
    expect(completion.choices[0]!.message.content).toBe(direct.outputs[0]!.text);
  });

  it('/tokenize renders the same prompt, token for token', async () => {
    const s = served.qwen3!;
    const r = await postJSON(`${s.server.origin}/tokenize`, { model: s.model, messages, chat_template_kwargs: { enable_thinking: false } });
    expect(r.status).toBe(200);
    const { tokens } = (await r.json()) as { tokens: number[] };
    expect(tokens).toEqual(await s.llm.tokenizer.encode(QWEN3_NO_THINKING_PROMPT, { addSpecialTokens: false }));
    expect(tokens.slice(-4)).toEqual([151667, 271, 151668, 271]); // <think>\n\n</think>\n\n
  });

  it('takes the sampling defaults of generation_config.json when the request gives none', async () => {
    const s = served.qwen3!;
    expect(s.llm.engine.model.generation.defaults).toMatchObject({ temperature: 0.6, top_k: 20, top_p: 0.95 });
    const r = await s.client.chat.completions.create({ model: s.model, messages, max_tokens: 4, seed: 3 });
    expect(r.usage!.prompt_tokens).toBe(26);
  });
});

describe('Gemma 3 through the server', () => {
  it('counts the rendered prompt: system prompt in the first user turn, one <bos>', async () => {
    const s = served.gemma3!;
    const ids = await s.llm.tokenizer.encode(GEMMA3_PROMPT, { addSpecialTokens: false });
    expect(ids.length).toBe(23);
    expect(ids.filter((id) => id === 2)).toEqual([2]);

    const stream = await s.client.chat.completions.create({
      model: s.model, messages, max_tokens: 5, temperature: 0, stream: true, stream_options: { include_usage: true },
    });
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    expect(usage!.prompt_tokens).toBe(23);
    expect(['stop', 'length']).toContain(finish);
    const direct = await s.llm.chat(messages, { max_tokens: 5, temperature: 0 });
    expect(text).toBe(direct.outputs[0]!.text);
    expect(usage!.completion_tokens).toBe(direct.outputs[0]!.tokenIds.length);
  });

  it('stops at either EOS of generation_config.json (<eos> 1 and <end_of_turn> 106)', async () => {
    const s = served.gemma3!;
    for (const eos of [1, 106]) {
      const r = await s.client.chat.completions.create({ model: s.model, messages, max_tokens: 5, temperature: 0, logit_bias: { [eos]: 100 } });
      expect(r.choices[0]!.finish_reason).toBe('stop');
      expect(r.usage!.completion_tokens).toBe(1);
      expect(r.choices[0]!.message.content).toBe('');
    }
  });
});

describe('the random weights', () => {
  it('give greedy continuations that are not degenerate (no repeated or echoed token)', async () => {
    for (const family of ['qwen3', 'gemma3'] as const) {
      const s = served[family]!;
      const r = await s.llm.chat(messages, { max_tokens: 16, temperature: 0, ignore_eos: true });
      const ids = r.outputs[0]!.tokenIds;
      expect(ids).toHaveLength(16);
      expect(new Set(ids).size, `${family}: ${ids.join(' ')}`).toBeGreaterThanOrEqual(12);
    }
  });
});

describe('the RunPod worker', () => {
  it('answers an OpenAI chat job for Gemma 3 with its own template', async () => {
    const s = served.gemma3!;
    const fake = await FakeRunpod.start({ apiKey: 'rp-key-family-0123456789' });
    const worker = startTestWorker(s.llm, fake);
    const params = { max_tokens: 4, temperature: 0 };
    const id = fake.addJob({ openai_route: '/v1/chat/completions', openai_input: { model: s.model, messages, ...params } });
    await fake.waitForResults([id]);
    expect(await worker.stop()).toBe(0);
    await fake.close();
    const [result] = fake.results.get(id)! as { output: OpenAI.ChatCompletion[] }[];
    const completion = result!.output[0]!;
    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe(s.model);
    expect(completion.usage!.prompt_tokens).toBe(23);
    expect(['stop', 'length']).toContain(completion.choices[0]!.finish_reason);
    const direct = await s.llm.chat(messages, params);
    expect(completion.choices[0]!.message.content).toBe(direct.outputs[0]!.text);
  });
});

// Every other family, served with its own template: the prompt each renders for one user turn,
// written out from the template's documented format, is what the server counts.
const Q = 'What is 2+2?';
const RENDERED: [ModelFamily, string][] = [
  ['qwen2', `<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\n${Q}<|im_end|>\n<|im_start|>assistant\n`],
  ['mistral', `<s> [INST] ${Q} [/INST]`], // Mistral-7B-Instruct-v0.1's later template: a space before each [INST]
  ['gemma2', `<bos><start_of_turn>user\n${Q}<end_of_turn>\n<start_of_turn>model\n`],
  ['phi3', `<|user|>\n${Q}<|end|>\n<|assistant|>\n`],
];

describe.each(RENDERED)('%s through the server', (family, prompt) => {
  it('renders its own template and answers', async () => {
    const s = await serve(family);
    try {
      const want = await s.llm.tokenizer.encode(prompt, { addSpecialTokens: false });
      const r = await postJSON(`${s.server.origin}/tokenize`, { model: s.model, messages: [{ role: 'user', content: Q }] });
      const { tokens } = (await r.json()) as { tokens: number[] };
      expect(tokens).toEqual(want);
      const completion = await s.client.chat.completions.create({ model: s.model, messages: [{ role: 'user', content: Q }], max_tokens: 3, temperature: 0 });
      expect(completion.usage?.prompt_tokens).toBe(want.length);
      expect(completion.choices[0]!.finish_reason).toMatch(/^(length|stop)$/);
    } finally {
      await s.server.close();
      await s.llm.close();
    }
  });
});
