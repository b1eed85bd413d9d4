// An independent float64 forward pass of LlamaForCausalLM, written from transformers'
// modeling_llama.py, to check the engine against. It shares no code with the engine (only the
// file readers), recomputes everything for the whole sequence on every call, and favours being
// obviously right over being fast: use it with tiny models.

import { readModelConfig, type ModelConfig } from '../../lib/models/hf-config.js';
import { readSafetensorsIndex, readTensorF64, type TensorEntry } from '../../lib/models/safetensors.js';

/** A weight matrix as nn.Linear stores it: [out, in], row-major. */
interface Linear {
  weight: Float64Array;
  bias: Float64Array | null;
  outFeatures: number;
  inFeatures: number;
}

interface Layer {
  inputNorm: Float64Array;
  q: Linear;
  k: Linear;
  v: Linear;
  o: Linear;
  postAttentionNorm: Float64Array;
  gate: Linear;
  up: Linear;
  down: Linear;
}

/**
 * Rotary inverse frequencies, as transformers' ROPE_INIT_FUNCTIONS compute them:
 * default: 1 / theta^(2i/d); linear: the same divided by factor; llama3: _compute_llama3_parameters.
 * (attention_factor is 1 for all three, so cos/sin are not rescaled.)
 */
export function ropeInvFreq(config: Pick<ModelConfig, 'headDim' | 'rope'>): Float64Array {
  const d = config.headDim;
  const invFreq = new Float64Array(d / 2);
  for (let i = 0; i < d / 2; i++) invFreq[i] = 1 / config.rope.theta ** ((2 * i) / d);

  const scaling = config.rope.scaling;
  if (scaling === null) return invFreq;
  if (scaling.type === 'linear') return invFreq.map((f) => f / scaling.factor);
  if (scaling.type !== 'llama3') throw new Error(`the float64 reference has no ${scaling.type} rope`);

  const { factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: oldContextLen } = scaling;
  const lowFreqWavelen = oldContextLen / lowFreqFactor;
  const highFreqWavelen = oldContextLen / highFreqFactor;
  return invFreq.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highFreqWavelen) return f; // high frequency: kept
    if (wavelen > lowFreqWavelen) return f / factor; // low frequency: interpolated by factor
    // In between: a smooth blend of the two.
    const smooth = (oldContextLen / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
    return ((1 - smooth) * f) / factor + smooth * f;
  });
}

function linear(l: Linear, x: Float64Array): Float64Array {
  const y = new Float64Array(l.outFeatures);
  for (let o = 0; o < l.outFeatures; o++) {
    let sum = l.bias === null ? 0 : (l.bias[o] as number);
    const row = o * l.inFeatures;
    for (let i = 0; i < l.inFeatures; i++) sum += (l.weight[row + i] as number) * (x[i] as number);
    y[o] = sum;
  }
  return y;
}

/** LlamaRMSNorm: weight * x / sqrt(mean(x^2) + eps). */
function rmsNorm(x: Float64Array, weight: Float64Array, eps: number): Float64Array {
  let sumSq = 0;
  for (const v of x) sumSq += v * v;
  const inv = 1 / Math.sqrt(sumSq / x.length + eps);
  return x.map((v, i) => (weight[i] as number) * (v * inv));
}

function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

/** apply_rotary_pos_emb on one head: x*cos + rotate_half(x)*sin, rotate_half(x) = [-x2, x1]. */
function rotate(x: Float64Array, position: number, invFreq: Float64Array): Float64Array {
  const half = x.length / 2;
  const out = new Float64Array(x.length);
  for (let i = 0; i < half; i++) {
    const angle = position * (invFreq[i] as number);
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    const x1 = x[i] as number;
    const x2 = x[i + half] as number;
    out[i] = x1 * cos - x2 * sin;
    out[i + half] = x2 * cos + x1 * sin;
  }
  return out;
}

function add(a: Float64Array, b: Float64Array): Float64Array {
  return a.map((v, i) => v + (b[i] as number));
}

export class LlamaReference {
  private constructor(
    readonly config: ModelConfig,
    private readonly embed: Float64Array,
    private readonly layers: Layer[],
    private readonly finalNorm: Float64Array,
    private readonly lmHead: Linear,
    private readonly invFreq: Float64Array,
  ) {}

  static async load(dir: string): Promise<LlamaReference> {
    const config = await readModelConfig(dir);
    const entries = new Map<string, TensorEntry>();
    for (const e of await readSafetensorsIndex(dir)) entries.set(e.name, e);

    const tensor = (name: string, shape: number[]): Float64Array => {
      const e = entries.get(name);
      if (e === undefined) throw new Error(`${dir}: missing tensor ${name}`);
      if (e.shape.join(',') !== shape.join(',')) {
        throw new Error(`${dir}: ${name} has shape [${e.shape}], expected [${shape}]`);
      }
      return readTensorF64(e);
    };
    const lin = (name: string, outFeatures: number, inFeatures: number, hasBias: boolean): Linear => ({
      weight: tensor(`${name}.weight`, [outFeatures, inFeatures]),
      bias: hasBias ? tensor(`${name}.bias`, [outFeatures]) : null,
      outFeatures,
      inFeatures,
    });

    const c = config;
    const h = c.hiddenSize;
    const qDim = c.numAttentionHeads * c.headDim;
    const kvDim = c.numKeyValueHeads * c.headDim;
    const layers: Layer[] = [];
    for (let i = 0; i < c.numHiddenLayers; i++) {
      const p = `model.layers.${i}`;
      layers.push({
        inputNorm: tensor(`${p}.input_layernorm.weight`, [h]),
        q: lin(`${p}.self_attn.q_proj`, qDim, h, c.qkvBias),
        k: lin(`${p}.self_attn.k_proj`, kvDim, h, c.qkvBias),
        v: lin(`${p}.self_attn.v_proj`, kvDim, h, c.qkvBias),
        o: lin(`${p}.self_attn.o_proj`, h, qDim, c.oBias),
        postAttentionNorm: tensor(`${p}.post_attention_layernorm.weight`, [h]),
        gate: lin(`${p}.mlp.gate_proj`, c.intermediateSize, h, c.mlpBias),
        up: lin(`${p}.mlp.up_proj`, c.intermediateSize, h, c.mlpBias),
        down: lin(`${p}.mlp.down_proj`, h, c.intermediateSize, c.mlpBias),
      });
    }
    const embed = tensor('model.embed_tokens.weight', [c.vocabSize, h]);
    // Tied: lm_head shares the embedding matrix (transformers ignores a stored lm_head then).
    const lmHead: Linear = c.tieWordEmbeddings
      ? { weight: embed, bias: null, outFeatures: c.vocabSize, inFeatures: h }
      : lin('lm_head', c.vocabSize, h, false);
    return new LlamaReference(config, embed, layers, tensor('model.norm.weight', [h]), lmHead, ropeInvFreq(config));
  }

  /** Logits for every position, each position attending causally to itself and those before. */
  forward(tokens: number[]): Float64Array[] {
    const c = this.config;
    let hidden: Float64Array[] = tokens.map((t) => {
      if (!Number.isInteger(t) || t < 0 || t >= c.vocabSize) throw new Error(`token ${t} outside the vocabulary`);
      return this.embed.slice(t * c.hiddenSize, (t + 1) * c.hiddenSize);
    });
    for (const layer of this.layers) {
      const normed = hidden.map((x) => rmsNorm(x, layer.inputNorm, c.rmsNormEps));
      const attn = this.attention(layer, normed);
      hidden = hidden.map((x, t) => add(x, attn[t] as Float64Array));
      const mlp = hidden.map((x) => {
        const n = rmsNorm(x, layer.postAttentionNorm, c.rmsNormEps);
        const gate = linear(layer.gate, n);
        const up = linear(layer.up, n);
        return linear(layer.down, gate.map((g, i) => silu(g) * (up[i] as number)));
      });
      hidden = hidden.map((x, t) => add(x, mlp[t] as Float64Array));
    }
    return hidden.map((x) => linear(this.lmHead, rmsNorm(x, this.finalNorm, c.rmsNormEps)));
  }

  /** LlamaAttention with eager softmax; query head h reads key/value head floor(h / groups) (repeat_kv). */
  private attention(layer: Layer, x: Float64Array[]): Float64Array[] {
    const c = this.config;
    const d = c.headDim;
    const groups = c.numAttentionHeads / c.numKeyValueHeads;
    const scale = 1 / Math.sqrt(d);
    const head = (v: Float64Array, h: number): Float64Array => v.slice(h * d, (h + 1) * d);

    const qs = x.map((xt, pos) => {
      const q = linear(layer.q, xt);
      return Array.from({ length: c.numAttentionHeads }, (_, h) => rotate(head(q, h), pos, this.invFreq));
    });
    const ks = x.map((xt, pos) => {
      const k = linear(layer.k, xt);
      return Array.from({ length: c.numKeyValueHeads }, (_, h) => rotate(head(k, h), pos, this.invFreq));
    });
    const vs = x.map((xt) => {
      const v = linear(layer.v, xt);
      return Array.from({ length: c.numKeyValueHeads }, (_, h) => head(v, h));
    });

    return x.map((_, t) => {
      const out = new Float64Array(c.numAttentionHeads * d);
      for (let h = 0; h < c.numAttentionHeads; h++) {
        const kvHead = Math.floor(h / groups);
        const q = (qs[t] as Float64Array[])[h] as Float64Array;
        // Causal: position t sees positions 0..t.
        const scores: number[] = [];
        for (let s = 0; s <= t; s++) {
          const k = (ks[s] as Float64Array[])[kvHead] as Float64Array;
          let dot = 0;
          for (let i = 0; i < d; i++) dot += (q[i] as number) * (k[i] as number);
          scores.push(dot * scale);
        }
        const max = Math.max(...scores);
        const weights = scores.map((s) => Math.exp(s - max));
        const total = weights.reduce((a, b) => a + b, 0);
        for (let s = 0; s <= t; s++) {
          const v = (vs[s] as Float64Array[])[kvHead] as Float64Array;
          const p = (weights[s] as number) / total;
          for (let i = 0; i < d; i++) out[h * d + i] = (out[h * d + i] as number) + p * (v[i] as number);
        }
      }
      return linear(layer.o, out);
    });
  }
}
