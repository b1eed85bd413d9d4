// worker-vllm's BatchSize: how many updates go into each streamed item. Items start at `min`
// and grow by `growth` after each item up to `max` (defaults 1, 3, 9, 27, 50, 50, ...). The
// growth stays fractional (an item is flushed once its count reaches the size, so 1.5 behaves
// like its ceiling); without growth (growth <= 1, min < 1 or max <= min) every item has `max`.
import type { BatchSettings } from '../config/worker-config.js';

export class BatchSize {
  private size: number;
  private readonly dynamic: boolean;

  constructor(private readonly settings: BatchSettings) {
    this.dynamic = settings.growth > 1 && settings.min >= 1 && settings.max > settings.min;
    this.size = this.dynamic ? settings.min : settings.max;
  }

  /** Whether an item holding `count` updates is full. */
  isFull(count: number): boolean {
    return count >= this.size;
  }

  /** Called after each item is flushed. */
  grow(): void {
    if (this.dynamic) this.size = Math.min(this.size * this.settings.growth, this.settings.max);
  }
}
