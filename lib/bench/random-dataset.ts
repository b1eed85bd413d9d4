// The random dataset: prompts of random tokens whose text re-tokenizes to an exact length.
//
// Lengths are drawn as vLLM draws them: uniformly among the integers of
// [floor(len * (1 - ratio)), floor(len * (1 + ratio))], for input and output alike (output at
// least 1). An optional shared prefix of --random-prefix-len tokens starts every prompt.
//
// Random ids do not survive a trip through text unchanged (BPE merges across the joins, bytes
// that are not whole characters), so a prompt is built by decoding random ids, re-encoding the
// text, and cutting or topping up the ids until the text counts exactly the target. Text prompts
// draw only ids that decode to whole characters: a lone byte of a multi-byte character decodes
// to U+FFFD, which re-encodes as three tokens in a small vocabulary (the embedded model's 4096),
// and a cut through such bytes never settles.
import type { DatasetTokenizer, SampleRequest } from './dataset.js';
import type { Rng } from './rng.js';

export interface RandomDatasetOptions {
  numPrompts: number;
  inputLen: number;
  outputLen: number;
  rangeRatio: number;
  prefixLen: number;
  /** Highest id to draw (the model's vocabulary may be smaller than the tokenizer's). */
  maxTokenId?: number;
  warn?: (line: string) => void;
}

const MAX_ROUNDS = 20;

/** Integer bounds of a length drawn with --random-range-ratio. */
export function lengthRange(len: number, ratio: number): [number, number] {
  return [Math.floor(len * (1 - ratio)), Math.floor(len * (1 + ratio))];
}

/** Draws token ids that are not special tokens. */
export function randomTokenIds(tokenizer: DatasetTokenizer, rng: Rng, count: number, maxTokenId?: number): number[] {
  const top = Math.min(tokenizer.vocabSize, (maxTokenId ?? Infinity) + 1) - 1;
  const ids: number[] = [];
  while (ids.length < count) {
    const id = rng.int(0, top);
    if (!tokenizer.specialTokenIds.has(id)) ids.push(id);
  }
  return ids;
}

const wholeCharacters = new WeakMap<DatasetTokenizer, Map<number, boolean>>();

/**
 * Like randomTokenIds, but only ids whose text alone is whole characters (no U+FFFD); should a
 * tokenizer have next to none in range, any non-special ids rather than no end.
 */
export async function randomTextTokenIds(tokenizer: DatasetTokenizer, rng: Rng, count: number, maxTokenId?: number): Promise<number[]> {
  let known = wholeCharacters.get(tokenizer);
  if (!known) wholeCharacters.set(tokenizer, (known = new Map()));
  const ids: number[] = [];
  let rejected = 0;
  while (ids.length < count) {
    for (const id of randomTokenIds(tokenizer, rng, count - ids.length, maxTokenId)) {
      let whole = known.get(id);
      if (whole === undefined) {
        whole = !(await tokenizer.decode([id], { skipSpecialTokens: false })).includes('\uFFFD');
        known.set(id, whole);
      }
      if (whole || rejected > 100 * count + 1000) ids.push(id);
      else rejected++;
    }
  }
  return ids;
}

/** Text that the tokenizer encodes (without special tokens) to exactly `target` tokens, or as near as it got. */
export async function textOfLength(
  tokenizer: DatasetTokenizer,
  rng: Rng,
  target: number,
  start: number[] = [],
  maxTokenId?: number,
): Promise<{ text: string; length: number }> {
  let ids = [...start.slice(0, target), ...(await randomTextTokenIds(tokenizer, rng, Math.max(0, target - start.length), maxTokenId))];
  let text = '';
  let length = -1;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    text = await tokenizer.decode(ids, { skipSpecialTokens: false });
    const encoded = await tokenizer.encode(text, { addSpecialTokens: false });
    length = encoded.length;
    if (length === target) break;
    if (length > target) {
      ids = encoded.slice(0, target);
      // A cut between the bytes of one character leaves U+FFFD, which re-encodes longer: cut before it.
      while (ids.length > 1 && (await tokenizer.decode(ids, { skipSpecialTokens: false })).endsWith('\uFFFD')) ids.pop();
    } else {
      ids = [...encoded, ...(await randomTextTokenIds(tokenizer, rng, target - length, maxTokenId))];
    }
  }
  return { text, length };
}

export async function randomRequests(tokenizer: DatasetTokenizer, rng: Rng, o: RandomDatasetOptions): Promise<SampleRequest[]> {
  if (!(o.rangeRatio >= 0 && o.rangeRatio < 1)) throw new Error(`--random-range-ratio must be in [0, 1), but received ${o.rangeRatio}`);
  const [inLo, inHi] = lengthRange(o.inputLen, o.rangeRatio);
  const [outLo, outHi] = lengthRange(o.outputLen, o.rangeRatio);
  const prefix = o.prefixLen > 0 ? await randomTextTokenIds(tokenizer, rng, o.prefixLen, o.maxTokenId) : [];
  const lengths = Array.from({ length: o.numPrompts }, () => ({
    input: Math.max(1, rng.int(inLo, inHi)),
    output: Math.max(1, rng.int(outLo, outHi)),
  }));
  const requests: SampleRequest[] = [];
  let inexact = 0;
  for (const { input, output } of lengths) {
    const target = o.prefixLen + input;
    const { text, length } = await textOfLength(tokenizer, rng, target, prefix, o.maxTokenId);
    if (length !== target) inexact++;
    requests.push({ prompt: text, promptLen: length, expectedOutputLen: output });
  }
  if (inexact > 0) o.warn?.(`bench: ${inexact} random prompts could not be made exactly their target length; their actual lengths are used`);
  return requests;
}
