// RoPE (rotary position embedding) frequencies and their scaling, computed as Hugging Face
// transformers computes them (src/transformers/modeling_rope_utils.py: the default, linear,
// dynamic, yarn, longrope and llama3 init functions), in float64 throughout. transformers
// computes in float32, so its values agree with these to float32 rounding.
//
// The engine builds ONE static cos/sin table, used for every position up to maxModelLen
// (native/model/rope_table.cc). default, linear, llama3 and yarn are static in transformers too,
// so the table is exactly theirs. dynamic and longrope change with the sequence length in
// transformers (its `dynamic_rope_update` decorator recomputes them per forward pass); for those
// two, ropeFrequencies picks one set of frequencies from maxModelLen, by the rules written at
// each of them below.
//
// Reference versions read: transformers main of the v5 line (rope_parameters, `truncate`,
// mscale/mscale_all_dim, the gemma4 per-layer workaround) and the 4.4x line (rope_scaling);
// where they differ the newest is followed and the older behaviour is noted. vLLM
// (vllm/model_executor/layers/rotary_embedding/) is the second reference, for the static-table
// choices.

/** The scaling types parseRope accepts (besides 'su', transformers' legacy name for longrope). */
export const ROPE_TYPES = ['default', 'linear', 'dynamic', 'llama3', 'yarn', 'longrope'] as const;

export type RopeScaling =
  | { type: 'linear'; factor: number }
  | { type: 'dynamic'; factor: number; originalMaxPositionEmbeddings?: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number }
  | {
      type: 'yarn';
      factor: number;
      originalMaxPositionEmbeddings?: number;
      betaFast: number;
      betaSlow: number;
      attentionFactor?: number;
      mscale?: number;
      mscaleAllDim?: number;
      truncate: boolean;
    }
  | {
      type: 'longrope';
      shortFactor: number[];
      longFactor: number[];
      originalMaxPositionEmbeddings?: number;
      factor?: number;
      attentionFactor?: number;
    };

export interface RopeConfig {
  theta: number;
  scaling: RopeScaling | null;
}

type Raw = Record<string, unknown>;

/** A config value that is absent: missing or JSON null (HF configs write null for "use the default"). */
function absent(v: unknown): v is null | undefined {
  return v === null || v === undefined;
}

/**
 * Parses one rope dict as it appears in config.json: classic `rope_scaling` (key `type` or
 * `rope_type`) or transformers 5's `rope_parameters` (which also carries `rope_theta`).
 * `fallbackTheta` is the config's top-level rope_theta or the family default. Throws naming `file`
 * and the missing/invalid key; 'default' (or null/undefined) means no scaling. Supported types:
 * default, linear, dynamic, llama3, yarn, longrope (also 'su', longrope's legacy name, as
 * transformers accepts it).
 *
 * The caller merges config-level keys that transformers moves into this dict:
 * - a top-level `original_max_position_embeddings` (Phi-3 and Phi-3.5 configs keep it outside
 *   rope_scaling): transformers 5's `standardize_rope_params` copies it into the rope dict for
 *   llama3, yarn and longrope, and it WINS over a value already there, so the caller should set
 *   `raw.original_max_position_embeddings` to the top-level value when the top level has one;
 * - `partial_rotary_factor` is not read here: it sets rotaryDim (see rotaryDimOf).
 */
export function parseRope(raw: Record<string, unknown> | null | undefined, fallbackTheta: number, file: string): RopeConfig {
  // transformers 5's `rope_parameters` carries theta; when it does, it wins over the top level
  // (standardize_rope_params does `rope_parameters.setdefault("rope_theta", config.rope_theta)`).
  let theta = fallbackTheta;
  if (raw && !absent(raw.rope_theta)) {
    if (!isPositiveNumber(raw.rope_theta)) {
      throw new Error(`${file}: rope_theta must be a positive number, got ${show(raw.rope_theta)}`);
    }
    theta = raw.rope_theta;
  }
  if (!isPositiveNumber(theta)) throw new Error(`${file}: rope_theta must be a positive number, got ${show(theta)}`);
  if (absent(raw)) return { theta, scaling: null };
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new Error(`${file}: rope_scaling must be an object, got ${show(raw)}`);
  }

  // transformers: rope_parameters.get("rope_type", rope_parameters.get("type", "default")).
  const typeValue = !absent(raw.rope_type) ? raw.rope_type : !absent(raw.type) ? raw.type : 'default';
  if (typeof typeValue !== 'string') {
    throw new Error(`${file}: rope_scaling.rope_type must be a string, got ${show(typeValue)}`);
  }
  // 'su' is the name the first Phi-3 configs used for longrope; transformers' Phi3Config renames it.
  const type = typeValue === 'su' ? 'longrope' : typeValue;
  const where = `${file}: rope_scaling of type "${typeValue}"`;

  const need = (key: string): number => {
    const v = raw[key];
    if (absent(v)) throw new Error(`${where} needs "${key}"`);
    if (!isPositiveNumber(v)) throw new Error(`${where}: "${key}" must be a positive number, got ${show(v)}`);
    return v;
  };
  const optional = (key: string): number | undefined => (absent(raw[key]) ? undefined : need(key));
  const numberList = (key: string): number[] => {
    const v = raw[key];
    if (absent(v)) throw new Error(`${where} needs "${key}"`);
    if (!Array.isArray(v) || v.length === 0 || !v.every(isPositiveNumber)) {
      throw new Error(`${where}: "${key}" must be a non-empty list of positive numbers`);
    }
    return [...(v as number[])];
  };

  switch (type) {
    case 'default':
      return { theta, scaling: null };

    case 'linear':
      return { theta, scaling: { type: 'linear', factor: need('factor') } };

    case 'dynamic':
      // transformers (4.4x with a TODO to use it, and v5 alike) reads neither rope_scaling's nor the
      // config's original_max_position_embeddings for dynamic: its threshold and ratio are
      // config.max_position_embeddings. So it is not carried here either; a caller that wants
      // another trained length (vLLM's max_trained_positions) may set originalMaxPositionEmbeddings.
      return { theta, scaling: { type: 'dynamic', factor: need('factor') } };

    case 'llama3': {
      // transformers 5 defaults original_max_position_embeddings to max_position_embeddings; every
      // Llama 3.x config writes it and 4.4x required it, so a missing one is refused here (this
      // function does not know max_position_embeddings).
      const scaling = {
        type: 'llama3' as const,
        factor: need('factor'),
        lowFreqFactor: need('low_freq_factor'),
        highFreqFactor: need('high_freq_factor'),
        originalMaxPositionEmbeddings: need('original_max_position_embeddings'),
      };
      // transformers only warns, but the smoothing divides by (high - low).
      if (scaling.highFreqFactor <= scaling.lowFreqFactor) {
        throw new Error(`${where}: "high_freq_factor" must be larger than "low_freq_factor"`);
      }
      return { theta, scaling };
    }

    case 'yarn': {
      const scaling: RopeScaling = {
        type: 'yarn',
        // Required by transformers 5's validation (a missing key is a KeyError there).
        factor: need('factor'),
        // transformers: `rope_parameters.get("beta_fast") or 32`, so 0 and null also mean the default.
        betaFast: optionalBeta(raw, 'beta_fast', where) || 32,
        betaSlow: optionalBeta(raw, 'beta_slow', where) || 1,
        truncate: parseTruncate(raw.truncate, where),
      };
      const original = optional('original_max_position_embeddings');
      if (original !== undefined) scaling.originalMaxPositionEmbeddings = original;
      const attentionFactor = optional('attention_factor');
      if (attentionFactor !== undefined) scaling.attentionFactor = attentionFactor;
      const mscale = optionalNumber(raw, 'mscale', where);
      if (mscale !== undefined) scaling.mscale = mscale;
      const mscaleAllDim = optionalNumber(raw, 'mscale_all_dim', where);
      if (mscaleAllDim !== undefined) scaling.mscaleAllDim = mscaleAllDim;
      return { theta, scaling };
    }

    case 'longrope': {
      const scaling: RopeScaling = {
        type: 'longrope',
        shortFactor: numberList('short_factor'),
        longFactor: numberList('long_factor'),
      };
      const original = optional('original_max_position_embeddings');
      if (original !== undefined) scaling.originalMaxPositionEmbeddings = original;
      const factor = optional('factor');
      if (factor !== undefined) scaling.factor = factor;
      const attentionFactor = optional('attention_factor');
      if (attentionFactor !== undefined) scaling.attentionFactor = attentionFactor;
      return { theta, scaling };
    }

    default:
      throw new Error(`Unsupported rope_scaling type "${typeValue}" in ${file}; nodellm supports: ${ROPE_TYPES.join(', ')}`);
  }
}

/**
 * The rotary dimension: transformers' `int(head_dim * partial_rotary_factor)` (Python's int()
 * truncates, and so does this, on the same float64 product).
 */
export function rotaryDimOf(headDim: number, partialRotaryFactor = 1): number {
  return Math.trunc(headDim * partialRotaryFactor);
}

/**
 * The inverse frequencies (rotaryDim / 2 of them) and the attention factor that cos and sin are
 * multiplied by, for a static table used for every position up to maxModelLen.
 *
 * rotaryDim is head_dim * partial_rotary_factor (rotaryDimOf); every formula uses it as `dim`, as
 * transformers does. maxPositionEmbeddings is config.max_position_embeddings. To check against
 * transformers' `ROPE_INIT_FUNCTIONS[type](config, device, seq_len=S)`, pass maxModelLen = S.
 */
export function ropeFrequencies(
  rope: RopeConfig,
  rotaryDim: number,
  maxPositionEmbeddings: number,
  maxModelLen: number,
): { invFreq: number[]; attentionFactor: number } {
  if (!Number.isInteger(rotaryDim) || rotaryDim < 2 || rotaryDim % 2 !== 0) {
    throw new Error(`rotary dimension must be a positive even integer, got ${rotaryDim}`);
  }
  if (!isPositiveNumber(maxPositionEmbeddings)) {
    throw new Error(`max_position_embeddings must be a positive number, got ${maxPositionEmbeddings}`);
  }
  if (!isPositiveNumber(maxModelLen)) throw new Error(`max model length must be a positive number, got ${maxModelLen}`);
  const dim = rotaryDim;
  const theta = rope.theta;
  const s = rope.scaling;

  if (s === null) return { invFreq: defaultInvFreq(theta, dim), attentionFactor: 1 };

  switch (s.type) {
    case 'linear':
      // Dividing the frequencies by factor is dividing the positions by it (linear interpolation).
      return { invFreq: defaultInvFreq(theta, dim).map((f) => f / s.factor), attentionFactor: 1 };

    case 'dynamic': {
      // transformers (_compute_dynamic_ntk_parameters, called by the dynamic_rope_update
      // decorator) recomputes the base in a forward pass whose sequence is longer than any seen
      // since the last reset and longer than max_position_embeddings:
      //   base = theta * ((factor * seqLen / maxPos) - (factor - 1)) ** (dim / (dim - 2)),
      // with seqLen = max(seqLen, maxPos), so at or below maxPos the base is theta; it goes back to
      // the default frequencies when a sequence shorter than maxPos comes.
      //
      // The static table takes seqLen = maxModelLen:
      // - maxModelLen <= maxPos: the default frequencies, which is what transformers uses for every
      //   sequence this engine can hold: identical to transformers throughout;
      // - maxModelLen > maxPos: what transformers computes for a sequence of maxModelLen tokens. A
      //   shorter sequence gets a larger base than transformers would give it fresh; in exchange,
      //   one fixed table keeps cached keys valid as a sequence grows (transformers' recomputation
      //   rotates new tokens with frequencies the cached keys were not computed with).
      //
      // vLLM instead long used seqLen = maxPos * factor whatever the served length
      // (base = theta * (factor^2 - factor + 1) ** (dim / (dim - 2)) for every sequence, so short
      // prompts too get the stretched base); vllm issue #3488 reported that as differing from
      // transformers on inputs within the original context, #41236 as a constant (fixed by PR
      // #41277). vLLM's later dynamic-NTK tests ("below and above the trained context length")
      // expect the plain base at or below the trained length and
      // theta * (factor * served / trained - (factor - 1)) ** (dim / (dim - 2)) above it: the rule
      // used here, with served = maxModelLen.
      //
      // The trained length is config.max_position_embeddings, as in transformers (parseRope does
      // not fill originalMaxPositionEmbeddings; a caller may set it to name another trained length).
      const trained = s.originalMaxPositionEmbeddings ?? maxPositionEmbeddings;
      const seqLen = Math.max(maxModelLen, trained);
      const base = theta * ((s.factor * seqLen) / trained - (s.factor - 1)) ** (dim / (dim - 2));
      return { invFreq: defaultInvFreq(base, dim), attentionFactor: 1 };
    }

    case 'llama3': {
      // Llama 3.1: wavelengths shorter than original / high_freq_factor are kept, longer than
      // original / low_freq_factor are divided by factor, and the band between is a blend of the
      // two, by where original / wavelength falls between low_freq_factor and high_freq_factor.
      const { factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: original } = s;
      const lowFreqWavelen = original / lowFreqFactor;
      const highFreqWavelen = original / highFreqFactor;
      const invFreq = defaultInvFreq(theta, dim).map((f) => {
        const wavelen = (2 * Math.PI) / f;
        if (wavelen < highFreqWavelen) return f;
        if (wavelen > lowFreqWavelen) return f / factor;
        const smooth = (original / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
        return ((1 - smooth) * f) / factor + smooth * f;
      });
      return { invFreq, attentionFactor: 1 };
    }

    case 'yarn':
      return yarn(s, theta, dim, maxPositionEmbeddings);

    case 'longrope': {
      // transformers (v5 standardize_rope_params): original_max_position_embeddings from the dict
      // (the caller has merged a top-level one in), else max_position_embeddings.
      const original = s.originalMaxPositionEmbeddings ?? maxPositionEmbeddings;
      const half = dim / 2;
      if (s.shortFactor.length !== half || s.longFactor.length !== half) {
        throw new Error(
          `longrope short_factor and long_factor need rotary_dim / 2 = ${half} entries, got ${s.shortFactor.length} and ${s.longFactor.length}`,
        );
      }
      // transformers picks long_factor for a sequence longer than original_max_position_embeddings
      // and short_factor otherwise, per forward pass. The static table uses long_factor when
      // maxModelLen > original, else short_factor: what vLLM does
      // (phi3_long_rope_scaled_rope.py: `use_long_rope = max_model_len >
      // original_max_position_embeddings`, "to prevent KV cache invalidation when sequences cross
      // this threshold during generation"). At or below original this is transformers for every
      // sequence; above it, sequences no longer than original get the long factors where
      // transformers would give them the short ones.
      const ext = maxModelLen > original ? s.longFactor : s.shortFactor;
      const invFreq = defaultInvFreq(theta, dim).map((f, i) => f / ext[i]!);
      // Attention factor as transformers: attention_factor when given; else from factor, which is
      // the dict's `factor` when given and max_position_embeddings / original otherwise (v5; 4.4x
      // always took the ratio when the config had original_max_position_embeddings), as
      // sqrt(1 + ln(factor) / ln(original)) above 1 and 1 otherwise. (vLLM always takes the ratio
      // and ignores `factor` and `attention_factor`; transformers is followed here.)
      let attentionFactor = s.attentionFactor;
      if (attentionFactor === undefined) {
        const factor = s.factor ?? maxPositionEmbeddings / original;
        attentionFactor = factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(original));
      }
      return { invFreq, attentionFactor };
    }
  }
}

/** transformers' default RoPE: inv_freq[i] = 1 / base ** (2i / dim), i = 0 .. dim/2 - 1. */
function defaultInvFreq(base: number, dim: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < dim; i += 2) out.push(1 / base ** (i / dim));
  return out;
}

/**
 * YaRN (arXiv 2309.00071) as transformers 5 computes it:
 * - original_max_position_embeddings: the dict's, else max_position_embeddings (4.4x used
 *   max_position_embeddings for the correction range whatever the dict said).
 * - factor: the dict's `factor`. transformers 5 uses the explicit factor and only warns when it
 *   differs from max_position_embeddings / original (it falls back to that ratio only when factor
 *   is None; parseRope requires factor). Some 4.5x releases instead always replaced factor by that
 *   ratio when the dict had original_max_position_embeddings.
 * - The correction range: the dimensions where beta_fast and beta_slow rotations fit in the
 *   original context, floored/ceiled when `truncate` (default true; gpt-oss sets false), then
 *   clamped to [0, dim - 1]. Below it the frequencies are kept (extrapolation), above it divided by
 *   factor (interpolation), with a linear ramp between.
 * - Attention factor: attention_factor when given; else, when mscale and mscale_all_dim are both
 *   non-zero, get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim); else
 *   get_mscale(factor) = 0.1 * ln(factor) + 1 (1 when factor <= 1; 4.4x applied the formula
 *   whatever the factor and did not read mscale).
 */
function yarn(
  s: Extract<RopeScaling, { type: 'yarn' }>,
  theta: number,
  dim: number,
  maxPositionEmbeddings: number,
): { invFreq: number[]; attentionFactor: number } {
  const original = s.originalMaxPositionEmbeddings ?? maxPositionEmbeddings;
  const factor = s.factor;

  const getMscale = (scale: number, mscale = 1): number => (scale <= 1 ? 1 : 0.1 * mscale * Math.log(scale) + 1);
  let attentionFactor = s.attentionFactor;
  if (attentionFactor === undefined) {
    attentionFactor = s.mscale && s.mscaleAllDim ? getMscale(factor, s.mscale) / getMscale(factor, s.mscaleAllDim) : getMscale(factor);
  }

  // The dimension whose frequency turns `rotations` times over the original context.
  const correctionDim = (rotations: number): number =>
    (dim * Math.log(original / (rotations * 2 * Math.PI))) / (2 * Math.log(theta));
  let low = correctionDim(s.betaFast);
  let high = correctionDim(s.betaSlow);
  if (s.truncate) {
    low = Math.floor(low);
    high = Math.ceil(high);
  }
  low = Math.max(low, 0);
  high = Math.min(high, dim - 1);
  if (low === high) high += 0.001; // transformers' guard against a zero-width ramp

  const half = dim / 2;
  const invFreq: number[] = [];
  for (let i = 0; i < half; i++) {
    const extrapolation = 1 / theta ** ((2 * i) / dim);
    const interpolation = extrapolation / factor;
    // ramp: 0 below the range (keep the frequency), 1 above it (divide it by factor).
    const ramp = Math.min(Math.max((i - low) / (high - low), 0), 1);
    invFreq.push(interpolation * ramp + extrapolation * (1 - ramp));
  }
  return { invFreq, attentionFactor };
}

function isPositiveNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0;
}

/** A finite number (any sign, zero included: transformers treats 0 as "not set" for these), or undefined when absent. */
function optionalNumber(raw: Raw, key: string, where: string): number | undefined {
  const v = raw[key];
  if (absent(v)) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${where}: "${key}" must be a number, got ${show(v)}`);
  return v;
}

/** beta_fast / beta_slow: a rotation count, so not negative; 0 means the default, as `or 32` does in transformers. */
function optionalBeta(raw: Raw, key: string, where: string): number | undefined {
  const v = optionalNumber(raw, key, where);
  if (v !== undefined && v < 0) throw new Error(`${where}: "${key}" must not be negative, got ${v}`);
  return v;
}

function parseTruncate(v: unknown, where: string): boolean {
  // transformers 5: `config.rope_parameters.get("truncate", True)`, then `if truncate:`. A missing
  // key truncates; an explicit null (None) does not, exactly as there (and in vLLM, which passes the
  // value on).
  if (v === undefined) return true;
  if (v === null) return false;
  if (typeof v !== 'boolean') throw new Error(`${where}: "truncate" must be true or false, got ${show(v)}`);
  return v;
}

function show(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
