// The ShareGPT dataset (e.g. ShareGPT_V3_unfiltered_cleaned_split.json): a JSON list of
// conversations, `{"conversations": [{"from": "human", "value": ...}, {"from": "gpt", ...}]}`.
// The first human turn is the prompt and the token count of the reply after it is the output
// length. As vLLM: conversations are shuffled with the seed, and pairs are skipped when the
// prompt or reply has fewer than 4 tokens, the prompt more than 1024, or both more than 2048.
// When fewer valid pairs than --num-prompts remain, some are drawn again (with a warning).
import { readFile } from 'node:fs/promises';

import { z } from 'zod';

import type { DatasetTokenizer, SampleRequest } from './dataset.js';
import type { Rng } from './rng.js';

const turn = z.object({ from: z.string(), value: z.string() }).loose();
const entry = z.object({ conversations: z.array(z.unknown()).optional() }).loose();
const file = z.array(z.unknown());

const MIN_LEN = 4;
const MAX_PROMPT_LEN = 1024;
const MAX_TOTAL_LEN = 2048;
const HUMAN = new Set(['human', 'user']);

export interface ShareGptOptions {
  path: string;
  numPrompts: number;
  /** Every request generates this many tokens instead of the reply's length. */
  outputLen?: number;
  warn?: (line: string) => void;
}

/** The prompt and reply of a conversation, or null when it has no human turn followed by a reply. */
export function promptAndReply(conversation: unknown): { prompt: string; reply: string } | null {
  const parsed = entry.safeParse(conversation);
  if (!parsed.success || !parsed.data.conversations) return null;
  const turns = parsed.data.conversations.map((t) => turn.safeParse(t)).map((r) => (r.success ? r.data : null));
  const at = turns.findIndex((t) => t !== null && HUMAN.has(t.from));
  const reply = turns[at + 1];
  if (at === -1 || !reply) return null;
  return { prompt: turns[at]!.value, reply: reply.value };
}

export function isValidPair(promptLen: number, outputLen: number, checkOutput: boolean): boolean {
  if (promptLen < MIN_LEN || promptLen > MAX_PROMPT_LEN) return false;
  if (checkOutput && outputLen < MIN_LEN) return false;
  return promptLen + outputLen <= MAX_TOTAL_LEN;
}

export async function sharegptRequests(tokenizer: DatasetTokenizer, rng: Rng, o: ShareGptOptions): Promise<SampleRequest[]> {
  let data: unknown[];
  try {
    const parsed = file.safeParse(JSON.parse(await readFile(o.path, 'utf8')));
    if (!parsed.success) throw new Error('not a JSON list of conversations');
    data = parsed.data;
  } catch (err) {
    throw new Error(`cannot read the ShareGPT dataset ${o.path}: ${(err as Error).message}`);
  }
  const pairs = rng.shuffle(data.map(promptAndReply).filter((p) => p !== null));
  const requests: SampleRequest[] = [];
  for (const { prompt, reply } of pairs) {
    if (requests.length >= o.numPrompts) break;
    const promptLen = (await tokenizer.encode(prompt, { addSpecialTokens: false })).length;
    const outputLen = o.outputLen ?? (await tokenizer.encode(reply, { addSpecialTokens: false })).length;
    if (isValidPair(promptLen, outputLen, o.outputLen === undefined)) requests.push({ prompt, promptLen, expectedOutputLen: outputLen });
  }
  if (requests.length === 0) throw new Error(`the ShareGPT dataset ${o.path} has no usable conversation (human turn + reply within the length limits)`);
  if (requests.length < o.numPrompts) {
    o.warn?.(`bench: ${o.path} has ${requests.length} usable conversations; drawing ${o.numPrompts - requests.length} of them again to make ${o.numPrompts} prompts`);
    const have = requests.length;
    while (requests.length < o.numPrompts) requests.push({ ...requests[rng.int(0, have - 1)]! });
  }
  return requests;
}
