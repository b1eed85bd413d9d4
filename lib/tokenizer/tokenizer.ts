// A HF tokenizer directory (tokenizer.json + tokenizer_config.json) behind a small typed API.
//
// Encoding and full decoding go through the `tokenizers` binding's async calls (they run off the
// event loop). The incremental detokenizer needs something cheaper, since it runs once per
// generated token per request: it works on cached token strings and the binding's synchronous
// Decoder, through `tokenString` and `decodeTokens`.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer, type Decoder, templateProcessing } from 'tokenizers';

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
  /** eos_token's id, where the vocabulary has it. */
  readonly eosTokenId: number | undefined;
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
    this.eosTokenId = this.eosToken === undefined ? undefined : (hf.tokenToId(this.eosToken) ?? undefined);
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
    const config = await readOptionalJson(join(dir, 'tokenizer_config.json'));
    let hf: HfTokenizer;
    let specials: Set<number>;
    try {
      hf = HfTokenizer.fromString(json);
      const parsed = JSON.parse(json) as TokenizerJson;
      specials = specialIdsOf(parsed);
      applySpecialTokenFlags(hf, parsed, config);
    } catch (err) {
      throw new Error(`invalid tokenizer file ${tokenizerPath}: ${errorMessage(err)}`);
    }
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

interface TokenizerJson {
  added_tokens?: AddedTokenJson[];
  post_processor?: { type?: string } | null;
}

// Tokenizer classes that add BOS (and not EOS) unless tokenizer_config.json says otherwise, and
// rebuild their post-processor whatever tokenizer.json holds (transformers' LlamaTokenizerFast,
// GemmaTokenizerFast and CodeLlamaTokenizerFast, whose add_bos_token defaults to True).
const BOS_BY_DEFAULT_CLASSES = /^(Llama|CodeLlama|Gemma)Tokenizer(Fast)?$/;

/**
 * tokenizer_config.json's add_bos_token / add_eos_token, applied as transformers applies them to a
 * tokenizer.json (PreTrainedTokenizerFast.update_post_processor, which vLLM's tokenizers go
 * through too): when either is set, the post-processor becomes "[BOS] $A [EOS]" with each special
 * token present only if its flag is true. So a tokenizer.json whose template adds <s> encodes
 * without it when the config says add_bos_token: false (Phi-3), and one that adds nothing gets a
 * BOS when the config asks for it. Like transformers, this replaces only a TemplateProcessing or
 * Sequence post-processor (Qwen's ByteLevel one is kept), except for the Llama and Gemma classes,
 * which always rebuild it.
 */
function applySpecialTokenFlags(hf: HfTokenizer, json: TokenizerJson, config: TokenizerConfig): void {
  const flag = (key: string): boolean | undefined => (typeof config[key] === 'boolean' ? (config[key] as boolean) : undefined);
  const llamaLike = typeof config['tokenizer_class'] === 'string' && BOS_BY_DEFAULT_CLASSES.test(config['tokenizer_class']);
  let addBos = flag('add_bos_token');
  let addEos = flag('add_eos_token');
  if (llamaLike) {
    addBos ??= true;
    addEos ??= false;
  } else {
    if (addBos === undefined && addEos === undefined) return;
    const type = json.post_processor?.type;
    if (type !== 'TemplateProcessing' && type !== 'Sequence') return;
  }
  const special = (key: string, wanted: boolean | undefined): [string, number] | undefined => {
    if (!wanted) return undefined;
    const content = specialTokenContent(config[key]);
    const id = content === undefined ? undefined : hf.tokenToId(content);
    // transformers refuses to load such a tokenizer; here the token is left out.
    return content === undefined || id === null || id === undefined ? undefined : [content, id];
  };
  const bos = special('bos_token', addBos);
  const eos = special('eos_token', addEos);
  const single = `${bos ? `${bos[0]}:0 ` : ''}$A:0${eos ? ` ${eos[0]}:0` : ''}`;
  const pair = `${single}${bos ? ` ${bos[0]}:1` : ''} $B:1${eos ? ` ${eos[0]}:1` : ''}`;
  const tokens = [bos, eos].filter((t): t is [string, number] => t !== undefined);
  hf.setPostProcessor(templateProcessing(single, pair, tokens));
}

function specialIdsOf(tokenizerJson: TokenizerJson): Set<number> {
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
