// Offline error budget of bf16 rounding points for whole-model logit parity.
// A modified copy of test/reference/llama-f64.ts: float64 forward with a KV cache (prefill chunk +
// decode chunk), and switchable bf16 (RNE) roundings where the CUDA backend rounds.
//   [SET=2|3] [OUT_DIR=/tmp/bf16-error-budget] npx tsx scripts/bf16-error-budget.ts SHARD NSHARDS
// The model is hf-parity-prepare's hd128-gqa4-bf16 variant (seed 3); its 8 prompts x 129 rows are
// teacher-forced on the exact model's own greedy continuation. Figures: bench/RESULTS.md. The
// rounded runs push each continuation through as one prefill chunk, so the prefill-only rounding
// P (bf16 probabilities) also applies to rows the engine decodes one at a time: P's share is an
// upper bound.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { writeRandomLlamaModel } from '../lib/models/random-model.js';
import { readModelConfig, type ModelConfig } from '../lib/models/hf-config.js';
import { readSafetensorsIndex, readTensorF64, type TensorEntry } from '../lib/models/safetensors.js';
import { ropeInvFreq } from '../test/reference/llama-f64.js';
import { seededInts } from '../test/helpers/random.js';

// ---- bf16 round-to-nearest-even through float32 (as the GPU: value is f32 first) ----
const F = new Float32Array(1);
const U = new Uint32Array(F.buffer);
function bf16(x: number): number {
  F[0] = x;
  const u = U[0]!;
  if ((u & 0x7f800000) === 0x7f800000) return F[0]!; // inf/nan
  U[0] = ((u + 0x7fff + ((u >>> 16) & 1)) >>> 0) & 0xffff0000;
  return F[0]!;
}
function roundArr(a: Float64Array, mode: 'bf16' | 'f32'): void {
  if (mode === 'bf16') for (let i = 0; i < a.length; i++) a[i] = bf16(a[i]!);
  else for (let i = 0; i < a.length; i++) a[i] = Math.fround(a[i]!);
}

// Rounding points.
//  nq: qkv input (attn RMSNorm out)   nm: gate_up input (post-attn RMSNorm out)   nh: lm_head input
//  qkv: q/k/v GEMM outputs (v -> KV cache)   rope: q/k after RoPE (k -> KV cache)
//  P: prefill-attention probabilities (unnormalised, bf16 for the P·V mma; prefill chunks only)
//  att: attention output (o-proj input)   o: o-proj output   gu: gate_up output   act: SiLU·mul output
//  dn: down output   r32: residual stream f32   res: residual stream bf16 (HF)   acc32: GEMM f32 accumulation
export type Point = 'nq' | 'nm' | 'nh' | 'qkvq' | 'qkvk' | 'qkvv' | 'ropeq' | 'ropek' | 'P' | 'att' | 'o' | 'gu' | 'act' | 'dn' | 'r32' | 'res' | 'acc32';
type Flags = Partial<Record<Point, boolean>>;

interface Lin { w: Float64Array; out: number; inF: number }
interface Layer { inNorm: Float64Array; q: Lin; k: Lin; v: Lin; o: Lin; postNorm: Float64Array; gate: Lin; up: Lin; down: Lin }

function linear(l: Lin, x: Float64Array, acc32: boolean): Float64Array {
  const y = new Float64Array(l.out);
  const w = l.w, n = l.inF;
  if (!acc32) {
    for (let o = 0; o < l.out; o++) {
      let s = 0;
      const r = o * n;
      for (let i = 0; i < n; i++) s += w[r + i]! * x[i]!;
      y[o] = s;
    }
  } else {
    for (let o = 0; o < l.out; o++) {
      let s = 0;
      const r = o * n;
      for (let i = 0; i < n; i++) s = Math.fround(s + Math.fround(w[r + i]! * x[i]!));
      y[o] = s;
    }
  }
  return y;
}
function rmsNorm(x: Float64Array, w: Float64Array, eps: number): Float64Array {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i]! * x[i]!;
  const inv = 1 / Math.sqrt(ss / x.length + eps);
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = x[i]! * inv * w[i]!;
  return y;
}

class Model {
  constructor(
    readonly c: ModelConfig, readonly embed: Float64Array, readonly layers: Layer[],
    readonly finalNorm: Float64Array, readonly lm: Lin, readonly invFreq: Float64Array,
  ) {}
  static async load(dir: string): Promise<Model> {
    const c = await readModelConfig(dir);
    const m = new Map<string, TensorEntry>();
    for (const e of await readSafetensorsIndex(dir)) m.set(e.name, e);
    const t = (n: string) => readTensorF64(m.get(n)!);
    const lin = (n: string, out: number, inF: number): Lin => ({ w: t(`${n}.weight`), out, inF });
    const h = c.hiddenSize, qd = c.numAttentionHeads * c.headDim, kvd = c.numKeyValueHeads * c.headDim;
    const layers: Layer[] = [];
    for (let i = 0; i < c.numHiddenLayers; i++) {
      const p = `model.layers.${i}`;
      layers.push({
        inNorm: t(`${p}.input_layernorm.weight`),
        q: lin(`${p}.self_attn.q_proj`, qd, h), k: lin(`${p}.self_attn.k_proj`, kvd, h), v: lin(`${p}.self_attn.v_proj`, kvd, h),
        o: lin(`${p}.self_attn.o_proj`, h, qd), postNorm: t(`${p}.post_attention_layernorm.weight`),
        gate: lin(`${p}.mlp.gate_proj`, c.intermediateSize, h), up: lin(`${p}.mlp.up_proj`, c.intermediateSize, h),
        down: lin(`${p}.mlp.down_proj`, h, c.intermediateSize),
      });
    }
    if (!c.tieWordEmbeddings || c.qkvBias || c.oBias || c.mlpBias) throw new Error('unsupported variant');
    const embed = t('model.embed_tokens.weight');
    return new Model(c, embed, layers, t('model.norm.weight'), { w: embed, out: c.vocabSize, inF: h }, ropeInvFreq(c));
  }
}

/** One sequence's state: per-layer K/V caches (rows of kvDim). */
class Seq {
  k: Float64Array[][]; v: Float64Array[][];
  constructor(layers: number) { this.k = Array.from({ length: layers }, () => []); this.v = Array.from({ length: layers }, () => []); }
  get len() { return this.k[0]!.length; }
}

function rotate(x: Float64Array, off: number, d: number, pos: number, invFreq: Float64Array): void {
  const half = d / 2;
  for (let i = 0; i < half; i++) {
    const a = pos * invFreq[i]!;
    const cs = Math.cos(a), sn = Math.sin(a);
    const x1 = x[off + i]!, x2 = x[off + i + half]!;
    x[off + i] = x1 * cs - x2 * sn;
    x[off + i + half] = x2 * cs + x1 * sn;
  }
}

/** Runs `tokens` as one chunk (prefill if > 1 row) on seq; returns logits of every row. */
function forwardChunk(m: Model, seq: Seq, tokens: number[], f: Flags): Float64Array[] {
  const c = m.c, h = c.hiddenSize, d = c.headDim, H = c.numAttentionHeads, KV = c.numKeyValueHeads;
  const groups = H / KV, scale = 1 / Math.sqrt(d), eps = c.rmsNormEps;
  const prefill = tokens.length > 1;
  const p0 = seq.len, acc = !!f.acc32;
  const resRound = f.res ? 'bf16' : f.r32 ? 'f32' : null;
  const B = (a: Float64Array, on: boolean | undefined) => { if (on) roundArr(a, 'bf16'); return a; };
  let hidden = tokens.map((t) => m.embed.slice(t * h, (t + 1) * h));
  for (let li = 0; li < m.layers.length; li++) {
    const L = m.layers[li]!;
    const qs: Float64Array[] = [];
    tokens.forEach((_, t) => {
      const x = B(rmsNorm(hidden[t]!, L.inNorm, eps), f.nq);
      const q = B(linear(L.q, x, acc), f.qkvq), k = B(linear(L.k, x, acc), f.qkvk), v = B(linear(L.v, x, acc), f.qkvv);
      for (let hh = 0; hh < H; hh++) rotate(q, hh * d, d, p0 + t, m.invFreq);
      for (let hh = 0; hh < KV; hh++) rotate(k, hh * d, d, p0 + t, m.invFreq);
      B(q, f.ropeq); B(k, f.ropek);
      qs.push(q); seq.k[li]!.push(k); seq.v[li]!.push(v);
    });
    const K = seq.k[li]!, V = seq.v[li]!;
    hidden = hidden.map((x, t) => {
      const pos = p0 + t, q = qs[t]!, out = new Float64Array(H * d);
      for (let hh = 0; hh < H; hh++) {
        const kvo = Math.floor(hh / groups) * d, qo = hh * d;
        const s = new Float64Array(pos + 1);
        for (let j = 0; j <= pos; j++) {
          const kj = K[j]!;
          let dot = 0;
          for (let i = 0; i < d; i++) dot += q[qo + i]! * kj[kvo + i]!;
          s[j] = dot * scale;
        }
        if (prefill && f.P) {
          // FlashAttention-2 tiles of 64 keys: running max, l from unrounded p, P·V with bf16(p).
          let mx = -Infinity, l = 0;
          const o = new Float64Array(d);
          for (let t0 = 0; t0 <= pos; t0 += 64) {
            const t1 = Math.min(pos, t0 + 63);
            let tm = mx;
            for (let j = t0; j <= t1; j++) tm = Math.max(tm, s[j]!);
            const corr = Math.exp(mx - tm);
            mx = tm; l *= corr;
            for (let i = 0; i < d; i++) o[i] = o[i]! * corr;
            for (let j = t0; j <= t1; j++) {
              const p = Math.exp(s[j]! - mx);
              l += p;
              const pb = bf16(p), vj = V[j]!;
              for (let i = 0; i < d; i++) o[i] = o[i]! + pb * vj[kvo + i]!;
            }
          }
          for (let i = 0; i < d; i++) out[qo + i] = o[i]! / l;
        } else {
          let mx = -Infinity;
          for (let j = 0; j <= pos; j++) mx = Math.max(mx, s[j]!);
          let tot = 0;
          for (let j = 0; j <= pos; j++) { s[j] = Math.exp(s[j]! - mx); tot += s[j]!; }
          for (let j = 0; j <= pos; j++) {
            const p = s[j]! / tot, vj = V[j]!;
            for (let i = 0; i < d; i++) out[qo + i] = out[qo + i]! + p * vj[kvo + i]!;
          }
        }
      }
      B(out, f.att);
      const o = B(linear(L.o, out, acc), f.o);
      const r = new Float64Array(h);
      for (let i = 0; i < h; i++) r[i] = x[i]! + o[i]!;
      if (resRound) roundArr(r, resRound);
      // MLP
      const n2 = B(rmsNorm(r, L.postNorm, eps), f.nm);
      const g = B(linear(L.gate, n2, acc), f.gu), u = B(linear(L.up, n2, acc), f.gu);
      const a = new Float64Array(g.length);
      for (let i = 0; i < g.length; i++) a[i] = (g[i]! / (1 + Math.exp(-g[i]!))) * u[i]!;
      B(a, f.act);
      const dn = B(linear(L.down, a, acc), f.dn);
      for (let i = 0; i < h; i++) r[i] = r[i]! + dn[i]!;
      if (resRound) roundArr(r, resRound);
      return r;
    });
  }
  return hidden.map((x) => linear(m.lm, B(rmsNorm(x, m.finalNorm, eps), f.nh), acc));
}

const argmax = (a: Float64Array) => { let b = 0; for (let i = 1; i < a.length; i++) if (a[i]! > a[b]!) b = i; return b; };

// ---- configurations ----
const CUDA: Point[] = ['nq', 'nm', 'nh', 'qkvq', 'qkvk', 'qkvv', 'ropeq', 'ropek', 'P', 'att', 'o', 'gu', 'act', 'dn', 'r32'];
const GROUPS: Record<string, Point[]> = {
  a: ['nq', 'nm', 'nh'], b: ['qkvq', 'qkvk', 'qkvv', 'ropeq', 'ropek'], P: ['P'], c: ['att'], d: ['o'], e: ['gu', 'act'], f: ['dn'],
  nq: ['nq'], nm: ['nm'], nh: ['nh'], qkv: ['qkvq', 'qkvk', 'qkvv'], rope: ['ropeq', 'ropek'],
  q: ['qkvq', 'ropeq'], k: ['qkvk', 'ropek'], v: ['qkvv'], qkpre: ['qkvq', 'qkvk'], gu: ['gu'], act: ['act'],
};
const configs: { name: string; flags: Point[] }[] = [];
const without = (drop: Point[]) => CUDA.filter((p) => !drop.includes(p));
configs.push({ name: 'CUDA-like (all)', flags: CUDA });
configs.push({ name: 'CUDA-like + f32 accumulation', flags: [...CUDA, 'acc32'] });
for (const [g, pts] of Object.entries(GROUPS)) configs.push({ name: `all - ${g}`, flags: without(pts) });
for (const [g, pts] of Object.entries(GROUPS)) configs.push({ name: `only ${g}`, flags: pts });
const combos: Record<string, string[]> = {
  'd+f': ['d', 'f'], 'c+d+f': ['c', 'd', 'f'], 'b+c': ['b', 'c'], 'b+c+d+f': ['b', 'c', 'd', 'f'],
  'P+d+f': ['P', 'd', 'f'], 'P+c+d+f': ['P', 'c', 'd', 'f'], 'b+P+c': ['b', 'P', 'c'],
  'b+P+c+d+f': ['b', 'P', 'c', 'd', 'f'], 'rope+P+c+d+f': ['rope', 'P', 'c', 'd', 'f'],
};
for (const [name, gs] of Object.entries(combos)) configs.push({ name: `all - (${name})`, flags: without(gs.flatMap((g) => GROUPS[g]!)) });
if (process.env.SET === '2') {
  configs.length = 0;
  const G = (...gs: string[]) => gs.flatMap((g) => GROUPS[g]!);
  configs.push({ name: 'CUDA-like (all)', flags: CUDA });
  configs.push({ name: 'all - q (q f32 end to end)', flags: without(G('q')) });
  configs.push({ name: 'all - k (K cache f32)', flags: without(G('k')) });
  configs.push({ name: 'all - v (V cache f32)', flags: without(G('v')) });
  configs.push({ name: 'all - qkpre (q,k rounded once, after RoPE)', flags: without(G('qkpre')) });
  configs.push({ name: 'all - q - qkvk (q f32, k once after RoPE)', flags: without(G('q', 'qkpre')) });
  configs.push({ name: 'all - q - qkvk - d - f', flags: without(G('q', 'qkpre', 'd', 'f')) });
  configs.push({ name: 'all - q - qkvk - c - d - f - P', flags: without(G('q', 'qkpre', 'c', 'd', 'f', 'P')) });
  configs.push({ name: 'all - b - nq', flags: without(G('b', 'nq')) });
  configs.push({ name: 'all - b - a', flags: without(G('b', 'a')) });
  configs.push({ name: 'all - b - nq - d - f', flags: without(G('b', 'nq', 'd', 'f')) });
  configs.push({ name: 'only q', flags: G('q') });
  configs.push({ name: 'only k', flags: G('k') });
  configs.push({ name: 'only v', flags: G('v') });
  configs.push({ name: 'only qkpre', flags: G('qkpre') });
  configs.push({ name: 'only nq+b (all q/k/v-path roundings)', flags: G('nq', 'b') });
} else if (process.env.SET === '3') {
  configs.length = 0;
  const G = (...gs: string[]) => gs.flatMap((g) => GROUPS[g]!);
  configs.push({ name: 'all - nq - q - qkvk (f32 qkv input, q f32, bf16 KV cache)', flags: without(G('nq', 'q', 'qkpre')) });
  configs.push({ name: 'same - d - f', flags: without(G('nq', 'q', 'qkpre', 'd', 'f')) });
  configs.push({ name: 'all - nq', flags: without(G('nq')) });
  configs.push({ name: 'all - nq - qkpre (f32 qkv in, q/k once after RoPE)', flags: without(G('nq', 'qkpre')) });
  configs.push({ name: 'all - b - nq - c - P - d - f', flags: without(G('b', 'nq', 'c', 'P', 'd', 'f')) });
  configs.push({ name: 'all - b - nq - e - nm', flags: without(G('b', 'nq', 'e', 'nm')) });
} else {
configs.push({ name: 'HF-like: all + bf16 residual (g)', flags: [...CUDA.filter((p) => p !== 'r32'), 'res'] });
configs.push({ name: 'only g (bf16 residual)', flags: ['res'] });
configs.push({ name: 'only r32 (f32 residual)', flags: ['r32'] });
}

// ---- main ----
const shard = Number(process.argv[2] ?? 0), nShards = Number(process.argv[3] ?? 1);
const ROWS_LIMIT = Number(process.env.DECODE ?? 128);
const NPROMPTS = Number(process.env.PROMPTS ?? 8);
const work = process.env.OUT_DIR ?? '/tmp/bf16-error-budget';
const dir = `${work}/model`;
mkdirSync(dir, { recursive: true });
if (!existsSync(`${dir}/model.safetensors`)) {
  writeRandomLlamaModel(dir, {
    seed: 3, dtype: 'bfloat16',
    config: { vocab_size: 2000, hidden_size: 512, num_attention_heads: 4, num_key_value_heads: 1, head_dim: 128, intermediate_size: 768 },
  });
}
const model = await Model.load(dir);
const vocab = model.c.vocabSize;
if (process.env.CHECK) {
  const toks = seededInts(502, 40, 2000), seq = new Seq(model.layers.length);
  const rows = [...forwardChunk(model, seq, toks.slice(0, 33), {}), ...toks.slice(33).map((t) => forwardChunk(model, seq, [t], {})[0]!)];
  console.log(JSON.stringify(rows.map(argmax)), rows[39]!.slice(0, 4));
  process.exit(0);
}
const lengths = [1, 7, 33, 64, 5, 100, 17, 250];
const prompts = Array.from({ length: NPROMPTS }, (_, i) => seededInts(500 + i, lengths[i % lengths.length]!, vocab));

// Exact f64 greedy continuation (teacher-forcing inputs for everyone) and reference rows.
let t0 = Date.now();
const exact: { prompt: number[]; cont: number[]; rows: Float64Array[] }[] = prompts.map((prompt) => {
  const seq = new Seq(model.layers.length);
  const rows = [forwardChunk(model, seq, prompt, {}).at(-1)!];
  const cont: number[] = [];
  for (let s = 0; s < ROWS_LIMIT; s++) {
    cont.push(argmax(rows.at(-1)!));
    rows.push(forwardChunk(model, seq, [cont.at(-1)!], {})[0]!);
  }
  return { prompt, cont, rows };
});
{
  const gaps: number[] = [];
  for (const ex of exact) for (const r of ex.rows) {
    const s2 = [...r].sort((a, b) => b - a); let mr = 0; for (const v of r) mr = Math.max(mr, Math.abs(v));
    gaps.push((s2[0]! - s2[1]!) / mr);
  }
  const cnt = (t: number) => gaps.filter((g) => g < t).length;
  if (shard === 0) console.error(`top1-top2 gap / max|logit|: rows ${gaps.length}, <0.005: ${cnt(0.005)}, <0.01: ${cnt(0.01)}, <0.02: ${cnt(0.02)}, <0.04: ${cnt(0.04)}`);
}
console.error(`exact greedy: ${(Date.now() - t0) / 1000}s`);

const results: unknown[] = [];
configs.forEach((cfg, idx) => {
  if (idx % nShards !== shard) return;
  t0 = Date.now();
  const flags: Flags = Object.fromEntries(cfg.flags.map((p) => [p, true]));
  const errs: number[] = [];
  let agree = 0;
  for (const ex of exact) {
    const seq = new Seq(model.layers.length);
    const rows = [forwardChunk(model, seq, ex.prompt, flags).at(-1)!, ...forwardChunk(model, seq, ex.cont, flags)];
    rows.forEach((got, r) => {
      const want = ex.rows[r]!;
      let md = 0, mr = 0;
      for (let i = 0; i < want.length; i++) { md = Math.max(md, Math.abs(got[i]! - want[i]!)); mr = Math.max(mr, Math.abs(want[i]!)); }
      errs.push(md / mr);
      if (argmax(got) === argmax(want)) agree++;
    });
  }
  const worst = Math.max(...errs), mean = errs.reduce((a, b) => a + b, 0) / errs.length;
  const sorted = [...errs].sort((a, b) => a - b), p99 = sorted[Math.floor(0.99 * (sorted.length - 1))]!;
  const res = { idx, name: cfg.name, flags: cfg.flags, rows: errs.length, worst, mean, p99, argmax: (100 * agree) / errs.length };
  results.push(res);
  console.error(`${cfg.name.padEnd(36)} worst ${worst.toExponential(2)} mean ${mean.toExponential(2)} argmax ${res.argmax.toFixed(2)}% (${(Date.now() - t0) / 1000}s)`);
});
writeFileSync(`${work}/results${process.env.SET ?? ''}-${shard}.json`, JSON.stringify(results));
