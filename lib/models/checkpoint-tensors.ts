// The checkpoint's tensors under the names the native decoder asks for (model.layers.N.self_attn.
// q_proj.weight, ...). Multimodal checkpoints' language-model prefixes are dropped, and tensors a
// family stores fused (Phi-3's qkv_proj and gate_up_proj) are split by rows into views of the same
// bytes, so the native loader reads every family the same way, still without copying.
import { type Architecture, canonicalTensorName, findArchitectureByName } from './architectures.js';
import type { ModelConfig } from './hf-config.js';
import type { TensorEntry } from './safetensors.js';

/** A tensor as the native loader sees it; `source` is the checkpoint's own name where it differs. */
export interface ModelTensor extends TensorEntry {
  source?: string;
}

const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

// Splits a [sum(rows), cols] (or [sum(rows)]) tensor into row ranges named `names`.
function splitRows(entry: TensorEntry, source: string, names: string[], rows: number[]): ModelTensor[] {
  const total = rows.reduce((a, b) => a + b, 0);
  const bytes = BYTES[entry.dtype];
  if (bytes === undefined) return [{ ...entry, source }]; // the loader names the dtype it refuses
  const cols = entry.shape.length === 2 ? entry.shape[1]! : 1;
  if (entry.shape[0] !== total) {
    const implied = entry.shape.length === 2 ? `[${total}, ${cols}]` : `[${total}]`;
    throw new Error(`weight ${source} has shape [${entry.shape.join(', ')}], but config.json implies ${implied}`);
  }
  let at = 0;
  return names.map((name, i) => {
    const n = rows[i]!;
    const part: ModelTensor = {
      ...entry,
      name,
      source,
      shape: entry.shape.length === 2 ? [n, cols] : [n],
      offset: entry.offset + at * cols * bytes,
      nbytes: n * cols * bytes,
    };
    at += n;
    return part;
  });
}

function splitFused(entry: ModelTensor, source: string, c: ModelConfig): ModelTensor[] {
  const fused = /^(model\.layers\.\d+\.)(self_attn\.qkv_proj|mlp\.gate_up_proj)\.(weight|bias)$/.exec(entry.name);
  if (!fused) return [entry];
  const [, layer, which, kind] = fused;
  if (which === 'self_attn.qkv_proj') {
    const q = c.numAttentionHeads * c.headDim;
    const kv = c.numKeyValueHeads * c.headDim;
    return splitRows(entry, source, ['q_proj', 'k_proj', 'v_proj'].map((p) => `${layer}self_attn.${p}.${kind}`), [q, kv, kv]);
  }
  return splitRows(entry, source, ['gate_proj', 'up_proj'].map((p) => `${layer}mlp.${p}.${kind}`), [c.intermediateSize, c.intermediateSize]);
}

export function modelTensors(entries: TensorEntry[], config: ModelConfig): ModelTensor[] {
  const arch: Architecture = findArchitectureByName(config.architecture);
  return entries.flatMap((entry) => {
    const name = canonicalTensorName(entry.name);
    const renamed: ModelTensor = name === entry.name ? entry : { ...entry, name, source: entry.name };
    return arch.fusedTensors ? splitFused(renamed, entry.name, config) : [renamed];
  });
}
