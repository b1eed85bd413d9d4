// The tokenizers and chat templates of the model families, from their own tokenizer.json and
// tokenizer_config.json (random models written by writeRandomModel, which carry the real files).
// Every expected prompt is written out by hand from the family's documented prompt format, and
// every expected id list is what transformers' tokenizer gives for it (checked against
// transformers.js as well): Qwen3 and Gemma 3 in full, the other families where their rules differ
// (BOS written by the template or not, add_bos_token, system prompts, EOS lists).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import { type ChatMessage, ChatTemplate } from '../../lib/chat/template.js';
import { readGenerationConfig } from '../../lib/models/hf-config.js';
import { nativeEngineConfig, readModelFiles } from '../../lib/models/load-model.js';
import { type ModelFamily, writeRandomModel } from '../../lib/models/random-model.js';
import { Tokenizer } from '../../lib/tokenizer/tokenizer.js';
import { useTempDirs } from '../helpers/temp-dirs.js';

const tempDir = useTempDirs();

interface Family {
  dir: string;
  tokenizer: Tokenizer;
  template: ChatTemplate;
}

const families: Partial<Record<ModelFamily, Family>> = {};

async function family(name: ModelFamily): Promise<Family> {
  const found = families[name];
  if (found) return found;
  const dir = tempDir();
  writeRandomModel(dir, { family: name, seed: 1 });
  const [tokenizer, template] = await Promise.all([Tokenizer.load(dir), ChatTemplate.load(dir)]);
  return (families[name] = { dir, tokenizer, template });
}

/** What transformers' apply_chat_template(tokenize=True) and vLLM's chat path do: no added special tokens. */
function chatIds(f: Family, prompt: string): Promise<number[]> {
  return f.tokenizer.encode(prompt, { addSpecialTokens: false });
}

const SYSTEM_AND_USER: ChatMessage[] = [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: 'What is 2+2?' },
];

beforeAll(async () => {
  await Promise.all([family('qwen3'), family('gemma3')]);
});

describe('Qwen3', () => {
  // ChatML: <|im_start|>{role}\n{content}<|im_end|>\n per message, then the assistant's header.
  const PROMPT =
    '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' +
    '<|im_start|>user\nWhat is 2+2?<|im_end|>\n' +
    '<|im_start|>assistant\n';
  // With enable_thinking=False the template pre-fills an empty thinking block.
  const NO_THINKING = PROMPT + '<think>\n\n</think>\n\n';
  const NO_THINKING_IDS = [
    151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, // <|im_start|>system\nYou are a helpful assistant.<|im_end|>\n
    151644, 872, 198, 3838, 374, 220, 17, 10, 17, 30, 151645, 198, // <|im_start|>user\nWhat is 2+2?<|im_end|>\n
    151644, 77091, 198, // <|im_start|>assistant\n
    151667, 271, 151668, 271, // <think>\n\n</think>\n\n
  ];

  it('renders a system prompt and a user turn in ChatML', async () => {
    const f = await family('qwen3');
    expect(f.template.render(SYSTEM_AND_USER)).toBe(PROMPT);
    // enable_thinking=True is the default: no pre-filled block.
    expect(f.template.render(SYSTEM_AND_USER, { extra: { enable_thinking: true } })).toBe(PROMPT);
  });

  it('enable_thinking=false (chat_template_kwargs) pre-fills the empty <think></think> block, token for token', async () => {
    const f = await family('qwen3');
    const prompt = f.template.render(SYSTEM_AND_USER, { extra: { enable_thinking: false } });
    expect(prompt).toBe(NO_THINKING);
    expect(await chatIds(f, prompt)).toEqual(NO_THINKING_IDS);
    expect(await chatIds(f, PROMPT)).toEqual(NO_THINKING_IDS.slice(0, -4));
  });

  it('drops earlier turns\' reasoning and keeps the last one\'s, as the template does', async () => {
    const f = await family('qwen3');
    const messages: ChatMessage[] = [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: '<think>\nGreeting.\n</think>\n\nHello!' },
      { role: 'user', content: 'Bye' },
    ];
    expect(f.template.render(messages)).toBe(
      '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  it('has no BOS: encoding with special tokens adds nothing', async () => {
    const f = await family('qwen3');
    expect(f.tokenizer.bosToken).toBeUndefined();
    expect(await f.tokenizer.encode('What is 2+2?')).toEqual([3838, 374, 220, 17, 10, 17, 30]);
    expect(await f.tokenizer.encode('What is 2+2?', { addSpecialTokens: false })).toEqual([3838, 374, 220, 17, 10, 17, 30]);
  });

  it('marks the ChatML tokens special and the thinking tags not (so they reach the output text)', async () => {
    const f = await family('qwen3');
    expect([151643, 151644, 151645].every((id) => f.tokenizer.specialTokenIds.has(id))).toBe(true);
    expect(f.tokenizer.specialTokenIds.has(151667)).toBe(false);
    expect(await f.tokenizer.decode(NO_THINKING_IDS.slice(-4))).toBe('<think>\n\n</think>\n\n');
  });
});

describe('Gemma 3', () => {
  // <bos><start_of_turn>user\n{system}\n\n{user}<end_of_turn>\n<start_of_turn>model\n: Gemma has
  // no system turn; the template puts the system prompt at the head of the first user turn.
  const PROMPT =
    '<bos><start_of_turn>user\nYou are a helpful assistant.\n\nWhat is 2+2?<end_of_turn>\n' +
    '<start_of_turn>model\n';
  const PROMPT_IDS = [
    2, // <bos>, once: the template writes it and the chat path adds no second one
    105, 2364, 107, // <start_of_turn>user\n
    3048, 659, 496, 11045, 16326, 236761, 108, // You are a helpful assistant.\n\n
    3689, 563, 236743, 236778, 236862, 236778, 236881, // What is 2+2?
    106, 107, // <end_of_turn>\n
    105, 4368, 107, // <start_of_turn>model\n
  ];

  it('folds the system prompt into the first user turn', async () => {
    const f = await family('gemma3');
    expect(f.template.render(SYSTEM_AND_USER)).toBe(PROMPT);
  });

  it('tokenizes the prompt with exactly one BOS, the one the template writes', async () => {
    const f = await family('gemma3');
    const ids = await chatIds(f, f.template.render(SYSTEM_AND_USER));
    expect(ids).toEqual(PROMPT_IDS);
    expect(ids.filter((id) => id === 2)).toHaveLength(1);
    // Asking for special tokens on top would give a second one, as in transformers.
    expect((await f.tokenizer.encode(PROMPT)).slice(0, 3)).toEqual([2, 2, 105]);
  });

  it('adds BOS to a plain prompt (completions), as add_bos_token says', async () => {
    const f = await family('gemma3');
    expect(f.tokenizer.config.add_bos_token).toBe(true);
    expect(await f.tokenizer.encode('What is 2+2?')).toEqual([2, 3689, 563, 236743, 236778, 236862, 236778, 236881]);
  });

  it('calls the assistant "model", trims contents, and refuses turns out of order', async () => {
    const f = await family('gemma3');
    const messages: ChatMessage[] = [
      { role: 'user', content: ' Hi ' },
      { role: 'assistant', content: 'Hello!\n' },
      { role: 'user', content: 'Bye' },
    ];
    expect(f.template.render(messages)).toBe(
      '<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n',
    );
    expect(() => f.template.render([{ role: 'assistant', content: 'x' }])).toThrow(/Conversation roles must alternate/);
  });
});

describe('EOS lists from generation_config.json', () => {
  it('reach the engine\'s stop ids, and include the tokenizer\'s eos_token', async () => {
    for (const [name, eos, configEos, tokenizerEos] of [
      ['qwen3', [151645, 151643], 151645, '<|im_end|>'],
      ['gemma3', [1, 106], [1, 106], '<end_of_turn>'],
    ] as const) {
      const f = await family(name);
      // Qwen3's config.json names one EOS; generation_config.json's list wins, as in transformers and vLLM.
      expect(JSON.parse(fs.readFileSync(path.join(f.dir, 'config.json'), 'utf8')).eos_token_id).toEqual(configEos);
      expect((await readGenerationConfig(f.dir)).eosTokenIds).toEqual(eos);
      const native = nativeEngineConfig(await readModelFiles(f.dir), {}, 256);
      expect(native.eosTokenIds).toEqual(eos);
      expect(f.tokenizer.eosToken).toBe(tokenizerEos);
      expect(eos).toContain(f.tokenizer.tokenToId(tokenizerEos));
    }
  });
});

describe('BOS rules of the other families', () => {
  it('Mistral: the template writes <s>, and [INST] blocks carry the system prompt', async () => {
    const f = await family('mistral');
    const prompt = f.template.render([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi there' }]);
    expect(prompt).toBe('<s> [INST] Be brief.\n\nHi there [/INST]');
    const ids = await chatIds(f, prompt);
    expect(ids.slice(0, 1)).toEqual([1]);
    expect(ids.filter((id) => id === 1)).toHaveLength(1);
    expect(await f.tokenizer.encode('Hi there')).toEqual([1, 15359, 736]);
  });

  it('Phi-3: no BOS anywhere, since tokenizer_config.json says add_bos_token: false over tokenizer.json\'s template', async () => {
    const f = await family('phi3');
    const tokenizerJson = JSON.parse(fs.readFileSync(path.join(f.dir, 'tokenizer.json'), 'utf8')) as { post_processor: unknown };
    expect(JSON.stringify(tokenizerJson.post_processor)).toContain('"<s>"'); // the template would add it
    expect(await f.tokenizer.encode('Hi there')).toEqual([15359, 736]);
    const prompt = f.template.render([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi there' }]);
    expect(prompt).toBe('<|system|>\nBe brief.<|end|>\n<|user|>\nHi there<|end|>\n<|assistant|>\n');
    const ids = await chatIds(f, prompt);
    expect([ids[0], ids.includes(1)]).toEqual([32006, false]);
    expect(ids.filter((id) => id >= 32000)).toEqual([32006, 32007, 32010, 32007, 32001]);
    expect((await readGenerationConfig(f.dir)).eosTokenIds).toEqual([32000, 32001, 32007]);
  });

  it('add_eos_token: true appends EOS to a Llama-class tokenizer (transformers\' update_post_processor)', async () => {
    const base = (await family('mistral')).dir;
    const dir = tempDir();
    fs.copyFileSync(path.join(base, 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
    const config = JSON.parse(fs.readFileSync(path.join(base, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ ...config, add_eos_token: true }));
    const tokenizer = await Tokenizer.load(dir);
    expect(await tokenizer.encode('Hi there')).toEqual([1, 15359, 736, 2]);
    expect(await tokenizer.encode('Hi there', { addSpecialTokens: false })).toEqual([15359, 736]);
  });

  it('Qwen2.5: the default system prompt when the conversation has none', async () => {
    const f = await family('qwen2');
    expect(f.template.render([{ role: 'user', content: 'Hi' }])).toBe(
      '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' +
        '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  it('Gemma 2: BOS from the template, and no system role', async () => {
    const f = await family('gemma2');
    expect(f.template.render([{ role: 'user', content: 'Hi' }])).toBe('<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n');
    expect(() => f.template.render(SYSTEM_AND_USER)).toThrow(/System role not supported/);
  });
});

describe('chat_template.json', () => {
  it('is where the template is taken from when tokenizer_config.json has none', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<bos>' }));
    fs.writeFileSync(path.join(dir, 'chat_template.json'), JSON.stringify({ chat_template: '{{ bos_token }}{{ messages[0].content }}' }));
    const template = await ChatTemplate.load(dir);
    expect(template.origin).toBe(path.join(dir, 'chat_template.json'));
    expect(template.render([{ role: 'user', content: 'Hi' }])).toBe('<bos>Hi');
  });
});
