#include "model/model_config.h"

#include "common/check.h"

namespace nodellm {

void validate(const ModelConfig& c) {
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
  if (c.rotary() % 2 != 0 || c.rotary() > c.head_dim)
    fail("config.json: the rotary dimension (", c.rotary(), ") must be even and at most head_dim (", c.head_dim, ")");
  for (const RopeFrequencies* r : {&c.rope, &c.local_rope}) {
    if (!r->inv_freq.empty() && static_cast<int>(r->inv_freq.size()) != c.rotary() / 2)
      fail("rope: ", r->inv_freq.size(), " inverse frequencies for a rotary dimension of ", c.rotary());
  }
  if (!c.layer_windows.empty() && static_cast<int>(c.layer_windows.size()) != c.num_hidden_layers)
    fail("config.json: ", c.layer_windows.size(), " layer types for ", c.num_hidden_layers, " layers");
  if (c.sandwich_norms && 2 * c.intermediate_size < c.hidden_size)
    fail("config.json: sandwich norms need intermediate_size (", c.intermediate_size, ") of at least half hidden_size");
  for (int w : c.layer_windows)
    if (w < 0) fail("config.json: sliding_window must be positive, got ", w);
}

}  // namespace nodellm
