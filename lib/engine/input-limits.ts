// Bounds on what a request may make the engine do before it is refused, checked before any
// costly work (tokenization, the chat template, validating long lists): a prompt's characters,
// a token-id list's length, a conversation's size. Without them a 10 MB prompt is tokenized in
// full (seconds of CPU and hundreds of MB that the tokenizer never returns) only to be refused
// for its length afterwards.
//
// The character cap is derived from max_model_len: a prompt that fits the context averages at
// most a token's worth of characters per token, and tokens longer than 16 characters are runs
// of one character (the longest in Llama 3's and Qwen's vocabularies are 128 spaces). So a
// prompt of more than 16 x max_model_len characters is refused unless maxPromptChars says more.
import { ValidationError } from '../errors.js';

/** Characters a token is allowed on average, to derive the default prompt cap from max_model_len. */
export const CHARS_PER_TOKEN = 16;

/** The request grew past a limit: the caller's error names the field; metrics count it. */
export class InputTooLargeError extends ValidationError {}

export interface ChatContent {
  content?: unknown;
}

export class InputLimits {
  constructor(
    readonly maxModelLen: number,
    /** Most characters of one prompt (or of a conversation's contents, summed). */
    readonly maxPromptChars: number,
  ) {}

  /** A prompt string, before it is tokenized. */
  checkText(text: string, field: string): void {
    if (text.length > this.maxPromptChars) {
      throw new InputTooLargeError(
        field,
        `${field} has ${text.length} characters, more than the ${this.maxPromptChars} this server takes ` +
          `(${this.describeCap()}); shorten it`,
      );
    }
  }

  /** A list of token ids (a prompt, or tokens to detokenize), before its ids are checked one by one. */
  checkTokenCount(count: number, field: string): void {
    if (count > this.maxModelLen) {
      throw new InputTooLargeError(
        field,
        `${field} has ${count} token ids, but this model's maximum context length is ${this.maxModelLen} tokens`,
      );
    }
  }

  /**
   * A conversation, before the chat template renders it: no more messages than the context has
   * tokens, and text contents (strings and text parts) that sum to no more than the prompt cap.
   */
  checkMessages(messages: readonly ChatContent[], field = 'messages'): void {
    if (messages.length > this.maxModelLen) {
      throw new InputTooLargeError(
        field,
        `${field} holds ${messages.length} messages, but this model's maximum context length is ${this.maxModelLen} tokens`,
      );
    }
    let chars = 0;
    for (const m of messages) chars += contentChars(m?.content);
    if (chars > this.maxPromptChars) {
      throw new InputTooLargeError(
        field,
        `The contents of ${field} have ${chars} characters together, more than the ${this.maxPromptChars} this server takes ` +
          `(${this.describeCap()}); shorten them`,
      );
    }
  }

  private describeCap(): string {
    return this.maxPromptChars === this.maxModelLen * CHARS_PER_TOKEN
      ? `${CHARS_PER_TOKEN} per token of max_model_len ${this.maxModelLen}; --max-prompt-chars sets it`
      : 'set by --max-prompt-chars';
  }
}

/** Characters of a message's content: a string, or text parts (other shapes count nothing here). */
function contentChars(content: unknown): number {
  if (typeof content === 'string') return content.length;
  if (!Array.isArray(content)) return 0;
  let chars = 0;
  for (const part of content) {
    const text = (part as { text?: unknown } | null)?.text;
    if (typeof text === 'string') chars += text.length;
  }
  return chars;
}
