// The decoder's shape and numerics, as lib/models/ maps them from a Hugging Face config.json (one
// entry per architecture in lib/models/architectures.ts). Every way the supported families differ
// is a field here, so a family that needs no new operation is a config mapping and nothing else.
#pragma once
#include <string>
#include <vector>

namespace nodellm {

enum class Activation { Silu, GeluTanh };

// One rotary embedding, neox style: rotary_dim / 2 inverse frequencies with any rope_scaling
// already applied (lib/models/rope.ts computes them as transformers does), and the factor that
// cos and sin are multiplied by (YaRN's and LongRoPE's attention factor).
struct RopeFrequencies {
  std::vector<double> inv_freq;  // empty: the plain frequencies of rope_theta over rotary_dim
  double theta = 10000.0;
  double attention_factor = 1.0;
};

struct ModelConfig {
  std::string architecture;               // the Hugging Face name, for messages
  std::string implementation = "decoder";  // the registry's constructor (native/model/registry.cc)
  int vocab_size = 0;
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int num_key_value_heads = 0;
  int head_dim = 0;     // independent of hidden_size / num_attention_heads (Qwen 3, Mistral-Nemo, Gemma)
  int rotary_dim = 0;   // dims of each head that rotate (partial_rotary_factor); 0 means head_dim
  float rms_norm_eps = 1e-6f;
  float norm_weight_offset = 0.0f;  // 1: Gemma's norms scale by (1 + w)
  bool qkv_bias = false;            // Qwen 2, Llama's attention_bias
  bool o_bias = false;              // Llama's attention_bias only
  bool mlp_bias = false;
  bool qk_norm = false;             // RMSNorm of each q and k head before RoPE (Qwen 3, Gemma 3)
  bool sandwich_norms = false;      // Gemma 2/3: norms after attention and after the MLP too
  Activation activation = Activation::Silu;
  float embedding_scale = 1.0f;     // Gemma: sqrt(hidden_size), in the activation dtype
  float attention_scale = 0.0f;     // 0 means head_dim^-0.5 (Gemma: query_pre_attn_scalar^-0.5)
  float attn_logit_softcap = 0.0f;  // 0 means off (Gemma 2)
  float final_logit_softcap = 0.0f;
  // Per layer: the sliding window of its attention, 0 for full attention; empty means all full.
  std::vector<int> layer_windows;
  RopeFrequencies rope;
  // Sliding-window layers use this one where it is set (Gemma 3's local RoPE base).
  bool has_local_rope = false;
  RopeFrequencies local_rope;
  int max_position_embeddings = 2048;
  bool tie_word_embeddings = false;
  // DTYPE: the dtype to run in, converting at load; Auto keeps the checkpoint's. (A load option
  // rather than a property of the checkpoint, kept here because only the model reads it.)
  enum class Dtype { Auto, F32, F16, BF16 } dtype = Dtype::Auto;

  int q_dim() const { return num_attention_heads * head_dim; }
  int kv_dim() const { return num_key_value_heads * head_dim; }
  int rotary() const { return rotary_dim > 0 ? rotary_dim : head_dim; }
  int window(int layer) const { return layer_windows.empty() ? 0 : layer_windows[layer]; }
};

// Throws a clear error when the configuration cannot describe a model nodellm can run.
void validate(const ModelConfig& config);

}  // namespace nodellm
