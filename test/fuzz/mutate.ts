// Seeded request mutation for the fuzz suite: valid requests of every route, then one to three
// mutations each (types, ranges, unicode, nesting, sizes, unknown and prototype keys, encoded
// paths, broken bodies). The same seed gives the same 10,000 requests on every machine.
import { mulberry32 } from '../helpers/random.js';

export interface FuzzRequest {
  method: 'GET' | 'POST';
  /** The raw request target, sent as is (not normalised by a client). */
  path: string;
  /** The raw body (already JSON unless a mutation broke it). */
  body: string | null;
  contentType: string;
  /** What was done to it, for the failure message. */
  mutations: string[];
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export class Mutator {
  private readonly random: () => number;

  constructor(seed: number) {
    this.random = mulberry32(seed);
  }

  int(lo: number, hi: number): number {
    return lo + Math.floor(this.random() * (hi - lo + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }

  chance(p: number): boolean {
    return this.random() < p;
  }

  /** The next request: a valid one of a random route, mutated 1 to 3 times (10% left valid). */
  next(): FuzzRequest {
    const [method, path, body] = this.valid();
    const request = { method, path, body: body as Json, raw: null as string | null, contentType: 'application/json', mutations: [] as string[] };
    const count = this.chance(0.1) ? 0 : this.int(1, 3);
    for (let i = 0; i < count; i++) this.pick(MUTATIONS)(this, request);
    return {
      method: request.method,
      path: request.path,
      body: request.method === 'GET' ? null : (request.raw ?? JSON.stringify(request.body)),
      contentType: request.contentType,
      mutations: request.mutations,
    };
  }

  private valid(): ['GET' | 'POST', string, Json] {
    const messages = [
      ...(this.chance(0.3) ? [{ role: 'system', content: 'Be brief.' }] : []),
      { role: 'user', content: this.pick(['Hello', 'Tell me a story', 'What is the news?', 'Où est la gare ?']) },
    ];
    const sampling = (): Record<string, Json> => ({
      max_tokens: this.int(1, 8),
      ...(this.chance(0.5) && { temperature: this.pick([0, 0.7, 1, 1.5]) }),
      ...(this.chance(0.3) && { top_p: this.pick([0.5, 0.9, 1]) }),
      ...(this.chance(0.3) && { top_k: this.pick([-1, 0, 5, 40]) }),
      ...(this.chance(0.2) && { seed: this.int(0, 1000) }),
      ...(this.chance(0.2) && { stop: this.pick(['.', ['\n', 'the'], 'and']) }),
      ...(this.chance(0.2) && { n: this.int(1, 3) }),
      ...(this.chance(0.1) && { presence_penalty: 0.5, frequency_penalty: 0.2, repetition_penalty: 1.1 }),
      ...(this.chance(0.1) && { logit_bias: { '5': 2, '17': -3 } }),
      ...(this.chance(0.1) && { ignore_eos: true, min_tokens: 1 }),
    });
    const stream = (): Record<string, Json> => (this.chance(0.4) ? { stream: true, ...(this.chance(0.5) && { stream_options: { include_usage: true } }) } : {});
    switch (this.int(0, 7)) {
      case 0:
      case 1:
        return ['POST', '/v1/completions', { prompt: this.pick(['Once upon a time', 'The city', 'In 1961,']), ...sampling(), ...stream(), ...(this.chance(0.2) && { logprobs: this.int(0, 3) }), ...(this.chance(0.1) && { echo: true }) }];
      case 2:
        return ['POST', '/v1/completions', { prompt: this.pick([['A', 'B'], [0, 17, 33, 90], [[0, 5], [0, 6, 7]]]), ...sampling(), ...stream() }];
      case 3:
      case 4:
        return ['POST', '/v1/chat/completions', { messages, ...sampling(), ...stream(), ...(this.chance(0.2) && { logprobs: true, top_logprobs: this.int(0, 3) }) }];
      case 5:
        return ['POST', '/tokenize', this.chance(0.5) ? { prompt: 'Hello there' } : { messages }];
      case 6:
        return ['POST', '/detokenize', { tokens: [0, 17, 33, 90] }];
      default:
        return ['GET', this.pick(['/v1/models', '/health', '/version', '/metrics']), null];
    }
  }
}

interface Draft {
  method: 'GET' | 'POST';
  path: string;
  body: Json;
  raw: string | null;
  contentType: string;
  mutations: string[];
}

/** Paths to every key and array index of a JSON value (the root is []). */
function paths(value: Json, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(prefix);
  if (Array.isArray(value)) value.forEach((v, i) => paths(v, [...prefix, i], out));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out);
  return out;
}

function setAt(root: Json, path: (string | number)[], value: Json): Json {
  if (path.length === 0) return value;
  let node = root as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, Json>;
  node[path.at(-1)!] = value;
  return root;
}

const UNICODE = ['\u0000', '\ud800', '\udfff', '😀', '\u202e', '\u200b', 'ﬁ', 'Ω', '\u{10ffff}', 'e\u0301', '\\', '"', '\n\r\t'];
const NUMBERS = [-1, 0, 1, 2, 0.5, -0.5, 20, 21, 128, 129, 2 ** 31, 2 ** 53, -(2 ** 53), 1e308, -1e308, 1e-308];
const KEYS = ['constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'prototype', 'frobnicate', 'n', 'max_tokens', ''];

function randomScalar(m: Mutator): Json {
  switch (m.int(0, 5)) {
    case 0:
      return m.pick(NUMBERS);
    case 1:
      return m.pick(['', 'x', 'true', '1', 'null', 'NaN', 'Infinity', m.pick(UNICODE)]);
    case 2:
      return m.chance(0.5);
    case 3:
      return null;
    case 4:
      return [];
    default:
      return {};
  }
}

const MUTATIONS: ((m: Mutator, d: Draft) => void)[] = [
  // A field's type.
  (m, d) => {
    const at = m.pick(paths(d.body));
    d.body = setAt(d.body, at, randomScalar(m));
    d.mutations.push(`type ${at.join('.') || '<body>'}`);
  },
  // A number at the edge of (or outside) its range.
  (m, d) => {
    const numeric = paths(d.body).filter((p) => typeof p.reduce<Json>((v, k) => (v as Record<string, Json>)[k]!, d.body) === 'number');
    if (numeric.length === 0) return;
    const at = m.pick(numeric);
    d.body = setAt(d.body, at, m.pick(NUMBERS));
    d.mutations.push(`range ${at.join('.')}`);
  },
  // Unicode in strings (lone surrogates included).
  (m, d) => {
    const strings = paths(d.body).filter((p) => typeof p.reduce<Json>((v, k) => (v as Record<string, Json>)[k]!, d.body) === 'string');
    if (strings.length === 0) return;
    const at = m.pick(strings);
    d.body = setAt(d.body, at, Array.from({ length: m.int(1, 40) }, () => m.pick(UNICODE)).join(''));
    d.mutations.push(`unicode ${at.join('.')}`);
  },
  // Deep nesting.
  (m, d) => {
    const at = m.pick(paths(d.body));
    let value: Json = randomScalar(m);
    for (let i = m.int(1, 200); i > 0; i--) value = m.chance(0.5) ? [value] : { a: value };
    d.body = setAt(d.body, at, value);
    d.mutations.push(`nest ${at.join('.')}`);
  },
  // Large strings and lists (up to a few times the prompt cap).
  (m, d) => {
    const at = m.pick(paths(d.body));
    const size = m.pick([100, 5_000, 9_000, 50_000]);
    d.body = setAt(d.body, at, m.chance(0.5) ? 'word '.repeat(size / 5) : Array.from({ length: size }, () => m.int(0, 5000)));
    d.mutations.push(`size ${at.join('.')} ${size}`);
  },
  // Unknown and prototype-named keys, at the top or nested.
  (m, d) => {
    const objects = paths(d.body).filter((p) => {
      const v = p.reduce<Json>((v, k) => (v as Record<string, Json>)[k]!, d.body);
      return v !== null && typeof v === 'object' && !Array.isArray(v);
    });
    if (objects.length === 0) return;
    const at = m.pick(objects);
    const key = m.pick(KEYS);
    const target = at.reduce<Json>((v, k) => (v as Record<string, Json>)[k]!, d.body) as Record<string, Json>;
    Object.defineProperty(target, key, { value: randomScalar(m), enumerable: true, configurable: true, writable: true });
    d.mutations.push(`key ${[...at, key].join('.')}`);
  },
  // A raw __proto__ or constructor.prototype key (JSON.stringify cannot write the former).
  (m, d) => {
    const json = JSON.stringify(d.body);
    if (!json?.startsWith('{') || json === '{}') return;
    const key = m.pick(['"__proto__": {"polluted": 1}', '"constructor": {"prototype": {"polluted": 1}}', '"__proto__": null']);
    d.raw = `{${key}, ${json.slice(1)}`;
    d.mutations.push(`proto ${key}`);
  },
  // The request target: encodings, case, dot segments, slashes, queries, absolute form.
  (m, d) => {
    const p = d.path;
    const variants = [
      p.replace('v', '%76'),
      p.replace('/v1', '/%2576%31'),
      p.toUpperCase(),
      `/v1/..${p}`,
      `/.${p}`,
      `${p}/`,
      `/${p}`,
      `${p};x=1`,
      `${p}?x=%ZZ&y`,
      `${p}%00`,
      `http://evil.example${p}`,
      `${p}#frag`,
      p.replace(/\//g, '%2F'),
    ];
    d.path = m.pick(variants);
    d.mutations.push(`path ${d.path}`);
  },
  // The body as bytes: truncated, empty, not an object, wrong type, another method.
  (m, d) => {
    const json = JSON.stringify(d.body) ?? '';
    const choice = m.int(0, 5);
    if (choice === 0) d.raw = json.slice(0, m.int(0, json.length - 1));
    else if (choice === 1) d.raw = '';
    else if (choice === 2) d.raw = m.pick(['[]', '"x"', '42', 'null', 'true']);
    else if (choice === 3) d.contentType = m.pick(['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', '']);
    else if (choice === 4) d.method = d.method === 'GET' ? 'POST' : 'GET';
    else d.raw = `${json}${json}`;
    d.mutations.push(`body ${choice}`);
  },
  // A required field removed.
  (m, d) => {
    if (d.body === null || typeof d.body !== 'object' || Array.isArray(d.body)) return;
    const keys = Object.keys(d.body);
    if (keys.length === 0) return;
    const key = m.pick(keys);
    delete (d.body as Record<string, Json>)[key];
    d.mutations.push(`drop ${key}`);
  },
];
