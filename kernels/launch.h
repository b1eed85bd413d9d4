// Host-side entry points of the CUDA kernels (declared in plain C++ so the backend's .cc files can
// call them). Each launcher checks the launch and throws nodellm::Error naming the kernel.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "backend/backend.h"

namespace nodellm::kernels {

void check_launch(const char* kernel);

void convert(const Tensor& dst, const void* src_device, DType src_dtype, cudaStream_t stream);
void fill_random(const Tensor& dst, uint64_t seed, float scale, float offset, cudaStream_t stream);
void embedding(const Tensor& out, const Tensor& table, const Tensor& ids, float scale, cudaStream_t stream);
// weight_offset: 0, or 1 for Gemma's (1 + w) norms (backend.h). rmsnorm's x is the float32
// residual stream, or an activation of out's dtype (Gemma's sandwich norms).
void rmsnorm(const Tensor& out, const Tensor& x, const Tensor& weight, float eps, float weight_offset,
             cudaStream_t stream);
void add_rmsnorm(const Tensor& residual, const Tensor& x, const Tensor& out, const Tensor& weight,
                 float eps, float weight_offset, cudaStream_t stream);
// Per-head RMSNorm of x's rows in place (q_norm / k_norm of Qwen 3 and Gemma 3).
void head_rmsnorm(const Tensor& x, const Tensor& weight, int head_dim, float eps, float weight_offset,
                  cudaStream_t stream);
void add_bias(const Tensor& out, const Tensor& bias, cudaStream_t stream);
// cos_sin is [max_pos, rotary_dim] with rotary_dim <= head_dim (partial rotary: the rest of each
// head passes through).
void rope(const Tensor& q, const Tensor& k, const Tensor& positions, const Tensor& cos_sin,
          int head_dim, cudaStream_t stream);
void rope_kv_write(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& positions,
                   const Tensor& cos_sin, int head_dim, const Tensor& k_cache, const Tensor& v_cache,
                   const Tensor& slot_mapping, cudaStream_t stream);
void kv_write(const Tensor& k, const Tensor& v, const Tensor& k_cache, const Tensor& v_cache,
              const Tensor& slot_mapping, cudaStream_t stream);
// Room for the partial softmaxes of a context split over several blocks (flash-decoding).
struct AttentionScratch {
  float* max = nullptr;
  float* sum = nullptr;
  float* value = nullptr;
  int64_t capacity = 0;        // (row, head, partition) entries in max and sum
  int64_t value_capacity = 0;  // floats in value
  int multiprocessors = 132;
  // Split decode contexts into partitions (more of them when the step has few rows). Off in
  // batch-invariant mode: the split, and so the order of each row's sums, would depend on the
  // step's row count.
  bool split_contexts = true;
  // The most partitions per (row, head) that fit.
  int max_partitions(int64_t rows, int heads, int head_dim) const {
    const int64_t pairs = rows * heads;
    if (pairs == 0) return 1;
    return static_cast<int>(std::min<int64_t>(capacity / pairs, value_capacity / (pairs * head_dim)));
  }
};
void paged_attention(const Tensor& out, const Tensor& q, const Tensor& k_cache,
                     const Tensor& v_cache, const AttentionBatch& batch, const AttentionScratch& scratch,
                     cudaStream_t stream);
// The tensor-core kernel for sequences with several new rows (prefill chunks): whether it
// applies to this step (16-bit, head_dim 64, 128 or 256, some sequence with more than one new row),
// and the launch; paged_attention() calls both and leaves single-row sequences to itself.
bool prefill_attention_applies(const Tensor& q, const AttentionBatch& batch);
void prefill_attention(const Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                       const AttentionBatch& batch, cudaStream_t stream);
// Linear layers of at most gemv_max_rows() rows on CUDA cores (decode at small batch), where the
// weights are read at the memory's speed; larger batches go to cuBLASLt. x and W share a 16-bit
// dtype; out is that dtype or float32 (logits).
constexpr int kDefaultGemvMaxRows = 1;
int gemv_max_rows();
bool gemv_applies(const Tensor& out, const Tensor& x, const Tensor& weight);
void gemv(const Tensor& out, const Tensor& x, const Tensor& weight, cudaStream_t stream);
// One-row GEMVs that go on to the layer's next step (kernels/gemv_epilogues.cu), with the bits
// of the unfused kernels: act = silu(gate) * up of x @ W^T (+ bias), W = [gate; up]; and qkv =
// x @ W^T (+ bias) with RoPE applied to q and k and k, v written to the cache (rope_kv_write).
bool gemv_silu_mul_applies(const Tensor& act, const Tensor& x, const Tensor& w, const Tensor* bias);
void gemv_silu_mul(const Tensor& act, const Tensor& x, const Tensor& w, const Tensor* bias, cudaStream_t stream);
bool gemv_rope_kv_write_applies(const Tensor& qkv, const Tensor& x, const Tensor& w, const Tensor* bias,
                                const RopeKvWrite& r);
void gemv_rope_kv_write(const Tensor& qkv, const Tensor& x, const Tensor& w, const Tensor* bias, const RopeKvWrite& r,
                        cudaStream_t stream);
void silu_mul(const Tensor& out, const Tensor& gate_up, cudaStream_t stream);
void gelu_tanh_mul(const Tensor& out, const Tensor& gate_up, cudaStream_t stream);
// x = cap * tanh(x / cap) on float32 logits, in place.
void softcap(const Tensor& x, float cap, cudaStream_t stream);
void gather_rows(const Tensor& out, const Tensor& x, const Tensor& rows, cudaStream_t stream);
// penalty_counts: [rows, vocab] int32, all zero (and left zero); work: [rows, vocab] float32.
void sample(const Tensor& logits, const SamplingBatch& batch, const SamplerOutput& out,
            int32_t* penalty_counts, float* work, cudaStream_t stream);
void logprobs(const Tensor& logits, const Tensor& targets, int k, const Tensor& target_logprobs,
              const Tensor& top_ids, const Tensor& top_logprobs, cudaStream_t stream);

}  // namespace nodellm::kernels
