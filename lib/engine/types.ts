// What the engine streams back for a request.

export type FinishReason = 'stop' | 'length' | 'abort';

export interface TopLogprob {
  token: number;
  logprob: number;
}

/** The logprob of one token and the most likely alternatives at its position. */
export interface TokenLogprob {
  token: number;
  logprob: number;
  top: TopLogprob[];
}

/** What one of the request's n completions gained since its previous chunk. */
export interface CompletionDelta {
  index: number;
  text: string;
  tokenIds: number[];
  /** Logprobs of tokenIds, when the request asked for them. */
  logprobs: TokenLogprob[] | null;
  finishReason: FinishReason | null;
  /** The stop string or stop token id that ended the completion; null for EOS or length. */
  stopReason: string | number | null;
}

export interface RequestChunk {
  requestId: string;
  promptTokenIds: readonly number[];
  /** The completions that advanced (one entry per index, in index order). */
  outputs: CompletionDelta[];
  /** Logprobs of the prompt tokens (the first has none), in the first chunk when asked. */
  promptLogprobs?: (TokenLogprob | null)[];
  /** True on the request's last chunk. */
  finished: boolean;
}
