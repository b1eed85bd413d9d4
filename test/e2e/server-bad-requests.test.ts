// Bad requests of every kind, sent over HTTP to the real server: each gets the right status and
// an OpenAI error object {error: {message, type, param, code}} that names the problem; afterwards
// the server still serves, and no failed request left KV-cache blocks behind.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { LLM } from '../../lib/llm.js';
import { ensureDefaultModel } from '../../lib/models/default-model.js';
import { readGenerationConfig, readModelConfig } from '../../lib/models/hf-config.js';
import { type OpenAIErrorBody, RawClient, type RunningServer, fetchMetrics, metricValue, rawRequest, startServer } from '../helpers/http-server.js';
import { loadTestLLM } from '../helpers/test-llm.js';

const API_KEY = 'sk-bad-requests-test';
const SMALL_BODY_LIMIT = 2048;
// The default model's BOS id and vocabulary size: VOCAB is the first id outside it.
const { bosTokenId: BOS } = await readGenerationConfig(await ensureDefaultModel());
const { vocabSize: VOCAB } = await readModelConfig(await ensureDefaultModel());

let llm: LLM;
let main: RunningServer;
let small: RunningServer; // bodyLimit SMALL_BODY_LIMIT
let secured: RunningServer; // apiKey API_KEY

beforeAll(async () => {
  llm = await loadTestLLM({ maxModelLen: 512 });
  main = await startServer(llm);
  small = await startServer(llm, { bodyLimit: SMALL_BODY_LIMIT });
  secured = await startServer(llm, { apiKey: API_KEY });
});
afterAll(async () => {
  await secured?.close();
  await small?.close();
  await main?.close();
  await llm?.close();
});

type Route = '/v1/completions' | '/v1/chat/completions' | '/tokenize' | '/detokenize' | '/v1/models' | '/v1/nothing-here';

interface BadRequest {
  name: string;
  route: Route;
  /** An object is sent as JSON; a string is sent as is. */
  body?: unknown;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  server?: 'main' | 'small' | 'secured';
  /** The expected status, or the statuses allowed (wrong content type: 400 or 415). */
  status: number | number[];
  /** The expected `param`: a string, a pattern, or null. Omitted: not checked. */
  param?: string | RegExp | null;
  /** What the message must say. */
  message: RegExp;
  code?: string;
}

const user = [{ role: 'user', content: 'Hi' }];
const C = '/v1/completions' as const;
const H = '/v1/chat/completions' as const;

const cases: BadRequest[] = [
  // The body itself.
  { name: 'malformed JSON', route: H, body: '{"messages": [', status: 400, param: null, message: /JSON/ },
  { name: 'a JSON array body', route: C, body: '[1, 2, 3]', status: 400, message: /JSON object/ },
  { name: 'a JSON string body', route: H, body: '"hello"', status: 400, message: /JSON object/ },
  { name: 'a JSON null body', route: C, body: 'null', status: 400, message: /JSON object/ },
  { name: 'an empty JSON body', route: C, body: '', status: 400, message: /empty/i },
  { name: 'a prototype-poisoning body', route: C, body: '{"prompt": "a", "__proto__": {"x": 1}}', status: 400, message: /JSON|prototype|__proto__/i },
  {
    name: 'a body over the size limit',
    route: C,
    server: 'small',
    body: { prompt: 'x'.repeat(SMALL_BODY_LIMIT * 2) },
    status: 413,
    message: /too large/i,
  },
  // Not JSON: a 415 that says what came and what to send.
  {
    name: 'text/plain content type',
    route: C,
    body: 'prompt=hello',
    headers: { 'content-type': 'text/plain' },
    status: 415,
    param: null,
    message: /^Unsupported Media Type: the request body is text\/plain; send it as JSON, with the header Content-Type: application\/json$/,
    code: 'unsupported_media_type',
  },
  {
    name: 'text/plain content type holding JSON',
    route: H,
    body: JSON.stringify({ messages: user }),
    headers: { 'content-type': 'text/plain;charset=UTF-8' },
    status: 415,
    message: /the request body is text\/plain; send it as JSON, with the header Content-Type: application\/json/,
  },
  {
    name: 'form content type',
    route: H,
    body: 'messages=hi',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    status: 415,
    message: /the request body is application\/x-www-form-urlencoded; send it as JSON, with the header Content-Type: application\/json/,
    code: 'unsupported_media_type',
  },
  {
    name: 'a content type that is not a media type',
    route: '/tokenize',
    body: '{"prompt": "a"}',
    headers: { 'content-type': 'json' },
    status: 415,
    message: /the request body has a Content-Type that is not a media type; send it as JSON, with the header Content-Type: application\/json/,
  },

  // Types.
  { name: 'temperature as a string', route: C, body: { prompt: 'a', temperature: 'hot' }, status: 400, param: 'temperature', message: /temperature.*number.*"hot"/ },
  { name: 'stream as a string', route: H, body: { messages: user, stream: 'yes' }, status: 400, param: 'stream', message: /stream.*boolean/ },
  { name: 'model as a number', route: C, body: { model: 5, prompt: 'a' }, status: 400, param: 'model', message: /model.*string/ },
  { name: 'seed as a fraction', route: C, body: { prompt: 'a', seed: 1.5 }, status: 400, param: 'seed', message: /seed.*integer/ },
  { name: 'stop as a number', route: C, body: { prompt: 'a', stop: 5 }, status: 400, param: 'stop', message: /stop/ },
  { name: 'chat logprobs as an integer', route: H, body: { messages: user, logprobs: 3 }, status: 400, param: 'logprobs', message: /logprobs.*boolean/ },
  { name: 'echo as a string', route: C, body: { prompt: 'a', echo: 'yes' }, status: 400, param: 'echo', message: /echo.*boolean/ },

  // Sampling ranges.
  { name: 'temperature < 0', route: C, body: { prompt: 'a', temperature: -0.5 }, status: 400, param: 'temperature', message: /temperature.*-0\.5/ },
  { name: 'top_p = 0', route: C, body: { prompt: 'a', top_p: 0 }, status: 400, param: 'top_p', message: /top_p.*\(0, 1\].*0/ },
  { name: 'top_p > 1', route: H, body: { messages: user, top_p: 1.5 }, status: 400, param: 'top_p', message: /top_p.*1\.5/ },
  { name: 'top_k = -2', route: C, body: { prompt: 'a', top_k: -2 }, status: 400, param: 'top_k', message: /top_k.*-2/ },
  { name: 'min_p > 1', route: C, body: { prompt: 'a', min_p: 1.5 }, status: 400, param: 'min_p', message: /min_p.*1\.5/ },
  { name: 'presence_penalty > 2', route: C, body: { prompt: 'a', presence_penalty: 2.5 }, status: 400, param: 'presence_penalty', message: /presence_penalty.*\[-2, 2\]/ },
  { name: 'frequency_penalty < -2', route: H, body: { messages: user, frequency_penalty: -3 }, status: 400, param: 'frequency_penalty', message: /frequency_penalty.*-3/ },
  { name: 'repetition_penalty = 0', route: C, body: { prompt: 'a', repetition_penalty: 0 }, status: 400, param: 'repetition_penalty', message: /repetition_penalty/ },
  { name: 'n = 0', route: C, body: { prompt: 'a', n: 0 }, status: 400, param: 'n', message: /\bn\b.*at least 1/ },
  { name: 'max_tokens = 0 (no echo)', route: C, body: { prompt: 'a', max_tokens: 0 }, status: 400, param: 'max_tokens', message: /max_tokens/ },
  { name: 'max_tokens < 0', route: H, body: { messages: user, max_tokens: -1 }, status: 400, param: 'max_tokens', message: /max_tokens.*-1/ },
  { name: 'max_tokens fractional', route: C, body: { prompt: 'a', max_tokens: 2.5 }, status: 400, param: 'max_tokens', message: /max_tokens.*integer/ },
  { name: 'max_completion_tokens = 0', route: H, body: { messages: user, max_completion_tokens: 0 }, status: 400, param: 'max_completion_tokens', message: /max_completion_tokens/ },
  // Found by the fuzz suite: a min_tokens past the context's room once reached the native engine as a 500.
  { name: 'min_tokens beyond the room the context leaves', route: H, body: { messages: user, min_tokens: 2 ** 31 }, status: 400, param: 'min_tokens', message: /min_tokens.*must not exceed/ },
  { name: 'min_tokens > max_tokens', route: C, body: { prompt: 'a', min_tokens: 5, max_tokens: 2 }, status: 400, param: 'min_tokens', message: /min_tokens.*max_tokens/ },
  { name: 'best_of != n', route: C, body: { prompt: 'a', best_of: 3 }, status: 400, param: 'best_of', message: /best_of/ },
  { name: 'an empty stop string', route: C, body: { prompt: 'a', stop: '' }, status: 400, param: 'stop', message: /stop.*empty/ },
  { name: 'an empty string in a stop list', route: H, body: { messages: user, stop: ['ok', ''] }, status: 400, param: 'stop', message: /stop.*empty/ },
  { name: 'stop_token_ids outside the vocabulary', route: C, body: { prompt: 'a', stop_token_ids: [999999] }, status: 400, param: 'stop_token_ids', message: /999999/ },

  // Logprobs and logit bias.
  { name: 'completions logprobs > 20', route: C, body: { prompt: 'a', logprobs: 21 }, status: 400, param: 'logprobs', message: /logprobs.*20.*21/ },
  { name: 'completions logprobs < 0', route: C, body: { prompt: 'a', logprobs: -1 }, status: 400, param: 'logprobs', message: /logprobs/ },
  { name: 'chat top_logprobs > 20', route: H, body: { messages: user, logprobs: true, top_logprobs: 21 }, status: 400, param: 'top_logprobs', message: /top_logprobs.*21/ },
  { name: 'top_logprobs without logprobs', route: H, body: { messages: user, top_logprobs: 2 }, status: 400, param: 'top_logprobs', message: /top_logprobs.*logprobs/ },
  { name: 'prompt_logprobs > 20', route: C, body: { prompt: 'a', prompt_logprobs: 21 }, status: 400, param: 'prompt_logprobs', message: /prompt_logprobs.*21/ },
  { name: 'prompt_logprobs with stream', route: C, body: { prompt: 'a', prompt_logprobs: 1, stream: true }, status: 400, param: 'prompt_logprobs', message: /prompt_logprobs.*stream/ },
  { name: 'logit_bias above 100', route: C, body: { prompt: 'a', logit_bias: { '42': 150 } }, status: 400, param: /^logit_bias/, message: /logit_bias.*\[-100, 100\].*150/ },
  { name: 'logit_bias below -100', route: H, body: { messages: user, logit_bias: { '42': -101 } }, status: 400, param: /^logit_bias/, message: /logit_bias.*-101/ },
  // The message must name the key that is not a token id (not, say, "NaN").
  { name: 'logit_bias with a non-numeric key', route: C, body: { prompt: 'a', logit_bias: { abc: 1 } }, status: 400, param: /^logit_bias/, message: /logit_bias.*abc/ },
  { name: 'logit_bias outside the vocabulary', route: C, body: { prompt: 'a', logit_bias: { '200000': 1 } }, status: 400, param: /^logit_bias/, message: /200000/ },

  // Model and routes.
  { name: 'unknown model (completions)', route: C, body: { model: 'no-such-model', prompt: 'a' }, status: 404, param: 'model', message: /no-such-model/, code: 'model_not_found' },
  { name: 'unknown model (chat)', route: H, body: { model: 'gpt-4o', messages: user }, status: 404, param: 'model', message: /gpt-4o/, code: 'model_not_found' },
  { name: 'unknown model (tokenize)', route: '/tokenize', body: { model: 'other', prompt: 'a' }, status: 404, param: 'model', message: /other/ },
  { name: 'unknown route', route: '/v1/nothing-here', method: 'GET', status: 404, message: /nothing-here/ },

  // Chat messages.
  { name: 'missing messages', route: H, body: { max_tokens: 2 }, status: 400, param: 'messages', message: /messages/ },
  { name: 'messages not a list', route: H, body: { messages: 'Hi' }, status: 400, param: 'messages', message: /messages/ },
  {
    name: 'an empty messages list',
    route: H,
    body: { messages: [] },
    status: 400,
    param: 'messages',
    message: /^Invalid value for messages: must be a non-empty list, but received an empty list$/,
  },
  { name: 'messages as an empty object', route: H, body: { messages: {} }, status: 400, param: 'messages', message: /^Invalid value for messages: must be an array, but received an empty object$/ },
  { name: 'messages as an empty string', route: H, body: { messages: '' }, status: 400, param: 'messages', message: /must be an array, but received an empty string$/ },
  { name: 'temperature as an empty string', route: C, body: { prompt: 'a', temperature: '' }, status: 400, param: 'temperature', message: /^Invalid value for temperature: must be a number, but received an empty string$/ },
  { name: 'temperature as a list', route: C, body: { prompt: 'a', temperature: [1] }, status: 400, param: 'temperature', message: /^Invalid value for temperature: must be a number, but received an array$/ },
  { name: 'logit_bias as an empty list', route: C, body: { prompt: 'a', logit_bias: [] }, status: 400, param: 'logit_bias', message: /^Invalid value for logit_bias: must be an object, but received an empty list$/ },
  { name: 'a bad role', route: H, body: { messages: [{ role: 'robot', content: 'x' }] }, status: 400, param: /^messages\.0\.role$/, message: /role.*robot/ },
  { name: 'a message without a role', route: H, body: { messages: [{ content: 'x' }] }, status: 400, param: /^messages\.0/, message: /role/ },
  {
    name: 'an image_url content part',
    route: H,
    body: { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }] }] },
    status: 400,
    param: /^messages\.0\.content/,
    message: /"image_url" content parts are not supported/,
  },
  {
    name: 'add_generation_prompt with continue_final_message',
    route: H,
    body: { messages: [{ role: 'assistant', content: 'x' }], add_generation_prompt: true, continue_final_message: true },
    status: 400,
    message: /continue_final_message.*add_generation_prompt|add_generation_prompt.*continue_final_message/,
  },

  // Prompts.
  { name: 'missing prompt', route: C, body: { max_tokens: 2 }, status: 400, param: 'prompt', message: /prompt/ },
  { name: 'an empty prompt list', route: C, body: { prompt: [] }, status: 400, param: 'prompt', message: /^Invalid value for prompt: must be a string.*, but received an empty list$/ },
  { name: 'an empty token-id list in a list', route: C, body: { prompt: [[1, 2], []] }, status: 400, param: /^prompt/, message: /prompt/ },
  { name: 'a negative token id', route: C, body: { prompt: [BOS, -5] }, status: 400, param: /^prompt/, message: /prompt|token/ },
  { name: 'a token id outside the vocabulary', route: C, body: { prompt: [BOS, VOCAB] }, status: 400, param: 'prompt', message: new RegExp(`Token id ${VOCAB} .*\\[0, ${VOCAB - 1}\\]`) },
  { name: 'a token id far outside the vocabulary', route: C, body: { prompt: [BOS, 500000] }, status: 400, param: 'prompt', message: /500000/ },
  { name: 'mixed token ids and strings', route: C, body: { prompt: [1, 'a'] }, status: 400, param: /^prompt/, message: /prompt/ },
  { name: 'prompt + max_tokens beyond max_model_len', route: C, body: { prompt: 'hello', max_tokens: 511 }, status: 400, message: /maximum context length is 512/ },
  { name: 'chat prompt + max_tokens beyond max_model_len', route: H, body: { messages: user, max_tokens: 600 }, status: 400, message: /maximum context length is 512/ },
  { name: 'a prompt longer than max_model_len', route: C, body: { prompt: 'word '.repeat(600) }, status: 400, param: 'prompt', message: /512/ },

  // Fields nodellm does not take.
  { name: 'an unknown parameter (completions)', route: C, body: { prompt: 'a', frobnicate: 1 }, status: 400, param: 'frobnicate', message: /frobnicate/ },
  { name: 'an unknown parameter (chat)', route: H, body: { messages: user, temprature: 0.5 }, status: 400, param: 'temprature', message: /temprature/ },
  // Names of Object.prototype members are unknown fields like any other (issue 16: `key in shape`
  // once took them for route fields and dropped them unseen).
  { name: 'a constructor field (completions)', route: C, body: { prompt: 'a', constructor: 1 }, status: 400, param: 'constructor', message: /constructor/ },
  { name: 'a toString field (chat)', route: H, body: { messages: user, toString: 'x' }, status: 400, param: 'toString', message: /toString/ },
  { name: 'a hasOwnProperty field (tokenize)', route: '/tokenize', body: { prompt: 'a', hasOwnProperty: true }, status: 400, param: 'hasOwnProperty', message: /hasOwnProperty/ },
  { name: 'a valueOf field (detokenize)', route: '/detokenize', body: { tokens: [1], valueOf: 0 }, status: 400, param: 'valueOf', message: /valueOf/ },
  { name: 'a __defineGetter__ field (chat)', route: H, body: { messages: user, __defineGetter__: 1 }, status: 400, param: '__defineGetter__', message: /__defineGetter__/ },
  { name: 'a nested constructor.prototype', route: C, body: '{"prompt": "a", "logit_bias": {"constructor": {"prototype": {"x": 1}}}}', status: 400, message: /prototype|constructor/i },
  { name: 'a nested __proto__ key', route: H, body: '{"messages": [{"role": "user", "content": "a", "__proto__": {"x": 1}}]}', status: 400, message: /prototype|__proto__/i },

  // Lists checked on every step are bounded.
  { name: 'more than 128 stop strings', route: C, body: { prompt: 'a', stop: Array.from({ length: 129 }, (_, i) => `s${i}`) }, status: 400, param: 'stop', message: /stop.*at most 128/ },
  { name: 'a stop string over 1024 characters', route: H, body: { messages: user, stop: 'x'.repeat(1025) }, status: 400, param: /^stop/, message: /stop.*1024/ },
  { name: 'more than 1024 stop_token_ids', route: C, body: { prompt: 'a', stop_token_ids: Array.from({ length: 1025 }, () => 1) }, status: 400, param: 'stop_token_ids', message: /stop_token_ids.*1024/ },
  { name: 'more than 1024 logit_bias entries', route: C, body: { prompt: 'a', logit_bias: Object.fromEntries(Array.from({ length: 1025 }, (_, i) => [String(i), 1])) }, status: 400, param: 'logit_bias', message: /logit_bias.*1024/ },

  { name: 'use_beam_search true', route: C, body: { prompt: 'a', use_beam_search: true }, status: 400, param: 'use_beam_search', message: /beam/ },
  {
    name: 'tools non-empty',
    route: H,
    body: { messages: user, tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }] },
    status: 400,
    param: 'tools',
    message: /tools.*not supported/,
  },
  { name: 'tool_choice required', route: H, body: { messages: user, tool_choice: 'required' }, status: 400, param: 'tool_choice', message: /tool_choice/ },
  {
    name: 'response_format json_schema',
    route: H,
    body: { messages: user, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object' } } } },
    status: 400,
    param: /^response_format/,
    message: /response_format/,
  },
  { name: 'guided_json', route: C, body: { prompt: 'a', guided_json: { type: 'object' } }, status: 400, param: 'guided_json', message: /guided_json.*not supported/ },
  { name: 'suffix', route: C, body: { prompt: 'a', suffix: 'end' }, status: 400, param: 'suffix', message: /suffix.*not supported/ },
  // vLLM: "Stream options can only be defined when `stream=True`."
  { name: 'stream_options without stream', route: C, body: { prompt: 'a', stream_options: { include_usage: true } }, status: 400, param: 'stream_options', message: /stream_options.*stream/ },
  {
    name: 'stream_options with stream false',
    route: H,
    body: { messages: user, stream: false, stream_options: { include_usage: true } },
    status: 400,
    param: 'stream_options',
    message: /stream_options.*stream/,
  },
  // The param locates the field inside its object (stream_options.foo), not just its name.
  { name: 'an unknown stream_options key', route: C, body: { prompt: 'a', stream: true, stream_options: { foo: true } }, status: 400, param: 'stream_options.foo', message: /stream_options.*foo|foo.*stream_options/ },

  // Tokenizer routes.
  { name: 'detokenize an out-of-vocabulary id', route: '/detokenize', body: { tokens: [1, 999999] }, status: 400, param: 'tokens', message: /999999/ },
  { name: 'detokenize a negative id', route: '/detokenize', body: { tokens: [-1] }, status: 400, param: /^tokens/, message: /tokens/ },
  { name: 'detokenize without tokens', route: '/detokenize', body: {}, status: 400, param: 'tokens', message: /tokens/ },
  { name: 'tokenize without prompt or messages', route: '/tokenize', body: {}, status: 400, message: /prompt|messages/ },
  { name: 'tokenize with an unknown field', route: '/tokenize', body: { prompt: 'a', max_tokens: 3 }, status: 400, param: 'max_tokens', message: /max_tokens/ },

  // API key.
  { name: 'no API key', route: H, server: 'secured', body: { messages: user }, status: 401, message: /api key/i },
  { name: 'a wrong API key', route: C, server: 'secured', body: { prompt: 'a' }, headers: { authorization: 'Bearer sk-wrong' }, status: 401, message: /api key/i },
  { name: 'an API key without Bearer', route: '/v1/models', server: 'secured', method: 'GET', headers: { authorization: API_KEY }, status: 401, message: /api key/i },
];

function serverFor(c: BadRequest): RunningServer {
  return c.server === 'small' ? small : c.server === 'secured' ? secured : main;
}

async function send(c: BadRequest): Promise<Response> {
  const method = c.method ?? 'POST';
  const url = `${serverFor(c).origin}${c.route}`;
  if (method === 'GET') return fetch(url, { headers: c.headers ?? {} });
  const body = typeof c.body === 'string' ? c.body : JSON.stringify(c.body);
  return fetch(url, { method, headers: { 'content-type': 'application/json', ...c.headers }, body });
}

describe('bad requests', () => {
  it('the table covers at least 30 kinds', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const r = await send(c);
    const text = await r.text();
    const allowed = Array.isArray(c.status) ? c.status : [c.status];
    expect(allowed, `status ${r.status}, body ${text}`).toContain(r.status);
    expect(r.headers.get('content-type')).toMatch(/application\/json/);
    const body = JSON.parse(text) as OpenAIErrorBody;
    expect(Object.keys(body)).toEqual(['error']);
    const e = body.error;
    expect(typeof e.message).toBe('string');
    expect(e.message.length).toBeGreaterThan(0);
    expect(typeof e.type).toBe('string');
    expect(e).toHaveProperty('param');
    expect(e).toHaveProperty('code');
    expect(e.param === null || typeof e.param === 'string').toBe(true);
    expect(e.message).toMatch(c.message);
    if (c.param === null) expect(e.param).toBeNull();
    else if (typeof c.param === 'string') expect(e.param).toBe(c.param);
    else if (c.param instanceof RegExp) expect(e.param ?? '').toMatch(c.param);
    if (c.code !== undefined) expect(e.code).toBe(c.code);
  });

  it('a body without a Content-Type gets the 415 that says to send JSON', async () => {
    const body = '{"prompt": "a"}';
    const client = await RawClient.connect(main.origin);
    try {
      client.write(`POST /v1/completions HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
      const r = await client.response();
      expect(r.status).toBe(415);
      expect((JSON.parse(r.body) as OpenAIErrorBody).error).toEqual({
        message: 'Unsupported Media Type: the request body has no Content-Type; send it as JSON, with the header Content-Type: application/json',
        type: 'invalid_request_error',
        param: null,
        code: 'unsupported_media_type',
      });
    } finally {
      client.destroy();
    }
  });

  it('JSON under a +json media type is JSON (as FastAPI takes it), prototype keys refused alike', async () => {
    const post = (body: string) => fetch(`${main.origin}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/vnd.api+json; charset=utf-8' }, body });
    expect((await post('{"prompt": "Hi"}')).status).toBe(200);
    const poisoned = await post('{"prompt": "Hi", "__proto__": {"x": 1}}');
    expect(poisoned.status).toBe(400);
    expect(((await poisoned.json()) as OpenAIErrorBody).error.param).toBe('__proto__');
  });

  it('a body that is not JSON is no matter where the route does not read it: POST /ping answers, an unknown route is a 404', async () => {
    const plain = { headers: { 'content-type': 'text/plain' }, body: 'hello' };
    expect((await rawRequest(main.origin, 'POST', '/ping', plain)).status).toBe(200);
    expect((await rawRequest(main.origin, 'POST', '/v1/nothing-here', plain)).status).toBe(404);
    expect((await rawRequest(secured.origin, 'POST', '/v1/completions', plain)).status).toBe(401);
  });

  it('a top_k beyond the vocabulary keeps every token, as top_k off (found by the fuzz suite: it was a 500)', async () => {
    const body = { prompt: 'The city', max_tokens: 6, temperature: 0.8, seed: 3 };
    const huge = await (await fetch(`${main.origin}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, top_k: 2 ** 31 }) })).json();
    const off = await (await fetch(`${main.origin}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, top_k: 0 }) })).json();
    expect((huge as { choices: { text: string }[] }).choices[0]!.text).toBe((off as { choices: { text: string }[] }).choices[0]!.text);
  });

  it('the openai client surfaces them as typed errors', async () => {
    const client = new OpenAI({ baseURL: main.baseURL, apiKey: 'unused', maxRetries: 0 });
    const bad = await client.chat.completions.create({ model: llm.modelName, messages: [{ role: 'user', content: 'Hi' }], top_p: 0 }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect((bad as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('top_p');
    const missing = await client.completions.create({ model: 'nope', prompt: 'Hi' }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
    const unauthorized = await new OpenAI({ baseURL: secured.baseURL, apiKey: 'wrong', maxRetries: 0 }).models.list().catch((e: unknown) => e);
    expect(unauthorized).toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it('after all of them the server still serves, and nothing holds KV blocks', async () => {
    const client = new OpenAI({ baseURL: main.baseURL, apiKey: 'unused', maxRetries: 0 });
    const r = await client.completions.create({ model: llm.modelName, prompt: 'Still here?', max_tokens: 5, temperature: 0, ignore_eos: true } as OpenAI.CompletionCreateParamsNonStreaming);
    const direct = await llm.generate('Still here?', { max_tokens: 5, temperature: 0, ignore_eos: true });
    expect(r.choices[0]!.text).toBe(direct.outputs[0]!.text);
    expect(r.usage!.completion_tokens).toBe(5);
    const chat = await client.chat.completions.create({ model: llm.modelName, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 3 });
    expect(chat.choices[0]!.message.role).toBe('assistant');
    const metrics = await fetchMetrics(main.origin);
    expect(metricValue(metrics, 'nodellm:num_requests_running', { model_name: llm.modelName })).toBe(0);
    expect(metricValue(metrics, 'nodellm:kv_cache_usage_perc', { model_name: llm.modelName })).toBe(0);
    expect(llm.stats().numRunning).toBe(0);
  });
});
