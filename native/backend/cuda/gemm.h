// Linear layers on cuBLASLt: out[T, N] = x[T, K] @ W[N, K]^T with 16-bit inputs, float32
// accumulation, and a 16-bit or float32 output (logits). Algorithms are chosen once per shape.
#pragma once
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <map>
#include <tuple>

#include "backend/tensor.h"

namespace nodellm {

class Gemm {
 public:
  explicit Gemm(cudaStream_t stream);
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

  cudaStream_t stream_;
  cublasLtHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 32u << 20;
  std::map<Key, Plan> plans_;
};

}  // namespace nodellm
