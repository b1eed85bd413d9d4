// Logprobs in the two OpenAI formats: completions (parallel lists, top alternatives as
// token -> logprob maps, text offsets) and chat (one entry per token with bytes and top_logprobs).
import type { TokenLogprob } from '../engine/types.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';

/** A token's text on its own; with return_tokens_as_token_ids, "token_id:N" as vLLM writes it. */
export function tokenText(tokenizer: Tokenizer, id: number, asIds = false): string {
  return asIds ? `token_id:${id}` : tokenizer.decodeTokens([tokenizer.tokenString(id)]);
}

export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: (number | null)[];
  top_logprobs: (Record<string, number> | null)[];
  text_offset: number[];
}

/**
 * Completions logprobs of `tokenIds`, as vLLM writes them: top_logprobs maps token text to logprob
 * for the token itself first, then its top alternatives (up to `k` + 1 entries); text_offset is
 * the running sum of the token strings' lengths from `textOffset`.
 */
export function completionLogprobs(
  tokenizer: Tokenizer,
  logprobs: readonly (TokenLogprob | null)[],
  tokenIds: readonly number[],
  textOffset: number,
  k: number,
  asIds = false,
): CompletionLogprobs {
  const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  let at = textOffset;
  tokenIds.forEach((id, i) => {
    const lp = logprobs[i] ?? null;
    const text = tokenText(tokenizer, id, asIds);
    out.tokens.push(text);
    out.token_logprobs.push(lp ? lp.logprob : null);
    if (lp) {
      const top: Record<string, number> = { [text]: lp.logprob };
      for (const t of lp.top) {
        if (Object.keys(top).length > k) break;
        const alt = tokenText(tokenizer, t.token, asIds);
        if (!(alt in top)) top[alt] = t.logprob;
      }
      out.top_logprobs.push(top);
    } else {
      out.top_logprobs.push(null);
    }
    out.text_offset.push(at);
    at += text.length;
  });
  return out;
}

/** Where the next token's text_offset starts: after the last token string. */
export function nextTextOffset(logprobs: CompletionLogprobs, fallback: number): number {
  const n = logprobs.tokens.length;
  return n === 0 ? fallback : logprobs.text_offset[n - 1]! + logprobs.tokens[n - 1]!.length;
}

export function appendCompletionLogprobs(into: CompletionLogprobs, more: CompletionLogprobs): void {
  into.tokens.push(...more.tokens);
  into.token_logprobs.push(...more.token_logprobs);
  into.top_logprobs.push(...more.top_logprobs);
  into.text_offset.push(...more.text_offset);
}

export function chatLogprobs(tokenizer: Tokenizer, logprobs: readonly TokenLogprob[], asIds = false) {
  const entry = (token: number, logprob: number) => {
    const text = tokenText(tokenizer, token, asIds);
    return { token: text, logprob, bytes: [...Buffer.from(text, 'utf8')] };
  };
  return {
    content: logprobs.map((l) => ({ ...entry(l.token, l.logprob), top_logprobs: l.top.map((t) => entry(t.token, t.logprob)) })),
  };
}
