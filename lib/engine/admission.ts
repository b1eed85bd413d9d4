// Admission: whether the engine takes a request on at all. (In what order the taken sequences
// run is the native scheduler's business: it shares running slots fairly between groups.)
//
// A group is one caller's request: an HTTP request with several prompts and n completions each,
// or a job. Two bounds are checked when a group opens, before it costs anything:
// - its sequences (prompts x n) against maxSeqsPerRequest: a ValidationError naming the field,
//   so one 2 KB request cannot queue 25,600 sequences;
// - the sequences already waiting for a slot, plus its own, against maxWaitingSeqs: an
//   OverloadedError (HTTP 503 with Retry-After), so that under overload a client learns at once
//   to come back later instead of queueing for minutes.
// A group's sequences count as waiting from the moment it opens (they are reserved) until the
// engine has them, so requests that are still being tokenized cannot overshoot the bound together.
import { OverloadedError, ValidationError } from '../errors.js';

export interface AdmissionLimits {
  /** Most sequences (prompts x n) one request may start. */
  maxSeqsPerRequest: number;
  /** Most sequences waiting for a running slot; Infinity: no bound. */
  maxWaitingSeqs: number;
}

export type RefusalReason = 'too_many_sequences' | 'overloaded';

/** Sequences finished within this window give the drain rate behind Retry-After. */
const RATE_WINDOW_MS = 60_000;

export class RequestGroup {
  /** The native scheduler's group id: the id of the group's first sequence. */
  nativeId: number | null = null;

  constructor(
    private readonly admission: Admission,
    private reserved: number,
  ) {}

  /** `count` of the group's sequences join the engine's queue: they stop being reserved. */
  take(count: number): void {
    const taken = Math.min(count, this.reserved);
    this.reserved -= taken;
    this.admission.unreserve(taken);
  }

  /** The request is done starting sequences (or failed before): returns what it did not use. */
  release(): void {
    this.take(this.reserved);
  }
}

export class Admission {
  private reserved = 0;
  private readonly finished: { at: number; count: number }[] = [];

  constructor(
    readonly limits: AdmissionLimits,
    /** Sequences the engine holds that are not running yet. */
    private readonly waitingSequences: () => number,
    private readonly onRefused: (reason: RefusalReason) => void = () => {},
  ) {}

  /**
   * Opens a group of `sequences` sequences or refuses it. `field` is what a too-large request
   * is told to change ("n", or the prompt list that multiplies it).
   */
  open(sequences: number, field: string, what = `${sequences} sequences`): RequestGroup {
    const { maxSeqsPerRequest, maxWaitingSeqs } = this.limits;
    if (sequences > maxSeqsPerRequest) {
      this.onRefused('too_many_sequences');
      throw new ValidationError(
        field,
        `This request asks for ${what}, more than the ${maxSeqsPerRequest} one request may start (--max-seqs-per-request); ` +
          'split it into several requests',
      );
    }
    const waiting = this.waitingSequences() + this.reserved;
    if (waiting + sequences > maxWaitingSeqs) {
      this.onRefused('overloaded');
      const retryAfter = this.retryAfterSeconds(waiting + sequences - maxWaitingSeqs);
      throw new OverloadedError(
        `The server is overloaded: ${waiting} sequences are waiting for a slot (at most ${maxWaitingSeqs}, --max-waiting-seqs); ` +
          `try again in ${retryAfter} s`,
        retryAfter,
      );
    }
    this.reserved += sequences;
    return new RequestGroup(this, sequences);
  }

  /** Sequences reserved by open groups and not handed to the engine yet. */
  get reservedSequences(): number {
    return this.reserved;
  }

  unreserve(count: number): void {
    this.reserved -= count;
  }

  /** `count` sequences finished now (the drain rate that Retry-After estimates from). */
  noteFinished(count: number): void {
    const now = Date.now();
    this.finished.push({ at: now, count });
    while (this.finished.length > 0 && this.finished[0]!.at < now - RATE_WINDOW_MS) this.finished.shift();
  }

  /** Seconds until `excess` sequences will have drained at the recent rate: 1 to 60. */
  private retryAfterSeconds(excess: number): number {
    const now = Date.now();
    const recent = this.finished.filter((f) => f.at >= now - RATE_WINDOW_MS);
    if (recent.length === 0) return 5;
    const seconds = Math.max(1, (now - recent[0]!.at) / 1000);
    const perSecond = recent.reduce((sum, f) => sum + f.count, 0) / seconds;
    return Math.min(60, Math.max(1, Math.ceil(excess / perSecond)));
  }
}
