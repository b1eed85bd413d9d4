// A HF tokenizer directory (tokenizer.json + tokenizer_config.json) behind a small typed API.
//
// Encoding and full decoding go through the `tokenizers` binding's async calls (they run off the
// event loop). The incremental detokenizer needs something cheaper, since it runs once per
// generated token per request: it works on cached token strings and the binding's synchronous
// Decoder, through `tokenString` and `decodeTokens`.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer, type Decoder } from 'tokenizers';

export interface EncodeOptions {
  /** Apply the tokenizer's post-processor (e.g. a BOS token). Default true, as vLLM's completions path. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop tokens marked special in tokenizer.json. Default true. */
  skipSpecialTokens?: boolean;
}

/** The parsed tokenizer_config.json; every field is optional and loosely typed, as on the Hub. */
export type TokenizerConfig = Record<string, unknown>;

interface AddedTokenJson {
  id: number;
  content: string;
  special?: boolean;
}

export class Tokenizer {
  /** Number of ids, added tokens included. */
  readonly vocabSize: number;
  /** Ids of the added tokens that tokenizer.json marks special: the ones skipSpecialTokens drops. */
  readonly specialTokenIds: ReadonlySet<number>;
  readonly bosToken: string | undefined;
  readonly eosToken: string | undefined;
  readonly config: TokenizerConfig;

  private readonly hf: HfTokenizer;
  private readonly decoder: Decoder | null;
  // Token strings by id, filled on first use: building all of them up front costs ~100 ms for a
  // 150k vocabulary, while a request only ever touches a few thousand ids.
  private readonly tokenStrings: (string | undefined)[];

  private constructor(hf: HfTokenizer, specialTokenIds: Set<number>, config: TokenizerConfig) {
    this.hf = hf;
    this.decoder = hf.getDecoder();
    this.vocabSize = hf.getVocabSize(true);
    this.specialTokenIds = specialTokenIds;
    this.config = config;
    this.bosToken = specialTokenContent(config['bos_token']);
    this.eosToken = specialTokenContent(config['eos_token']);
    this.tokenStrings = new Array<string | undefined>(this.vocabSize);
  }

  static async load(dir: string): Promise<Tokenizer> {
    const tokenizerPath = join(dir, 'tokenizer.json');
    let json: string;
    try {
      json = await readFile(tokenizerPath, 'utf8');
    } catch (err) {
      throw new Error(`cannot read tokenizer file ${tokenizerPath}: ${errorMessage(err)}`);
    }
    let hf: HfTokenizer;
    let specials: Set<number>;
    try {
      hf = HfTokenizer.fromString(json);
      specials = specialIdsOf(JSON.parse(json) as { added_tokens?: AddedTokenJson[] });
    } catch (err) {
      throw new Error(`invalid tokenizer file ${tokenizerPath}: ${errorMessage(err)}`);
    }
    const config = await readOptionalJson(join(dir, 'tokenizer_config.json'));
    return new Tokenizer(hf, specials, config);
  }

  async encode(text: string, opts: EncodeOptions = {}): Promise<number[]> {
    const encoding = await this.hf.encode(text, null, { addSpecialTokens: opts.addSpecialTokens ?? true });
    return encoding.getIds();
  }

  async decode(ids: readonly number[], opts: DecodeOptions = {}): Promise<string> {
    return this.hf.decode([...ids], opts.skipSpecialTokens ?? true);
  }

  idToToken(id: number): string | undefined {
    return this.hf.idToToken(id) ?? undefined;
  }

  tokenToId(token: string): number | undefined {
    return this.hf.tokenToId(token) ?? undefined;
  }

  /**
   * The token string of `id` (e.g. "Ġworld", "▁world", "<0x0A>"), cached. Unknown ids give "",
   * as vLLM does, so a stray id from the model cannot break detokenization.
   */
  tokenString(id: number): string {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) return '';
    let s = this.tokenStrings[id];
    if (s === undefined) {
      s = this.hf.idToToken(id) ?? '';
      this.tokenStrings[id] = s;
    }
    return s;
  }

  /**
   * Token strings to text with the tokenizer's decoder, synchronously (HF's
   * convert_tokens_to_string). Without a decoder, tokenizers joins with spaces; so do we.
   */
  decodeTokens(tokens: string[]): string {
    if (tokens.length === 0) return '';
    return this.decoder ? this.decoder.decode(tokens) : tokens.join(' ');
  }
}

function specialIdsOf(tokenizerJson: { added_tokens?: AddedTokenJson[] }): Set<number> {
  const ids = new Set<number>();
  for (const t of tokenizerJson.added_tokens ?? []) if (t.special) ids.add(t.id);
  return ids;
}

/** tokenizer_config.json writes special tokens as strings or as AddedToken objects with `content`. */
export function specialTokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object') {
    const content = (value as { content?: unknown }).content;
    if (typeof content === 'string') return content;
  }
  return undefined;
}

/** A JSON file that may be absent ({}), but must parse when present. */
export async function readOptionalJson(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(`cannot read ${path}: ${errorMessage(err)}`);
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as Record<string, unknown>;
  } catch (err) {
    throw new Error(`invalid JSON in ${path}: ${errorMessage(err)}`);
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
