#include "backend/cuda/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "backend/cuda/cuda_check.h"
#include "common/switches.h"

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

Gemm::Gemm(cudaStream_t stream, bool batch_invariant) : stream_(stream), batch_invariant_(batch_invariant) {
  // For comparisons (bench/RESULTS.md): the row count the invariant algorithms are chosen for.
  if (switches().invariant_rows > 0) reference_rows_ = switches().invariant_rows;
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
  if (batch_invariant_) {
    Key shape = key;
    std::get<0>(shape) = 0;
    p.algo = invariant_algo(shape, p, out, x, w);
  } else {
    // NODELLM_GEMM_NO_SPLIT_K=1: cuBLASLt's first algorithm without split-K, for comparisons.
    p.algo = heuristic_algo(p, m, n, k, switches().gemm_no_split_k);
  }
  return plans_.emplace(key, p).first->second;
}

// cuBLASLt's first choice for the layouts of p; with no_split_k, only algorithms that sum each
// output in one pass over K (no split-K partial sums, whose count the heuristic sets per shape).
cublasLtMatmulAlgo_t Gemm::heuristic_algo(const Plan& p, int64_t m, int64_t n, int64_t k, bool no_split_k) {
  cublasLtMatmulPreference_t pref;
  NODELLM_CUBLAS(cublasLtMatmulPreferenceCreate(&pref));
  NODELLM_CUBLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                      &workspace_bytes_, sizeof(workspace_bytes_)));
  if (no_split_k) {
    const uint32_t none = CUBLASLT_REDUCTION_SCHEME_NONE;
    NODELLM_CUBLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &none,
                                                        sizeof(none)));
  }
  constexpr int kWanted = 8;
  cublasLtMatmulHeuristicResult_t results[kWanted] = {};
  int found = 0;
  const cublasStatus_t status =
      cublasLtMatmulAlgoGetHeuristic(handle_, p.op, p.a, p.b, p.c, p.c, pref, kWanted, results, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  NODELLM_CUBLAS(status);
  for (int i = 0; i < found; ++i) {
    if (!no_split_k) return results[i].algo;
    uint32_t split_k = 1;
    size_t written = 0;
    NODELLM_CUBLAS(cublasLtMatmulAlgoConfigGetAttribute(&results[i].algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &split_k,
                                                        sizeof(split_k), &written));
    if (split_k <= 1) return results[i].algo;
  }
  fail("cuBLASLt found no algorithm", no_split_k ? " without split-K" : "", " for [", n, ",", k, "] x [", m, ",", k,
       "]^T");
}

// Batch-invariant mode: the algorithm of a weight shape is chosen once, for reference_rows_ rows
// (not whatever row count comes first, so the choice does not depend on the traffic), and used
// for every row count; cuBLASLt checks that it serves each.
cublasLtMatmulAlgo_t Gemm::invariant_algo(const Key& shape, const Plan& p, const Tensor& out, const Tensor& x,
                                          const Tensor& w) {
  const int64_t m = out.cols, k = x.cols;
  auto it = invariant_algos_.find(shape);
  if (it == invariant_algos_.end()) {
    Plan ref;
    ref.op = p.op;
    NODELLM_CUBLAS(cublasLtMatrixLayoutCreate(&ref.a, cuda_type(w.dtype), k, m, w.stride));
    NODELLM_CUBLAS(cublasLtMatrixLayoutCreate(&ref.b, cuda_type(x.dtype), k, reference_rows_, x.stride));
    NODELLM_CUBLAS(cublasLtMatrixLayoutCreate(&ref.c, cuda_type(out.dtype), m, reference_rows_, out.stride));
    const cublasLtMatmulAlgo_t algo = heuristic_algo(ref, m, reference_rows_, k, true);
    cublasLtMatrixLayoutDestroy(ref.a);
    cublasLtMatrixLayoutDestroy(ref.b);
    cublasLtMatrixLayoutDestroy(ref.c);
    it = invariant_algos_.emplace(shape, algo).first;
  }
  cublasLtMatmulHeuristicResult_t check{};
  const cublasStatus_t status = cublasLtMatmulAlgoCheck(handle_, p.op, p.a, p.b, p.c, p.c, &it->second, &check);
  if (status != CUBLAS_STATUS_SUCCESS)
    fail("batch-invariant GEMM: cuBLASLt's algorithm for [", reference_rows_, ",", k, "] x [", m, ",", k,
         "]^T does not serve ", out.rows, " rows (", cublasLtGetStatusString(status), ")");
  if (check.workspaceSize > workspace_bytes_)
    fail("batch-invariant GEMM: cuBLASLt's algorithm for [", reference_rows_, ",", k, "] x [", m, ",", k,
         "]^T needs ", check.workspaceSize, " bytes of workspace at ", out.rows, " rows, more than the ",
         workspace_bytes_, " it has");
  return it->second;
}

void Gemm::run(const Tensor& out, const Tensor& x, const Tensor& w) {
  if (out.rows == 0) return;
  Plan& p = plan(out, x, w);
  const float alpha = 1.0f, beta = 0.0f;
  NODELLM_CUBLAS(cublasLtMatmul(handle_, p.op, &alpha, w.data, p.a, x.data, p.b, &beta, out.data, p.c, out.data,
                                p.c, &p.algo, workspace_, workspace_bytes_, stream_));
}

}  // namespace nodellm
