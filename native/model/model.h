// The interface every architecture implements, and the registry that builds one from its config.
// The runner and engine hold a Model& and know nothing of any family: a model takes the step's
// packed tokens (ForwardInputs), runs its layers over the paged KV cache and leaves the final
// hidden states where lm_head() reads them.
#pragma once
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "model/model_config.h"
#include "model/weight_source.h"

namespace nodellm {

// The per-step inputs of the forward pass, in backend memory, sized to the step's tokens. The
// runner fills the attention batch's sequence fields; the model sets its per-layer fields (scale,
// window, soft-capping).
struct ForwardInputs {
  Tensor token_ids;     // I32 [tokens]
  Tensor positions;     // I32 [tokens]
  Tensor slot_mapping;  // I32 [tokens]: KV-cache slot each token's K/V is written to
  AttentionBatch attention;
};

// Activations, allocated once for the largest step and used from the front. `normed` holds the
// final hidden states after forward().
struct Activations {
  Tensor residual;  // [max_tokens, hidden] float32
  Tensor normed;    // [max_tokens, hidden]
  Tensor qkv;       // [max_tokens, q_dim + 2 * kv_dim]
  Tensor attn;      // [max_tokens, q_dim]
  Tensor proj;      // [max_tokens, hidden]
  Tensor gate_up;   // [max_tokens, 2 * intermediate]
  Tensor act;       // [max_tokens, intermediate]
};

// One layer's paged K and V: [num_blocks * block_size, kv_dim] each.
struct KvCache {
  Tensor k;
  Tensor v;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelConfig& config() const = 0;
  // The dtype of activations and the KV cache on this backend (the residual stream is float32).
  virtual DType activation_dtype() const = 0;
  virtual Activations alloc_activations(int max_tokens) = 0;
  virtual void free_activations(const Activations& a) = 0;
  // Runs every layer over the step's tokens (writing their K/V into the caches) and leaves the
  // final-normed hidden states in a.normed.
  virtual void forward(const ForwardInputs& in, const Activations& a, const std::vector<KvCache>& caches) = 0;
  // Float32 logits of hidden rows (with the family's final soft-capping, where it has one).
  virtual void lm_head(const Tensor& logits, const Tensor& hidden) = 0;
};

// Builds the model that config.implementation names ("decoder": every dense decoder family);
// throws naming the implementations there are.
std::unique_ptr<Model> make_model(Backend& backend, const ModelConfig& config, const WeightSource& weights,
                                  int max_positions);

}  // namespace nodellm
