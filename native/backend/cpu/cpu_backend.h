// The CPU backend: the float32 reference every other backend is checked against, and the path
// CI and laptops run. Plain loops, parallel over independent rows/columns so that each value is
// computed the same way whatever else is in the batch.
#pragma once
#include <memory>
#include <unordered_map>

#include "backend/backend.h"
#include "backend/cpu/thread_pool.h"

namespace nodellm {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int num_threads);
  std::string name() const override { return "cpu"; }

  Tensor alloc(DType dtype, int64_t rows, int64_t cols) override;
  void release(const Tensor& tensor) override;
  DType weight_dtype(DType) const override { return DType::F32; }
  void upload(const Tensor& dst, const void* src, DType src_dtype) override;
  void download(void* dst, const Tensor& src) override;
  void synchronize() override {}
  void fill_random(const Tensor& dst, uint64_t seed, float scale, float offset) override;

  void embedding(const Tensor& out, const Tensor& table, const Tensor& ids, float scale) override;
  void rmsnorm(const Tensor& out, const Tensor& x, const Tensor& weight, float eps,
               float weight_offset) override;
  void add_rmsnorm(const Tensor& residual, const Tensor& x, const Tensor& out,
                   const Tensor& weight, float eps, float weight_offset) override;
  void head_rmsnorm(const Tensor& x, const Tensor& weight, int head_dim, float eps,
                    float weight_offset) override;
  LinearWeight prepare_linear(const Tensor& weight) override;
  void linear(const Tensor& out, const Tensor& x, const LinearWeight& weight,
              const Tensor* bias) override;
  void rope(const Tensor& q, const Tensor& k, const Tensor& positions, const Tensor& cos_sin,
            int head_dim) override;
  void kv_write(const Tensor& k, const Tensor& v, const Tensor& k_cache, const Tensor& v_cache,
                const Tensor& slot_mapping) override;
  void paged_attention(const Tensor& out, const Tensor& q, const Tensor& k_cache,
                       const Tensor& v_cache, const AttentionBatch& batch) override;
  void silu_mul(const Tensor& out, const Tensor& gate_up) override;
  void gelu_tanh_mul(const Tensor& out, const Tensor& gate_up) override;
  void softcap(const Tensor& x, float cap) override;
  void gather_rows(const Tensor& out, const Tensor& x, const Tensor& rows) override;
  void sample(const Tensor& logits, const SamplingBatch& batch,
              const SamplerOutput& out) override;
  void logprobs(const Tensor& logits, const Tensor& targets, int k,
                const Tensor& target_logprobs, const Tensor& top_ids,
                const Tensor& top_logprobs) override;

 private:
  ThreadPool pool_;
  std::unordered_map<void*, std::unique_ptr<char[]>> allocations_;
};

// Shared by the CPU ops: a float32 dot product whose summation order depends only on n.
float dot_f32(const float* a, const float* b, int64_t n);

}  // namespace nodellm
