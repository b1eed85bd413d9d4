// Chat templates: turning OpenAI-style messages into the prompt string a model was trained on,
// with the model's own Jinja template rendered by @huggingface/jinja, as transformers'
// apply_chat_template and vLLM do.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { readOptionalJson, specialTokenContent } from '../tokenizer/tokenizer.js';

export interface ChatContentPart {
  type: 'text';
  text: string;
}

export interface ChatMessage {
  role: string;
  content: string | ChatContentPart[] | null;
  name?: string;
  /** Other fields (tool_calls, tool_call_id, reasoning_content, ...) reach the template as they are. */
  [field: string]: unknown;
}

export interface RenderOptions {
  /** Append the header that starts the assistant's turn. Default true (false with continueFinalMessage). */
  addGenerationPrompt?: boolean;
  /** Leave the last message open so the model continues it (transformers' continue_final_message). */
  continueFinalMessage?: boolean;
  /** More template variables (vLLM's chat_template_kwargs, tools, documents, ...). */
  extra?: Record<string, unknown>;
}

export interface LoadOptions {
  /** CUSTOM_CHAT_TEMPLATE: a template string, or the path of a template file. */
  override?: string;
}

// tokenizer_config.json keys whose values transformers passes to every template (special_tokens_map).
const SPECIAL_TOKEN_KEYS = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'];

export class ChatTemplate {
  /** The template source, or undefined when the model has none. */
  readonly source: string | undefined;
  /** Where the template came from, for error messages. */
  readonly origin: string;

  private readonly template: Template | undefined;
  private readonly parseError: string | undefined;
  private readonly specialTokens: Record<string, unknown>;

  private constructor(source: string | undefined, origin: string, specialTokens: Record<string, unknown>) {
    this.source = source;
    this.origin = origin;
    this.specialTokens = specialTokens;
    let template: Template | undefined;
    let parseError: string | undefined;
    if (source !== undefined) {
      try {
        template = new Template(source);
      } catch (err) {
        parseError = errorMessage(err);
      }
    }
    this.template = template;
    this.parseError = parseError;
  }

  /**
   * Finds the template: opts.override, else dir/chat_template.jinja, else tokenizer_config.json's
   * chat_template, else chat_template.json's (the processor's file, which some multimodal
   * checkpoints such as Gemma 3's hold the template in, and where vLLM looks last). A model
   * without one still loads (the completions API needs no template);
   * render() then says what to do. A bad override fails here, since it is a configuration error;
   * a model template that does not parse fails only when a chat request needs it.
   */
  static async load(dir: string, opts: LoadOptions = {}): Promise<ChatTemplate> {
    const config = await readOptionalJson(join(dir, 'tokenizer_config.json'));
    const specialTokens: Record<string, unknown> = {};
    for (const key of SPECIAL_TOKEN_KEYS) {
      const content = specialTokenContent(config[key]);
      if (content !== undefined) specialTokens[key] = content;
    }
    if (Array.isArray(config['additional_special_tokens'])) {
      specialTokens['additional_special_tokens'] = config['additional_special_tokens'].map(specialTokenContent);
    }

    if (opts.override !== undefined && opts.override !== '') {
      const { source, origin } = await resolveOverride(opts.override);
      const t = new ChatTemplate(source, origin, specialTokens);
      if (t.parseError !== undefined) throw new Error(`invalid chat template (${origin}): ${t.parseError}`);
      return t;
    }

    const jinjaPath = join(dir, 'chat_template.jinja');
    const fromFile = await readIfExists(jinjaPath);
    if (fromFile !== undefined) return new ChatTemplate(fromFile, jinjaPath, specialTokens);

    const configPath = join(dir, 'tokenizer_config.json');
    const fromConfig = templateFromConfig(config['chat_template']);
    if (fromConfig !== undefined) return new ChatTemplate(fromConfig, configPath, specialTokens);

    const processorPath = join(dir, 'chat_template.json');
    const fromProcessor = templateFromConfig((await readOptionalJson(processorPath))['chat_template']);
    if (fromProcessor !== undefined) return new ChatTemplate(fromProcessor, processorPath, specialTokens);
    return new ChatTemplate(undefined, configPath, specialTokens);
  }

  get hasTemplate(): boolean {
    return this.source !== undefined;
  }

  render(messages: ChatMessage[], opts: RenderOptions = {}): string {
    if (this.source === undefined) {
      throw new Error(
        'this model has no chat template (no chat_template.jinja, no chat_template in tokenizer_config.json or chat_template.json); ' +
          'set CUSTOM_CHAT_TEMPLATE to a Jinja template, or use the completions API with a plain prompt',
      );
    }
    if (this.template === undefined) {
      throw new Error(`the chat template (${this.origin}) could not be parsed: ${this.parseError ?? 'unknown error'}`);
    }
    const continueFinal = opts.continueFinalMessage ?? false;
    const addGenerationPrompt = opts.addGenerationPrompt ?? !continueFinal;
    if (continueFinal && addGenerationPrompt) {
      throw new Error('continue_final_message and add_generation_prompt cannot both be true');
    }

    const normalized = messages.map(normalizeMessage);
    let rendered: string;
    try {
      rendered = this.template.render({
        tools: null,
        documents: null,
        ...this.specialTokens,
        ...opts.extra,
        messages: normalized,
        add_generation_prompt: addGenerationPrompt,
      });
    } catch (err) {
      // raise_exception() and strftime_now() are @huggingface/jinja globals (a template variable
      // cannot redefine them); raise_exception throws an Error whose message is the template's.
      throw new Error(`chat template (${this.origin}) failed to render: ${errorMessage(err)}`);
    }
    return continueFinal ? cutAfterFinalMessage(rendered, normalized) : rendered;
  }
}

/**
 * Text-only models see content as one string: parts are joined with "\n" and null becomes "",
 * as vLLM does for templates that take string content.
 */
function normalizeMessage(message: ChatMessage): ChatMessage {
  const { content } = message;
  if (typeof content === 'string') return message;
  const text = content === null || content === undefined ? '' : content.map((part) => part.text).join('\n');
  return { ...message, content: text };
}

/**
 * transformers' continue_final_message: render without a generation prompt, then cut everything
 * the template wrote after the final message's text (its end-of-turn token and so on).
 */
function cutAfterFinalMessage(rendered: string, messages: ChatMessage[]): string {
  const last = messages[messages.length - 1];
  const text = typeof last?.content === 'string' ? last.content : '';
  const stripped = text.trim();
  const at = rendered.lastIndexOf(stripped);
  if (last === undefined || at < 0) {
    throw new Error(
      'continue_final_message is set but the final message does not appear in the rendered chat template; ' +
        'the template changes the message text',
    );
  }
  const leftTrimmed = text.trimStart();
  // Keep the message's own trailing whitespace when the template kept it.
  const keep = rendered.slice(at, at + leftTrimmed.length) === leftTrimmed ? leftTrimmed.length : stripped.length;
  return rendered.slice(0, at + keep);
}

/** tokenizer_config.json's chat_template: a string, or a list of {name, template} (use "default"). */
function templateFromConfig(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    for (const entry of value) {
      const { name, template } = (entry ?? {}) as { name?: unknown; template?: unknown };
      if (name === 'default' && typeof template === 'string') return template;
    }
  }
  return undefined;
}

/**
 * CUSTOM_CHAT_TEMPLATE, read the way vLLM reads --chat-template: text without Jinja characters is
 * a file path; otherwise it is the template itself, with backslash escapes such as "\n" decoded
 * (an environment variable cannot easily hold a real newline).
 */
async function resolveOverride(value: string): Promise<{ source: string; origin: string }> {
  if (!/[{}\n]/.test(value)) {
    try {
      return { source: await readFile(value, 'utf8'), origin: value };
    } catch (err) {
      throw new Error(
        `CUSTOM_CHAT_TEMPLATE (${value}) looks like a file path, but the file cannot be read: ${errorMessage(err)}`,
      );
    }
  }
  return { source: decodeEscapes(value), origin: 'CUSTOM_CHAT_TEMPLATE' };
}

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"' };

function decodeEscapes(s: string): string {
  return s.replace(/\\([ntr\\'"])/g, (_, c: string) => ESCAPES[c] ?? c);
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${path}: ${errorMessage(err)}`);
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
