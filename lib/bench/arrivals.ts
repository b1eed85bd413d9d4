// When each request of `bench serve` is sent, as vLLM schedules them: with --request-rate inf all
// at once; otherwise gaps drawn from a gamma distribution of shape --burstiness (1: Poisson
// arrivals) and mean 1/rate, then the schedule scaled so the last request goes out at exactly
// N / rate seconds, so the offered load is the rate asked for whatever the draw.
import type { Rng } from './rng.js';

/** Seconds from the start of the run at which each of n requests is sent. */
export function arrivalOffsets(n: number, requestRate: number, burstiness: number, rng: Rng): number[] {
  if (!(burstiness > 0)) throw new Error(`--burstiness must be positive, but received ${burstiness}`);
  if (!(requestRate > 0)) throw new Error(`--request-rate must be positive (or inf), but received ${requestRate}`);
  if (requestRate === Infinity || n === 0) return new Array<number>(n).fill(0);
  const scale = 1 / (requestRate * burstiness);
  const offsets: number[] = [];
  let t = 0;
  for (let i = 0; i < n; i++) {
    t += rng.gamma(burstiness, scale);
    offsets.push(t);
  }
  const factor = n / requestRate / t;
  return offsets.map((x) => x * factor);
}

/** A counting semaphore: at most `limit` holders at a time (--max-concurrency). */
export class Semaphore {
  private waiting: (() => void)[] = [];
  private held = 0;

  constructor(private readonly limit: number) {}

  async acquire(): Promise<void> {
    if (this.held < this.limit) {
      this.held++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next(); // the slot passes straight to the next waiter
    else this.held--;
  }
}
