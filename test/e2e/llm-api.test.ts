// The library API end to end on the embedded default model: generate, chat, stream, and every
// sampling / stopping option as a user sees it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { LLM } from '../../lib/llm.js';
import { loadTestLLM } from '../helpers/test-llm.js';

let llm: LLM;
let BOS: number; // <|begin_of_text|>
let EOT: number; // <|eot_id|>, an EOS id of the default model's generation_config.json
beforeAll(async () => {
  llm = await loadTestLLM();
  BOS = llm.tokenizer.tokenToId('<|begin_of_text|>')!;
  EOT = llm.tokenizer.tokenToId('<|eot_id|>')!;
  expect(llm.tokenizer.bosToken).toBe('<|begin_of_text|>');
  expect(llm.engine.model.generation.eosTokenIds).toContain(EOT);
});
afterAll(() => llm.close());

async function greedyText(prompt: string, maxTokens: number) {
  const r = await llm.generate(prompt, { temperature: 0, max_tokens: maxTokens, ignore_eos: true });
  return r.outputs[0]!;
}

describe('generate', () => {
  it('completes a prompt, tokenized with BOS, up to max_tokens', async () => {
    const r = await llm.generate('Hello, my name is', { temperature: 0, max_tokens: 12, ignore_eos: true });
    expect(r.promptTokenIds[0]).toBe(BOS);
    expect(r.promptTokenIds).toEqual(await llm.tokenizer.encode('Hello, my name is'));
    const out = r.outputs[0]!;
    expect(out.tokenIds).toHaveLength(12);
    expect(out.finishReason).toBe('length');
    expect(out.text).toBe(await llm.tokenizer.decode(out.tokenIds));
  });

  it('takes several prompts and token-id prompts', async () => {
    const ids = await llm.tokenizer.encode('Hello, my name is');
    const [a, b] = await llm.generate(['Hello, my name is', { promptTokenIds: ids }], { temperature: 0, max_tokens: 6 });
    expect(a!.outputs[0]!.tokenIds).toEqual(b!.outputs[0]!.tokenIds);
  });

  it('defaults max_tokens to 16 like vLLM', async () => {
    const r = await llm.generate('Count:', { temperature: 0, ignore_eos: true });
    expect(r.outputs[0]!.tokenIds).toHaveLength(16);
  });

  it('gives n completions; a seed makes them reproducible', async () => {
    const params = { n: 3, temperature: 1, seed: 1234, max_tokens: 10, ignore_eos: true };
    const first = await llm.generate('Once upon a time', params);
    const second = await llm.generate('Once upon a time', params);
    expect(first.outputs.map((o) => o.index)).toEqual([0, 1, 2]);
    expect(second.outputs.map((o) => o.tokenIds)).toEqual(first.outputs.map((o) => o.tokenIds));
    expect(new Set(first.outputs.map((o) => o.tokenIds.join(','))).size).toBe(3);
    const other = await llm.generate('Once upon a time', { ...params, seed: 4321 });
    expect(other.outputs[0]!.tokenIds).not.toEqual(first.outputs[0]!.tokenIds);
  });
});

describe('stopping', () => {
  it('stops at a stop string, cutting it out or keeping it', async () => {
    const full = await greedyText('The weather today', 30);
    const stop = full.text.slice(12, 16);
    const at = full.text.indexOf(stop);
    const cut = await llm.generate('The weather today', { temperature: 0, max_tokens: 30, ignore_eos: true, stop: [stop] });
    expect(cut.outputs[0]!.text).toBe(full.text.slice(0, at));
    expect(cut.outputs[0]!.finishReason).toBe('stop');
    expect(cut.outputs[0]!.stopReason).toBe(stop);
    const kept = await llm.generate('The weather today', {
      temperature: 0, max_tokens: 30, ignore_eos: true, stop, include_stop_str_in_output: true,
    });
    expect(kept.outputs[0]!.text).toBe(full.text.slice(0, at + stop.length));
  });

  it('streams text that never shows a stop string, even one split across tokens', async () => {
    const full = await greedyText('The weather today', 30);
    const stop = full.text.slice(10, 19);
    let streamed = '';
    for await (const chunk of llm.stream('The weather today', { temperature: 0, max_tokens: 30, ignore_eos: true, stop })) {
      streamed += chunk.outputs[0]?.text ?? '';
    }
    expect(streamed).toBe(full.text.slice(0, full.text.indexOf(stop)));
  });

  it('stops at a stop token id, and min_tokens holds it back', async () => {
    const full = await greedyText('Numbers:', 20);
    const stopToken = full.tokenIds[4]!;
    const r = await llm.generate('Numbers:', { temperature: 0, max_tokens: 20, ignore_eos: true, stop_token_ids: [stopToken] });
    expect(r.outputs[0]!.tokenIds).toEqual(full.tokenIds.slice(0, full.tokenIds.indexOf(stopToken) + 1));
    expect(r.outputs[0]!.finishReason).toBe('stop');
    expect(r.outputs[0]!.stopReason).toBe(stopToken);

    const forced = { [String(stopToken)]: 100 };
    const early = await llm.generate('Numbers:', { temperature: 0, max_tokens: 20, stop_token_ids: [stopToken], logit_bias: forced });
    expect(early.outputs[0]!.tokenIds).toEqual([stopToken]);
    const held = await llm.generate('Numbers:', {
      temperature: 0, max_tokens: 20, stop_token_ids: [stopToken], logit_bias: forced, min_tokens: 5,
    });
    const tokens = held.outputs[0]!.tokenIds;
    expect(tokens).toHaveLength(6);
    expect(tokens.slice(0, 5)).not.toContain(stopToken);
    expect(tokens[5]).toBe(stopToken);
  });

  it('ends on EOS from generation_config.json unless ignore_eos', async () => {
    const bias = { [String(EOT)]: 100 };
    const r = await llm.generate('Hi', { max_tokens: 10, logit_bias: bias });
    expect(r.outputs[0]!.tokenIds).toEqual([EOT]);
    expect(r.outputs[0]!.finishReason).toBe('stop');
    // As vLLM: an EOS of generation_config.json other than the tokenizer's eos_token
    // (<|end_of_text|>) is a stop token id, and so the stop_reason.
    expect(r.outputs[0]!.stopReason).toBe(EOT);
    const END = llm.tokenizer.tokenToId('<|end_of_text|>')!;
    const atTokenizerEos = await llm.generate('Hi', { max_tokens: 10, logit_bias: { [String(END)]: 100 } });
    expect(atTokenizerEos.outputs[0]!.tokenIds).toEqual([END]);
    expect(atTokenizerEos.outputs[0]!.stopReason).toBeNull();
    expect(r.outputs[0]!.text).toBe('');
    const ignored = await llm.generate('Hi', { max_tokens: 4, logit_bias: bias, ignore_eos: true });
    expect(ignored.outputs[0]!.tokenIds).toEqual([EOT, EOT, EOT, EOT]);
    // The EOS that ends an output is not part of its text (as vLLM), even with special tokens shown...
    const ended = await llm.generate('Hi', { max_tokens: 3, logit_bias: bias, skip_special_tokens: false });
    expect(ended.outputs[0]!.text).toBe('');
    // ... unless asked for; and one that does not end it is shown.
    const kept = await llm.generate('Hi', { max_tokens: 3, logit_bias: bias, skip_special_tokens: false, include_stop_str_in_output: true });
    expect(kept.outputs[0]!.text).toBe('<|eot_id|>');
    const shown = await llm.generate('Hi', { max_tokens: 1, logit_bias: bias, skip_special_tokens: false, ignore_eos: true });
    expect(shown.outputs[0]!.text).toBe('<|eot_id|>');
  });
});

describe('logprobs', () => {
  it('reports each token and its top alternatives; greedy picks the top one', async () => {
    const r = await llm.generate('Logprobs please', { temperature: 0, max_tokens: 5, ignore_eos: true, logprobs: 3 });
    const out = r.outputs[0]!;
    expect(out.logprobs).toHaveLength(5);
    out.logprobs!.forEach((lp, i) => {
      expect(lp.token).toBe(out.tokenIds[i]);
      expect(lp.top).toHaveLength(3);
      expect(lp.top[0]!.token).toBe(lp.token);
      expect(lp.top[0]!.logprob).toBeCloseTo(lp.logprob, 6);
      expect(lp.top[1]!.logprob).toBeLessThanOrEqual(lp.top[0]!.logprob);
      expect(lp.logprob).toBeLessThan(0);
    });
  });

  it('reports prompt logprobs (none for the first token)', async () => {
    const r = await llm.generate('Prompt logprobs here', { max_tokens: 1, prompt_logprobs: 2 });
    const p = r.promptLogprobs!;
    expect(p).toHaveLength(r.promptTokenIds.length);
    expect(p[0]).toBeNull();
    p.slice(1).forEach((lp, i) => {
      expect(lp!.token).toBe(r.promptTokenIds[i + 1]);
      expect(lp!.top).toHaveLength(2);
      expect(lp!.logprob).toBeLessThanOrEqual(lp!.top[0]!.logprob + 1e-6);
    });
  });
});

describe('chat and streaming', () => {
  it('renders the chat template and answers', async () => {
    const messages = [{ role: 'user', content: 'Hi there' }];
    const ids = await llm.chatPromptIds(messages);
    expect(await llm.tokenizer.decode(ids, { skipSpecialTokens: false })).toBe(
      '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    );
    const r = await llm.chat(messages, { temperature: 0, max_tokens: 5, ignore_eos: true });
    expect(r.promptTokenIds).toEqual(ids);
    expect(r.outputs[0]!.tokenIds).toHaveLength(5);
  });

  it('streams the same text generate returns, chunk by chunk', async () => {
    const params = { temperature: 0.7, seed: 9, max_tokens: 20, ignore_eos: true };
    const whole = await llm.generate('Stream me', params);
    let text = '';
    let chunks = 0;
    let last;
    for await (const chunk of llm.stream('Stream me', params)) {
      chunks++;
      text += chunk.outputs[0]?.text ?? '';
      last = chunk;
    }
    expect(text).toBe(whole.outputs[0]!.text);
    expect(chunks).toBeGreaterThan(5);
    expect(last!.finished).toBe(true);
    expect(last!.outputs[0]!.finishReason).toBe('length');
  });

  it('a consumer that stops iterating aborts the request and frees its KV blocks', async () => {
    let seen = 0;
    for await (const chunk of llm.stream('Abort me', { max_tokens: 500, ignore_eos: true })) {
      seen += chunk.outputs[0]?.tokenIds.length ?? 0;
      if (seen >= 3) break;
    }
    const r = await llm.generate('After the abort', { max_tokens: 2 });
    expect(r.outputs[0]!.tokenIds).toHaveLength(2);
    const stats = llm.stats();
    expect(stats.numRunning + stats.numWaiting).toBe(0);
    expect(stats.numFreeBlocks).toBe(stats.numBlocks);
  });

  it('an AbortSignal ends the request with finish reason "abort"', async () => {
    const controller = new AbortController();
    let reason = null;
    for await (const chunk of llm.stream('Signal me', { max_tokens: 500, ignore_eos: true }, { signal: controller.signal })) {
      if ((chunk.outputs[0]?.tokenIds.length ?? 0) > 0) controller.abort();
      reason = chunk.outputs[0]?.finishReason ?? reason;
    }
    expect(reason).toBe('abort');
  });
});
