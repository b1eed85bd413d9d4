// The model-family fixtures of test/fixtures/families (scripts/make_family_fixtures.py): reading
// transformers' results, and writing a fixture as a multimodal checkpoint stores its language model.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { readSafetensorsIndex, readTensorF64, writeSafetensors } from '../../lib/models/safetensors.js';

export const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures', 'families');

export interface Expected {
  family: string;
  transformers: string;
  prompts: { prompt: number[]; logits_f32_b64: string; shape: [number, number]; greedy: { token: number; top5: [number, number][] }[] }[];
}

export function readExpected(dir: string): Expected {
  return JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Expected;
}

export function rowsOf(b64: string, [n, vocab]: [number, number]): Float32Array[] {
  const buf = Buffer.from(b64, 'base64');
  const all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  return Array.from({ length: n }, (_, i) => all.subarray(i * vocab, (i + 1) * vocab));
}

export function logSoftmax(x: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) max = Math.max(max, x[i]!);
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += Math.exp(x[i]! - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(x, (v) => v - lse);
}

export function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]!));
  return m;
}

/** LongRoPE switches to its long factors past original_max_position_embeddings: pick max_model_len per prompt. */
export function maxModelLenFor(dir: string, promptLength: number, steps: number): number {
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const rope = (config.rope_parameters ?? config.rope_scaling) as Record<string, unknown> | null | undefined;
  const max = config.max_position_embeddings as number;
  if (rope?.rope_type !== 'longrope' && rope?.type !== 'longrope') return max;
  const original = (rope.original_max_position_embeddings ?? config.original_max_position_embeddings) as number;
  // Within the original context transformers used the short factors: a max_model_len there does too.
  return promptLength + steps <= original ? Math.min(original, max) : max;
}

/** The fixture's language model written as a multimodal checkpoint stores it. */
export async function asMultimodal(out: string, dir: string, architecture: string, modelType: string, layout: 'hub' | 'transformers5'): Promise<string> {
  const text = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const { architectures: _a, dtype, torch_dtype, ...textConfig } = text;
  fs.writeFileSync(
    path.join(out, 'config.json'),
    JSON.stringify({
      architectures: [architecture],
      model_type: modelType,
      text_config: textConfig,
      vision_config: { hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, patch_size: 14, image_size: 28 },
      [layout === 'hub' ? 'torch_dtype' : 'dtype']: dtype ?? torch_dtype,
    }),
  );
  for (const f of ['generation_config.json', 'expected.json']) fs.copyFileSync(path.join(dir, f), path.join(out, f));
  const rename = (name: string): string => {
    if (layout === 'hub') return `language_model.${name}`;
    return name.startsWith('model.') ? `model.language_model.${name.slice('model.'.length)}` : name;
  };
  const tensors = (await readSafetensorsIndex(dir)).map((e) => ({
    name: rename(e.name),
    dtype: e.dtype as 'BF16',
    shape: e.shape,
    data: readTensorF64(e),
  }));
  // A vision tower the text engine must leave alone.
  const vision = layout === 'hub' ? 'vision_tower.vision_model.embeddings.patch_embedding.weight' : 'model.vision_tower.vision_model.embeddings.patch_embedding.weight';
  tensors.push({ name: vision, dtype: 'BF16', shape: [16, 3, 14, 14], data: new Float64Array(16 * 3 * 14 * 14).fill(0.5) });
  writeSafetensors(path.join(out, 'model.safetensors'), tensors);
  return out;
}

/** The fixtures there are, by family name. */
export const FAMILIES = fs.existsSync(FIXTURES)
  ? fs.readdirSync(FIXTURES).filter((name) => fs.existsSync(path.join(FIXTURES, name, 'expected.json'))).sort()
  : [];

/** Each fixture, and the multimodal layouts of Gemma 3 and Mistral, as model directories. */
export function fixtureCases(tempDir: () => string): { name: string; dir: () => Promise<string> }[] {
  return [
    ...FAMILIES.map((name) => ({ name, dir: async () => path.join(FIXTURES, name) })),
    ...(['hub', 'transformers5'] as const).flatMap((layout) => [
      { name: `Gemma3ForConditionalGeneration (${layout})`, dir: () => asMultimodal(tempDir(), path.join(FIXTURES, 'gemma3'), 'Gemma3ForConditionalGeneration', 'gemma3', layout) },
      { name: `Mistral3ForConditionalGeneration (${layout})`, dir: () => asMultimodal(tempDir(), path.join(FIXTURES, 'mistral'), 'Mistral3ForConditionalGeneration', 'mistral3', layout) },
    ]),
  ];
}
