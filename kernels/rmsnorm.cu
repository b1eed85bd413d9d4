// RMSNorm of the float32 residual stream into the activation dtype, alone or fused with the
// residual add (residual += x; out = rmsnorm(residual) * weight), one block per token row.
#include <type_traits>

#include "kernels/chain.cuh"
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
  begin_chained_kernel();
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

// The same for rows whose columns split into 8-wide chunks (every real model): each thread loads
// its kPer chunks with 16-byte loads, all issued before the first use, so one row costs about
// one memory latency rather than one per loop trip (decode runs this on a single row, twice a
// layer).
template <typename T, bool Add, int kPer>
__global__ void rmsnorm_vec_kernel(float* __restrict__ residual, int64_t residual_stride, const T* __restrict__ y,
                                   int64_t y_stride, T* __restrict__ out, int64_t out_stride,
                                   const T* __restrict__ weight, int cols, float eps) {
  begin_chained_kernel();
  const int64_t row = blockIdx.x;
  float4* r = reinterpret_cast<float4*>(residual + row * residual_stride);
  const int chunks = cols / 8;
  float v[kPer][8];
  uint4 wv[kPer];
  float sum_sq = 0.0f;
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    const int c = threadIdx.x + i * blockDim.x;
    if (c >= chunks) continue;
    const float4 a = r[2 * c], b = r[2 * c + 1];
    wv[i] = reinterpret_cast<const uint4*>(weight)[c];
    v[i][0] = a.x; v[i][1] = a.y; v[i][2] = a.z; v[i][3] = a.w;
    v[i][4] = b.x; v[i][5] = b.y; v[i][6] = b.z; v[i][7] = b.w;
    if (Add) {
      const uint4 yv = reinterpret_cast<const uint4*>(y + row * y_stride)[c];
      const T* yh = reinterpret_cast<const T*>(&yv);
#pragma unroll
      for (int e = 0; e < 8; ++e) v[i][e] += to_float(yh[e]);
      r[2 * c] = make_float4(v[i][0], v[i][1], v[i][2], v[i][3]);
      r[2 * c + 1] = make_float4(v[i][4], v[i][5], v[i][6], v[i][7]);
    }
#pragma unroll
    for (int e = 0; e < 8; ++e) sum_sq += v[i][e] * v[i][e];
  }
  const float inv = rsqrtf(block_sum(sum_sq) / static_cast<float>(cols) + eps);
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    const int c = threadIdx.x + i * blockDim.x;
    if (c >= chunks) continue;
    const T* wh = reinterpret_cast<const T*>(&wv[i]);
    uint4 packed;
    T* o = reinterpret_cast<T*>(&packed);
#pragma unroll
    for (int e = 0; e < 8; ++e) o[e] = from_float<T>(v[i][e] * inv * to_float(wh[e]));
    reinterpret_cast<uint4*>(out + row * out_stride)[c] = packed;
  }
}

// Launches the vectorised kernel where the shapes allow (16-bit output, 8-wide chunks, aligned
// rows, at most 4 chunks a thread); false otherwise (then the general kernel runs).
template <typename T, bool Add>
bool launch_vectorised(const char* name, const Tensor& residual, const T* y, int64_t y_stride, const Tensor& out,
                       const Tensor& weight, float eps, cudaStream_t stream) {
  if constexpr (std::is_same_v<T, float>) {
    return false;
  } else {
    const int64_t chunks = out.cols / 8;
    const bool fits = out.cols % 8 == 0 && residual.stride % 4 == 0 && out.stride % 8 == 0 &&
                      (!Add || y_stride % 8 == 0) && aligned16(residual.data) && aligned16(out.data) &&
                      aligned16(weight.data) && (!Add || aligned16(y)) && chunks <= 4 * kThreads;
    if (!fits) return false;
    auto run = [&](auto per) {
      launch_chained(name, rmsnorm_vec_kernel<T, Add, decltype(per)::value>, dim3(out.rows), dim3(kThreads), stream,
                     residual.ptr<float>(), residual.stride, y, y_stride, out.ptr<T>(), out.stride, weight.ptr<T>(),
                     static_cast<int>(out.cols), eps);
    };
    if (chunks <= kThreads) run(std::integral_constant<int, 1>{});
    else if (chunks <= 2 * kThreads) run(std::integral_constant<int, 2>{});
    else run(std::integral_constant<int, 4>{});
    return true;
  }
}

}  // namespace

void rmsnorm(const Tensor& out, const Tensor& x, const Tensor& weight, float eps, cudaStream_t stream) {
  if (out.rows == 0) return;
  NODELLM_CHECK(x.dtype == DType::F32, "rmsnorm reads the float32 residual stream");
  dispatch_float(out.dtype, "rmsnorm", [&](auto t) {
    using T = decltype(t);
    if (launch_vectorised<T, false>("rmsnorm", x, static_cast<const T*>(nullptr), 0, out, weight, eps, stream)) return;
    launch_chained("rmsnorm", rmsnorm_kernel<T, false>, dim3(out.rows), dim3(kThreads), stream, x.ptr<float>(), x.stride,
                   static_cast<const T*>(nullptr), int64_t{0}, out.ptr<T>(), out.stride, weight.ptr<T>(), out.cols, eps);
  });
}

void add_rmsnorm(const Tensor& residual, const Tensor& x, const Tensor& out, const Tensor& weight, float eps,
                 cudaStream_t stream) {
  if (out.rows == 0) return;
  NODELLM_CHECK(residual.dtype == DType::F32, "the residual stream is float32");
  dispatch_float(out.dtype, "add_rmsnorm", [&](auto t) {
    using T = decltype(t);
    if (launch_vectorised<T, true>("add_rmsnorm", residual, x.ptr<T>(), x.stride, out, weight, eps, stream)) return;
    launch_chained("add_rmsnorm", rmsnorm_kernel<T, true>, dim3(out.rows), dim3(kThreads), stream, residual.ptr<float>(),
                   residual.stride, x.ptr<T>(), x.stride, out.ptr<T>(), out.stride, weight.ptr<T>(), out.cols, eps);
  });
}

}  // namespace nodellm::kernels
