// The dense decoder every supported family is: Llama, Qwen 2/3, Mistral, Gemma 2/3 and Phi-3
// differ only in ModelConfig's fields (biases, q/k norms, sandwich norms, activation, RoPE,
// windows, soft-capping, scales). q/k/v and gate/up projections are fused into one matrix each at
// load time, so a layer is four GEMMs.
#pragma once
#include <string>
#include <vector>

#include "model/model.h"

namespace nodellm {

class DecoderModel final : public Model {
 public:
  DecoderModel(Backend& backend, const ModelConfig& config, const WeightSource& weights, int max_positions);
  ~DecoderModel() override;

  const ModelConfig& config() const override { return config_; }
  DType activation_dtype() const override { return activation_dtype_; }
  Activations alloc_activations(int max_tokens) override;
  void free_activations(const Activations& a) override;
  void forward(const ForwardInputs& in, const Activations& a, const std::vector<KvCache>& caches) override;
  void lm_head(const Tensor& logits, const Tensor& hidden) override;

 private:
  struct Layer {
    Tensor input_norm, qkv_bias, o_bias, q_norm, k_norm, post_attn_norm, pre_mlp_norm, post_mlp_norm,
        gate_up_bias, down_bias;
    LinearWeight qkv, o, gate_up, down;
  };
  Tensor load(const WeightSource& w, const std::vector<std::string>& names,
              const std::vector<int64_t>& rows, int64_t cols);
  LinearWeight load_linear(const WeightSource& w, const std::vector<std::string>& names,
                           const std::vector<int64_t>& rows, int64_t cols);
  LinearWeight prepare(const Tensor& loaded);
  Tensor rope_table(const RopeFrequencies& rope, int max_positions);
  // The value the activation dtype holds for x (Gemma's embedding scale is rounded to it, as
  // transformers rounds it to the weights' dtype).
  float in_activation_dtype(float x);

  Backend& backend_;
  ModelConfig config_;
  DType activation_dtype_ = DType::F32;
  float embedding_scale_ = 1.0f;
  Tensor embed_, final_norm_, rope_table_, local_rope_table_;
  LinearWeight lm_head_;
  std::vector<Layer> layers_;
  std::vector<Tensor> owned_;
};

}  // namespace nodellm
