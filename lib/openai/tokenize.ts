// POST /tokenize and POST /detokenize, as vLLM serves them.
import { z } from 'zod';

import type { ChatMessage } from '../chat/template.js';
import type { LLM } from '../llm.js';
import { OpenAIError } from './errors.js';
import { checkModel, requestObject, splitRequest } from './request-fields.js';

const tokenizeShape = {
  model: z.string().nullish(),
  prompt: z.string().nullish(),
  messages: z.array(z.object({ role: z.string(), content: z.unknown() }).loose()).min(1).nullish(),
  add_special_tokens: z.boolean().nullish(),
  add_generation_prompt: z.boolean().nullish(),
  continue_final_message: z.boolean().nullish(),
  chat_template_kwargs: z.record(z.string(), z.unknown()).nullish(),
  return_token_strs: z.boolean().nullish(),
};

function rejectExtra(sampling: object): void {
  const extra = Object.keys(sampling)[0];
  if (extra !== undefined) throw new OpenAIError(400, `Unknown or unsupported parameter: ${extra}`, 'invalid_request_error', extra);
}

export async function tokenize(llm: LLM, body: unknown) {
  const raw = requestObject(body);
  // Measured before the schema walks the messages (a prompt is measured by encodePrompt).
  if (Array.isArray(raw.messages)) llm.engine.checkMessages(raw.messages);
  const { fields, sampling } = splitRequest(raw, tokenizeShape);
  rejectExtra(sampling);
  checkModel(fields.model, llm.modelName);
  let tokens: number[];
  if (fields.messages) {
    let text: string;
    try {
      text = llm.renderChat(fields.messages as ChatMessage[], {
        ...(fields.add_generation_prompt != null && { add_generation_prompt: fields.add_generation_prompt }),
        ...(fields.continue_final_message != null && { continue_final_message: fields.continue_final_message }),
        ...(fields.chat_template_kwargs != null && { chat_template_kwargs: fields.chat_template_kwargs }),
      });
    } catch (error) {
      throw new OpenAIError(400, (error as Error).message, 'invalid_request_error', 'messages');
    }
    tokens = await llm.tokenizer.encode(text, { addSpecialTokens: fields.add_special_tokens ?? false });
  } else if (fields.prompt != null) {
    tokens = await llm.engine.encodePrompt(fields.prompt, { addSpecialTokens: fields.add_special_tokens ?? true, field: 'prompt' });
  } else {
    throw new OpenAIError(400, 'Either prompt or messages is required', 'invalid_request_error', 'prompt');
  }
  return {
    count: tokens.length,
    max_model_len: llm.engine.maxModelLen,
    tokens,
    ...(fields.return_token_strs && { token_strs: tokens.map((t) => llm.tokenizer.tokenString(t)) }),
  };
}

const detokenizeShape = {
  model: z.string().nullish(),
  tokens: z.array(z.number().int().min(0, 'must be token ids (integers >= 0)')),
};

export async function detokenize(llm: LLM, body: unknown) {
  const raw = requestObject(body);
  if (Array.isArray(raw.tokens)) llm.engine.checkTokenCount(raw.tokens.length, 'tokens');
  const { fields, sampling } = splitRequest(raw, detokenizeShape);
  rejectExtra(sampling);
  checkModel(fields.model, llm.modelName);
  const vocab = llm.engine.model.config.vocabSize;
  const bad = fields.tokens.find((t) => t >= vocab);
  if (bad !== undefined) throw new OpenAIError(400, `Token id ${bad} is outside the vocabulary [0, ${vocab - 1}]`, 'invalid_request_error', 'tokens');
  return { prompt: await llm.tokenizer.decode(fields.tokens, { skipSpecialTokens: false }) };
}
