// Incremental detokenization, vLLM's algorithm (detokenize_incrementally, from TGI).
//
// Decoding one token on its own is wrong in general: a byte-level BPE token may hold half of a
// UTF-8 character, and decoders like sentencepiece's strip or add spaces depending on the tokens
// around them. So each step decodes a short window of token strings twice, with and without the
// tokens not yet emitted, and emits the difference:
//
//   tokens:  [ ...context... | ...emitted last time... | ...held back + new... ]
//                             ^ prefix (index 0 here)    ^ readOffset
//
// prefixText = decode(tokens[0, readOffset)), newText = decode(tokens). When newText ends in
// U+FFFD, the last character is (probably) an incomplete UTF-8 sequence: emit nothing and wait for
// the next token. Otherwise emit newText minus prefixText, and slide the window: the tokens just
// emitted become the context of the next step. Tokens before the window are dropped, so a long
// generation costs O(window) per step and O(window) memory.
//
// vLLM applies spaces_between_special_tokens only to "slow" (Python sentencepiece) tokenizers; for
// fast tokenizers, which is every tokenizer.json we load, it has no effect, and text comes out
// exactly as tokenizers' own decode(ids) would give it. We keep the option for API parity and,
// like vLLM, ignore it.

import type { Tokenizer } from './tokenizer.js';

export interface DetokenizerOptions {
  /** Drop special tokens from the text. Default true. */
  skipSpecialTokens?: boolean;
  /** Accepted for vLLM parity; has no effect with fast (tokenizer.json) tokenizers, as in vLLM. */
  spacesBetweenSpecialTokens?: boolean;
}

// How many prompt tokens give context to the first generated one (vLLM's
// INITIAL_INCREMENTAL_DETOKENIZATION_OFFSET); two more are read in case some are special.
const PROMPT_CONTEXT_TOKENS = 5;

const REPLACEMENT_CHAR = '\uFFFD';

export class IncrementalDetokenizer {
  readonly skipSpecialTokens: boolean;
  readonly spacesBetweenSpecialTokens: boolean;

  private readonly tokenizer: Tokenizer;
  // The window: tokens[0, readOffset) were emitted (or are prompt context); the rest are held back.
  private tokens: string[];
  private readOffset: number;
  // decode(tokens[0, readOffset)), computed once per window rather than once per token.
  private prefixText: string | undefined;

  constructor(tokenizer: Tokenizer, promptIds: readonly number[], opts: DetokenizerOptions = {}) {
    this.tokenizer = tokenizer;
    this.skipSpecialTokens = opts.skipSpecialTokens ?? true;
    this.spacesBetweenSpecialTokens = opts.spacesBetweenSpecialTokens ?? true;

    const tail = promptIds.slice(-(PROMPT_CONTEXT_TOKENS + 2)).filter((id) => !this.skipped(id));
    const context = tail.map((id) => tokenizer.tokenString(id));
    // Like vLLM, decode from 5 tokens before the end of the prompt; the extra two only
    // stood in for special tokens that may have been dropped.
    this.tokens = context.slice(Math.max(context.length - PROMPT_CONTEXT_TOKENS, 0));
    this.readOffset = this.tokens.length;
  }

  /** Adds generated token ids; returns the text they complete (often "", e.g. mid-character). */
  push(tokenIds: readonly number[]): string {
    let text = '';
    // One id at a time, as vLLM does: the hold-back test looks at the end of each step's text.
    for (const id of tokenIds) {
      if (this.skipped(id)) continue;
      this.tokens.push(this.tokenizer.tokenString(id));
      text += this.step(false);
    }
    return text;
  }

  /**
   * Ends generation: returns text still held back, such as a trailing incomplete UTF-8 sequence,
   * decoded with replacement characters the way a full decode of the ids gives it.
   */
  flush(): string {
    return this.readOffset < this.tokens.length ? this.step(true) : '';
  }

  private step(final: boolean): string {
    const newText = this.tokenizer.decodeTokens(this.tokens);
    this.prefixText ??= this.tokenizer.decodeTokens(this.tokens.slice(0, this.readOffset));
    const delta = textAfter(this.prefixText, newText);
    if (!final && (delta === '' || newText.endsWith(REPLACEMENT_CHAR))) return '';
    // Slide the window: what was just emitted becomes the context of the next step.
    this.tokens.splice(0, this.readOffset);
    this.readOffset = this.tokens.length;
    this.prefixText = undefined;
    return delta;
  }

  private skipped(id: number): boolean {
    return this.skipSpecialTokens && this.tokenizer.specialTokenIds.has(id);
  }
}

/**
 * The part of `newText` after `prefixText`. The window decodes normally extend the prefix; when
 * they do not (the prompt ended inside a UTF-8 character that the first generated token
 * completes, so the prefix ends in U+FFFD), emit from the first difference rather than cut a
 * character in half, never splitting a UTF-16 surrogate pair.
 */
function textAfter(prefixText: string, newText: string): string {
  if (newText.startsWith(prefixText)) return newText.slice(prefixText.length);
  let i = 0;
  while (i < prefixText.length && i < newText.length && prefixText.charCodeAt(i) === newText.charCodeAt(i)) i++;
  if (i > 0 && isHighSurrogate(newText.charCodeAt(i - 1))) i--;
  return newText.slice(i);
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
