// Summary statistics with numpy's conventions (population std, percentiles by linear
// interpolation between the two nearest ranks), so our figures compare one to one with vLLM's.
// An empty list gives 0 for every statistic, as vLLM's `np.mean(xs or 0)` does.

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  let sum = 0;
  for (const x of xs) sum += x;
  return sum / xs.length;
}

/** Population standard deviation (numpy's default ddof=0). */
export function std(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const m = mean(xs);
  let sq = 0;
  for (const x of xs) sq += (x - m) * (x - m);
  return Math.sqrt(sq / xs.length);
}

/** The p-th percentile (p in [0, 100]) with numpy.percentile's default "linear" method. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return 0;
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

export function median(xs: readonly number[]): number {
  return percentile(xs, 50);
}
