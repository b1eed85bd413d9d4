// The text side of one completion: incremental detokenization, stop strings, and what to stream
// next. Follows vLLM's output processor: a stop string is searched for in the newly decoded text
// (with enough overlap to catch one spanning two steps); the output is cut before it (or after
// it, with include_stop_str_in_output); and while the completion runs, the last
// (longest stop string - 1) characters are held back, since they may be the start of a stop
// string the next token completes.
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { IncrementalDetokenizer } from '../tokenizer/detokenizer.js';
import type { ResolvedSamplingParams } from './sampling-params.js';
import type { CompletionDelta, FinishReason, TokenLogprob } from './types.js';

export class SequenceOutput {
  readonly tokenIds: number[] = [];
  readonly logprobs: TokenLogprob[] | null;
  text = '';
  finishReason: FinishReason | null = null;
  stopReason: string | number | null = null;

  private readonly detokenizer: IncrementalDetokenizer;
  private readonly holdBack: number;
  private sentText = 0;
  private sentTokens = 0;

  constructor(
    tokenizer: Tokenizer,
    promptIds: readonly number[],
    private readonly params: ResolvedSamplingParams,
    readonly index: number,
  ) {
    this.detokenizer = new IncrementalDetokenizer(tokenizer, promptIds, {
      skipSpecialTokens: params.skip_special_tokens,
      spacesBetweenSpecialTokens: params.spaces_between_special_tokens,
    });
    this.logprobs = params.logprobs === null ? null : [];
    const longestStop = Math.max(0, ...params.stop.map((s) => s.length));
    this.holdBack = params.include_stop_str_in_output ? 0 : Math.max(0, longestStop - 1);
  }

  get finished(): boolean {
    return this.finishReason !== null;
  }

  /**
   * Adds a sampled token. `nativeFinish` is the native core's verdict (EOS, stop token, length).
   * Returns true when a stop string ended the completion (the engine must then abort it natively).
   */
  append(token: number, logprob: TokenLogprob | null, nativeFinish: FinishReason | null): boolean {
    if (this.finished) return false;
    this.tokenIds.push(token);
    if (this.logprobs && logprob) this.logprobs.push(logprob);
    // As vLLM: the EOS or stop token that ends the output is not part of its text, unless
    // include_stop_str_in_output asks for it.
    if (nativeFinish === 'stop' && !this.params.include_stop_str_in_output) {
      this.finish(nativeFinish, token);
      return false;
    }
    const delta = this.detokenizer.push([token]);
    const stoppedByString = delta.length > 0 && this.checkStopStrings(delta);
    if (stoppedByString) return true;
    if (nativeFinish) this.finish(nativeFinish, token);
    return false;
  }

  /** Ends the completion for a reason the native core or the engine decided. */
  finish(reason: FinishReason, lastToken?: number): void {
    if (this.finished) return;
    // Text held back by the detokenizer (an unfinished character) may still complete a stop string.
    const rest = this.detokenizer.flush();
    if (rest && this.checkStopStrings(rest)) return;
    this.finishReason = reason;
    if (reason === 'stop' && lastToken !== undefined && this.params.stop_token_ids.includes(lastToken)) {
      this.stopReason = lastToken;
    }
  }

  /** The text and tokens not streamed yet (text minus the hold-back while running). */
  takeDelta(): CompletionDelta {
    const visible = this.finished ? this.text.length : Math.max(this.sentText, this.text.length - this.holdBack);
    const delta: CompletionDelta = {
      index: this.index,
      text: this.text.slice(this.sentText, visible),
      tokenIds: this.tokenIds.slice(this.sentTokens),
      logprobs: this.logprobs ? this.logprobs.slice(this.sentTokens) : null,
      finishReason: this.finishReason,
      stopReason: this.stopReason,
    };
    this.sentText = visible;
    this.sentTokens = this.tokenIds.length;
    return delta;
  }

  /** Appends new text; when it completes a stop string, truncates and finishes. */
  private checkStopStrings(newText: string): boolean {
    const before = this.text.length;
    this.text += newText;
    if (this.params.stop.length === 0) return false;
    let cut = -1;
    let which = '';
    for (const stop of this.params.stop) {
      // A stop string may begin in text appended earlier: look back far enough to catch it.
      const from = Math.max(0, before - stop.length + 1);
      const at = this.text.indexOf(stop, from);
      if (at !== -1 && (cut === -1 || at < cut)) {
        cut = at;
        which = stop;
      }
    }
    if (cut === -1) return false;
    this.text = this.text.slice(0, this.params.include_stop_str_in_output ? cut + which.length : cut);
    this.sentText = Math.min(this.sentText, this.text.length);
    this.finishReason = 'stop';
    this.stopReason = which;
    return true;
  }
}
