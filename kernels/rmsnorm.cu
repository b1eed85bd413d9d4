// RMSNorm of the float32 residual stream into the activation dtype, alone or fused with the
// residual add (residual += x; out = rmsnorm(residual) * weight), one block per token row.
#include "kernels/common.cuh"
#include "kernels/dispatch.cuh"
#include "kernels/launch.h"

namespace nodellm::kernels {
namespace {

constexpr int kThreads = 512;

// x is the residual (float32, updated in place when Add); y is what is added to it.
template <typename T, bool Add>
__global__ void rmsnorm_kernel(float* residual, int64_t residual_stride, const T* y, int64_t y_stride,
                               T* out, int64_t out_stride, const T* weight, int64_t cols, float eps) {
  const int64_t row = blockIdx.x;
  float* r = residual + row * residual_stride;
  float sum_sq = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    float v = r[c];
    if (Add) {
      v += to_float(y[row * y_stride + c]);
      r[c] = v;
    }
    sum_sq += v * v;
  }
  const float inv = rsqrtf(block_sum(sum_sq) / static_cast<float>(cols) + eps);
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    out[row * out_stride + c] = from_float<T>(r[c] * inv * to_float(weight[c]));
}

}  // namespace

void rmsnorm(const Tensor& out, const Tensor& x, const Tensor& weight, float eps, cudaStream_t stream) {
  if (out.rows == 0) return;
  NODELLM_CHECK(x.dtype == DType::F32, "rmsnorm reads the float32 residual stream");
  dispatch_float(out.dtype, "rmsnorm", [&](auto t) {
    using T = decltype(t);
    rmsnorm_kernel<T, false><<<out.rows, kThreads, 0, stream>>>(x.ptr<float>(), x.stride, nullptr, 0, out.ptr<T>(), out.stride, weight.ptr<T>(), out.cols, eps);
  });
  check_launch("rmsnorm");
}

void add_rmsnorm(const Tensor& residual, const Tensor& x, const Tensor& out, const Tensor& weight, float eps,
                 cudaStream_t stream) {
  if (out.rows == 0) return;
  NODELLM_CHECK(residual.dtype == DType::F32, "the residual stream is float32");
  dispatch_float(out.dtype, "add_rmsnorm", [&](auto t) {
    using T = decltype(t);
    rmsnorm_kernel<T, true><<<out.rows, kThreads, 0, stream>>>(residual.ptr<float>(), residual.stride, x.ptr<T>(), x.stride, out.ptr<T>(), out.stride, weight.ptr<T>(), out.cols, eps);
  });
  check_launch("add_rmsnorm");
}

}  // namespace nodellm::kernels
