#include "model/model_config.h"

#include "common/check.h"

namespace nodellm {

void validate(const ModelConfig& c) {
  if (c.architecture != "LlamaForCausalLM")
    fail("Unsupported architecture \"", c.architecture, "\"; nodellm supports: LlamaForCausalLM");
  auto positive = [](const char* name, int value) {
    if (value <= 0) fail("config.json: ", name, " must be a positive integer, got ", value);
  };
  positive("vocab_size", c.vocab_size);
  positive("hidden_size", c.hidden_size);
  positive("intermediate_size", c.intermediate_size);
  positive("num_hidden_layers", c.num_hidden_layers);
  positive("num_attention_heads", c.num_attention_heads);
  positive("num_key_value_heads", c.num_key_value_heads);
  positive("head_dim", c.head_dim);
  positive("max_position_embeddings", c.max_position_embeddings);
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    fail("config.json: num_attention_heads (", c.num_attention_heads,
         ") must be a multiple of num_key_value_heads (", c.num_key_value_heads, ")");
  if (c.head_dim % 2 != 0) fail("config.json: head_dim must be even for rotary embeddings");
  if (c.rope_scaling.type != RopeScaling::Type::None && c.rope_scaling.factor <= 0)
    fail("config.json: rope_scaling.factor must be positive");
}

}  // namespace nodellm
