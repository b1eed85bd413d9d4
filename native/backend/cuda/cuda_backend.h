// The CUDA backend: tensors in device memory, weights and activations in 16-bit floats (the
// checkpoint's bf16 or fp16; float32 checkpoints run in bf16) with a float32 residual stream and
// float32 logits, GEMMs on cuBLASLt and the kernels of kernels/. Work is queued on one stream;
// only sampled ids and requested logprobs are copied back per step.
//
// batch_invariant (--batch-invariant): every row is computed the same way whatever else shares
// the step, so a seeded request gives the same tokens alone and in any batch. Linear layers take
// cuBLASLt with one algorithm per shape and no split-K (no one-row GEMV, whose sums are ordered
// differently), and decode attention does not split contexts by the step's row count. It costs
// speed at small batches (bench/RESULTS.md).
#pragma once
#include <cuda_runtime.h>

#include <memory>
#include <unordered_set>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/gemm.h"
#include "kernels/launch.h"

namespace nodellm {

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device, bool batch_invariant = false);
  ~CudaBackend() override;
  std::string name() const override { return "cuda"; }

  Tensor alloc(DType dtype, int64_t rows, int64_t cols) override;
  void release(const Tensor& tensor) override;
  DType weight_dtype(DType checkpoint) const override {
    return checkpoint == DType::F16 ? DType::F16 : DType::BF16;
  }
  void upload(const Tensor& dst, const void* src, DType src_dtype) override;
  void download(void* dst, const Tensor& src) override;
  void download_async(void* dst, const Tensor& src) override;
  void synchronize() override;
  bool runs_asynchronously() const override { return true; }
  bool memory_info(int64_t* free_bytes, int64_t* total_bytes) override;
  void fill_random(const Tensor& dst, uint64_t seed, float scale, float offset) override;
  bool supports_graphs() const override { return true; }
  void begin_graph() override;
  int end_graph() override;
  void replay_graph(int graph) override;

  void embedding(const Tensor& out, const Tensor& table, const Tensor& ids, float scale) override;
  void rmsnorm(const Tensor& out, const Tensor& x, const Tensor& weight, float eps, float weight_offset) override;
  void add_rmsnorm(const Tensor& residual, const Tensor& x, const Tensor& out, const Tensor& weight, float eps,
                   float weight_offset) override;
  void head_rmsnorm(const Tensor& x, const Tensor& weight, int head_dim, float eps, float weight_offset) override;
  LinearWeight prepare_linear(const Tensor& weight) override;
  void linear(const Tensor& out, const Tensor& x, const LinearWeight& weight, const Tensor* bias) override;
  void rope(const Tensor& q, const Tensor& k, const Tensor& positions, const Tensor& cos_sin,
            int head_dim) override;
  void kv_write(const Tensor& k, const Tensor& v, const Tensor& k_cache, const Tensor& v_cache,
                const Tensor& slot_mapping) override;
  void rope_kv_write(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& positions,
                     const Tensor& cos_sin, int head_dim, const Tensor& k_cache, const Tensor& v_cache,
                     const Tensor& slot_mapping) override;
  void linear_rope_kv_write(const Tensor& qkv, const Tensor& x, const LinearWeight& weight, const Tensor* bias,
                            const Tensor& q, const Tensor& k, const Tensor& v, const RopeKvWrite& r) override;
  void paged_attention(const Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                       const AttentionBatch& batch) override;
  void silu_mul(const Tensor& out, const Tensor& gate_up) override;
  void linear_silu_mul(const Tensor& act, const Tensor& x, const LinearWeight& weight, const Tensor* bias,
                       const Tensor& gate_up) override;
  void gelu_tanh_mul(const Tensor& out, const Tensor& gate_up) override;
  void softcap(const Tensor& x, float cap) override;
  void gather_rows(const Tensor& out, const Tensor& x, const Tensor& rows) override;
  void sample(const Tensor& logits, const SamplingBatch& batch, const SamplerOutput& out) override;
  void logprobs(const Tensor& logits, const Tensor& targets, int k, const Tensor& target_logprobs,
                const Tensor& top_ids, const Tensor& top_logprobs) override;

 private:
  void* staging(size_t bytes);
  void* pinned(size_t bytes);
  void copy_to_device_chunked(void* dst, const void* src, size_t bytes);
  void ensure_sampling_scratch(int64_t rows, int64_t vocab);

  int device_;
  bool batch_invariant_;  // never the one-row GEMV kernels (their sums are ordered unlike cuBLASLt's)
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<Gemm> gemm_;
  std::unordered_set<void*> allocations_;
  void* staging_ = nullptr;  // device buffer for uploads that need a dtype conversion
  size_t staging_bytes_ = 0;
  // Pinned host memory that small uploads (a step's inputs) are copied through, so they are
  // queued without waiting; it is reused after the next synchronisation of the stream.
  char* pinned_ = nullptr;
  size_t pinned_bytes_ = 16u << 20, pinned_used_ = 0;
  // download_async's copies: each lands in the pinned buffer and moves to its destination at the
  // next synchronize().
  struct PendingDownload {
    void* dst;
    const void* staged;
    size_t bytes;
  };
  std::vector<PendingDownload> pending_downloads_;
  // Two pinned chunks that large uploads (weights) go through: host threads fill one from the
  // page cache while the GPU copies the other.
  static constexpr size_t kLoadChunk = 64u << 20;
  char* load_chunks_[2] = {nullptr, nullptr};
  cudaEvent_t load_chunk_free_[2] = {nullptr, nullptr};
  int32_t* penalty_counts_ = nullptr;  // [rows, vocab], kept all zero between uses
  float* sampling_work_ = nullptr;     // [rows, vocab]
  int64_t sampling_rows_ = 0, sampling_vocab_ = 0;
  kernels::AttentionScratch attention_scratch_;  // partial softmaxes of split contexts
  std::vector<cudaGraphExec_t> graphs_;
};

// Whether a CUDA device is usable; false with the reason (e.g. the driver is missing or too old).
bool cuda_available(std::string* reason);

}  // namespace nodellm
