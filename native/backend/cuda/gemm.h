// Linear layers on cuBLASLt: out[T, N] = x[T, K] @ W[N, K]^T with 16-bit inputs, float32
// accumulation, and a 16-bit or float32 output (logits). Algorithms are chosen once per shape.
//
// Batch-invariant mode (--batch-invariant): one algorithm per weight shape, whatever the number of
// rows, and none that splits K. Each output is then summed in the same order however many other
// rows share the GEMM, so a request's numbers do not depend on what it is batched with. By
// default cuBLASLt's heuristic picks per row count (split-K for few rows), which is faster.
#pragma once
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <map>
#include <tuple>

#include "backend/tensor.h"

namespace nodellm {

class Gemm {
 public:
  Gemm(cudaStream_t stream, bool batch_invariant);
  ~Gemm();
  void run(const Tensor& out, const Tensor& x, const Tensor& weight);

 private:
  using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int, int>;
  struct Plan {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
  };
  Plan& plan(const Tensor& out, const Tensor& x, const Tensor& weight);
  cublasLtMatmulAlgo_t heuristic_algo(const Plan& p, int64_t m, int64_t n, int64_t k, bool no_split_k);
  cublasLtMatmulAlgo_t invariant_algo(const Key& shape, const Plan& p, const Tensor& out, const Tensor& x,
                                      const Tensor& w);

  cudaStream_t stream_;
  cublasLtHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 32u << 20;
  std::map<Key, Plan> plans_;
  bool batch_invariant_;
  std::map<Key, cublasLtMatmulAlgo_t> invariant_algos_;  // keyed by the shape with rows = 0
  int64_t reference_rows_ = 256;  // NODELLM_INVARIANT_ROWS
};

}  // namespace nodellm
