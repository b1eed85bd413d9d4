// LlamaForCausalLM over the Backend interface: the decoder's weights and its forward pass for one
// step's packed batch of tokens. q/k/v and gate/up projections are fused into one matrix each at
// load time so a layer is four GEMMs.
#pragma once
#include <vector>

#include "backend/backend.h"
#include "model/model_config.h"
#include "model/weight_source.h"

namespace nodellm {

// The per-step inputs of the forward pass, in backend memory, sized to the step's tokens.
struct ForwardInputs {
  Tensor token_ids;     // I32 [tokens]
  Tensor positions;     // I32 [tokens]
  Tensor slot_mapping;  // I32 [tokens]: KV-cache slot each token's K/V is written to
  AttentionBatch attention;
};

// Activations, allocated once for the largest step and used from the front.
struct Activations {
  Tensor residual;  // [max_tokens, hidden]
  Tensor normed;    // [max_tokens, hidden]
  Tensor qkv;       // [max_tokens, q_dim + 2 * kv_dim]
  Tensor attn;      // [max_tokens, q_dim]
  Tensor proj;      // [max_tokens, hidden]
  Tensor gate_up;   // [max_tokens, 2 * intermediate]
  Tensor act;       // [max_tokens, intermediate]
};

struct KvCache {
  Tensor k;  // [num_blocks * block_size, kv_dim]
  Tensor v;
};

class LlamaModel {
 public:
  LlamaModel(Backend& backend, const ModelConfig& config, const WeightSource& weights,
             int max_positions);
  ~LlamaModel();

  const ModelConfig& config() const { return config_; }
  // The dtype of activations and the KV cache on this backend (the residual stream is float32).
  DType activation_dtype() const { return activation_dtype_; }
  Activations alloc_activations(int max_tokens);
  void free_activations(const Activations& a);

  // Runs every layer over the step's tokens (writing their K/V into the caches) and leaves the
  // final-normed hidden states in a.normed.
  void forward(const ForwardInputs& in, const Activations& a, const std::vector<KvCache>& caches);
  // logits = hidden @ lm_head^T
  void lm_head(const Tensor& logits, const Tensor& hidden);

 private:
  struct Layer {
    Tensor input_norm, qkv_bias, o_bias, post_norm, gate_up_bias, down_bias;
    LinearWeight qkv, o, gate_up, down;
  };
  Tensor load(const WeightSource& w, const std::vector<std::string>& names,
              const std::vector<int64_t>& rows, int64_t cols);
  LinearWeight load_linear(const WeightSource& w, const std::vector<std::string>& names,
                           const std::vector<int64_t>& rows, int64_t cols);
  LinearWeight prepare(const Tensor& loaded);

  Backend& backend_;
  ModelConfig config_;
  DType activation_dtype_ = DType::F32;
  Tensor embed_, final_norm_, rope_table_;
  LinearWeight lm_head_;
  std::vector<Layer> layers_;
  std::vector<Tensor> owned_;
};

}  // namespace nodellm
