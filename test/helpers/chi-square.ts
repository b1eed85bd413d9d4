// Chi-square goodness of fit for sampler tests: the statistic over pooled bins and its p-value
// from the regularized upper incomplete gamma function Q(df/2, x/2), implemented here (Lanczos
// log-gamma; series for x < a + 1, Lentz's continued fraction otherwise, as in Numerical Recipes).

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
  -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
  1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0 (Lanczos, g = 7; about 15 significant digits). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const y = x - 1;
  let a = LANCZOS[0]!;
  const t = y + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i]! / (y + i);
  return 0.5 * Math.log(2 * Math.PI) + (y + 0.5) * Math.log(t) - t + Math.log(a);
}

/** The regularized upper incomplete gamma function Q(a, x) = Γ(a, x) / Γ(a). */
export function gammaQ(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) throw new RangeError(`gammaQ(${a}, ${x}): need a > 0, x >= 0`);
  if (x === 0) return 1;
  if (!Number.isFinite(x)) return 0;
  const logPrefix = -x + a * Math.log(x) - logGamma(a);
  if (x < a + 1) {
    // P(a, x) by its series, Q = 1 - P.
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 10_000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-16) break;
    }
    return Math.max(0, 1 - sum * Math.exp(logPrefix));
  }
  // Q(a, x) by its continued fraction (modified Lentz).
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10_000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(logPrefix) * h;
}

/** P(X >= x) for X ~ chi-square with df degrees of freedom. */
export function chiSquareSurvival(x: number, df: number): number {
  return gammaQ(df / 2, x / 2);
}

export interface ChiSquareResult {
  statistic: number;
  df: number;
  pValue: number;
  bins: number;
  /** Draws that fell on categories of probability zero (the test fails outright if any). */
  impossible: number;
}

/**
 * Pearson's goodness-of-fit test of observed counts against probabilities (which need not be
 * normalized exactly; they are renormalized). Categories of probability zero are left out of the
 * statistic; draws on them are counted in `impossible` and make the p-value 0. Bins with
 * expected counts below `minExpected` are pooled, smallest first, until each bin reaches it.
 */
export function chiSquareGoodnessOfFit(
  observed: ArrayLike<number>,
  probs: ArrayLike<number>,
  minExpected = 5,
): ChiSquareResult {
  if (observed.length !== probs.length) throw new RangeError('observed and probs differ in length');
  let n = 0;
  let mass = 0;
  let impossible = 0;
  for (let i = 0; i < observed.length; i++) {
    n += observed[i]!;
    mass += probs[i]!;
    if (!(probs[i]! > 0)) impossible += observed[i]!;
  }
  const cells: { expected: number; observed: number }[] = [];
  for (let i = 0; i < observed.length; i++) {
    if (probs[i]! > 0) cells.push({ expected: (n * probs[i]!) / mass, observed: observed[i]! });
  }
  cells.sort((a, b) => a.expected - b.expected);
  const bins: { expected: number; observed: number }[] = [];
  let acc = { expected: 0, observed: 0 };
  for (const cell of cells) {
    acc.expected += cell.expected;
    acc.observed += cell.observed;
    if (acc.expected >= minExpected) {
      bins.push(acc);
      acc = { expected: 0, observed: 0 };
    }
  }
  if (acc.expected > 0 || acc.observed > 0) {
    const last = bins[bins.length - 1];
    if (last) {
      last.expected += acc.expected;
      last.observed += acc.observed;
    } else {
      bins.push(acc);
    }
  }
  let statistic = 0;
  for (const bin of bins) statistic += (bin.observed - bin.expected) ** 2 / bin.expected;
  const df = bins.length - 1;
  let pValue = df >= 1 ? chiSquareSurvival(statistic, df) : 1;
  if (impossible > 0) pValue = 0;
  return { statistic, df, pValue, bins: bins.length, impossible };
}
