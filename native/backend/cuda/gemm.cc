#include "backend/cuda/gemm.h"

#include "backend/cuda/cuda_check.h"

namespace nodellm {

namespace {
cudaDataType_t cuda_type(DType d) {
  switch (d) {
    case DType::BF16: return CUDA_R_16BF;
    case DType::F16: return CUDA_R_16F;
    case DType::F32: return CUDA_R_32F;
    default: fail("GEMM: unsupported dtype ", dtype_name(d));
  }
}
}  // namespace

Gemm::Gemm(cudaStream_t stream) : stream_(stream) {
  NODELLM_CUBLAS(cublasLtCreate(&handle_));
  NODELLM_CUDA(cudaMalloc(&workspace_, workspace_bytes_));
}

Gemm::~Gemm() {
  for (auto& [key, p] : plans_) {
    cublasLtMatrixLayoutDestroy(p.a);
    cublasLtMatrixLayoutDestroy(p.b);
    cublasLtMatrixLayoutDestroy(p.c);
    cublasLtMatmulDescDestroy(p.op);
  }
  cudaFree(workspace_);
  cublasLtDestroy(handle_);
}

// Row-major out = x W^T is column-major out^T = W x^T: A = W (transposed), B = x, C = out.
Gemm::Plan& Gemm::plan(const Tensor& out, const Tensor& x, const Tensor& w) {
  const Key key{out.rows, out.cols, x.cols, x.stride, out.stride, w.stride, static_cast<int>(x.dtype),
                static_cast<int>(out.dtype)};
  auto it = plans_.find(key);
  if (it != plans_.end()) return it->second;
  Plan p;
  const int64_t m = out.cols, n = out.rows, k = x.cols;
  NODELLM_CUBLAS(cublasLtMatmulDescCreate(&p.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t transa = CUBLAS_OP_T, transb = CUBLAS_OP_N;
  NODELLM_CUBLAS(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA, &transa, sizeof(transa)));
  NODELLM_CUBLAS(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB, &transb, sizeof(transb)));
  NODELLM_CUBLAS(cublasLtMatrixLayoutCreate(&p.a, cuda_type(w.dtype), k, m, w.stride));
  NODELLM_CUBLAS(cublasLtMatrixLayoutCreate(&p.b, cuda_type(x.dtype), k, n, x.stride));
  NODELLM_CUBLAS(cublasLtMatrixLayoutCreate(&p.c, cuda_type(out.dtype), m, n, out.stride));
  cublasLtMatmulPreference_t pref;
  NODELLM_CUBLAS(cublasLtMatmulPreferenceCreate(&pref));
  NODELLM_CUBLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                      &workspace_bytes_, sizeof(workspace_bytes_)));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  NODELLM_CUBLAS(cublasLtMatmulAlgoGetHeuristic(handle_, p.op, p.a, p.b, p.c, p.c, pref, 1, &result, &found));
  cublasLtMatmulPreferenceDestroy(pref);
  if (found == 0) fail("cuBLASLt found no algorithm for [", n, ",", k, "] x [", m, ",", k, "]^T");
  p.algo = result.algo;
  return plans_.emplace(key, p).first->second;
}

void Gemm::run(const Tensor& out, const Tensor& x, const Tensor& w) {
  if (out.rows == 0) return;
  Plan& p = plan(out, x, w);
  const float alpha = 1.0f, beta = 0.0f;
  NODELLM_CUBLAS(cublasLtMatmul(handle_, p.op, &alpha, w.data, p.a, x.data, p.b, &beta, out.data, p.c, out.data,
                                p.c, &p.algo, workspace_, workspace_bytes_, stream_));
}

}  // namespace nodellm
