// What the engine reports about requests as they run, for /metrics (vLLM's definitions): time to
// first token from arrival (before tokenization), the gap between successive token batches of a
// request, and end-to-end latency, with token counts and finish reasons.
import type { RefusalReason } from './admission.js';
import type { FinishReason } from './types.js';

export interface FinishedRequest {
  promptTokens: number;
  generationTokens: number;
  /** One per completion (n of them). */
  finishReasons: FinishReason[];
  /** Seconds from arrival to the last token (or the abort). */
  e2eLatency: number;
  /** Seconds from arrival to the first token; null when none came. */
  timeToFirstToken: number | null;
}

export interface EngineObserver {
  /** A request got its first token(s). */
  onFirstToken?(seconds: number): void;
  /** A request got more tokens, `seconds` after its previous batch of tokens. */
  onInterTokenLatency?(seconds: number): void;
  onRequestFinished?(request: FinishedRequest): void;
  /** A request was refused before it started: too many sequences, overload, or input too large. */
  onRequestRefused?(reason: RefusalReason | 'input_too_large'): void;
}

/** Per-request timing, in seconds from performance.now(). */
export class RequestClock {
  private readonly arrival = performance.now();
  private firstToken: number | null = null;
  private lastToken: number | null = null;

  /** Records a batch of new tokens; tells the observer about TTFT or ITL. */
  tokens(observer: EngineObserver): void {
    const now = performance.now();
    if (this.firstToken === null) {
      this.firstToken = now;
      observer.onFirstToken?.((now - this.arrival) / 1000);
    } else {
      observer.onInterTokenLatency?.((now - this.lastToken!) / 1000);
    }
    this.lastToken = now;
  }

  get timeToFirstToken(): number | null {
    return this.firstToken === null ? null : (this.firstToken - this.arrival) / 1000;
  }

  get e2eLatency(): number {
    return ((this.lastToken ?? performance.now()) - this.arrival) / 1000;
  }
}
