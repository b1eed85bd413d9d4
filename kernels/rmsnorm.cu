// RMSNorm of the float32 residual stream into the activation dtype, alone or fused with the
// residual add (residual += x; out = rmsnorm(residual) * (weight_offset + weight)), one block per
// token row; and the per-head RMSNorm of q and k (Qwen 3, Gemma 3), in place, a warp per head.
// weight_offset is 0 (Llama: 0.0f + w is w, so the product has the same bits as before) or 1
// (Gemma's (1 + w) norms), a kernel argument like eps. rmsnorm() also takes a 16-bit input (the
// sandwich norms of Gemma 2/3 norm a sublayer's output before it joins the residual stream).
#include <type_traits>

#include "kernels/chain.cuh"
#include "kernels/common.cuh"
#include "kernels/dispatch.cuh"
#include "kernels/launch.h"

namespace nodellm::kernels {
namespace {

constexpr int kThreads = 512;

// x is the residual (float32, updated in place when Add); y is what is added to it. Without Add,
// x may also be a 16-bit activation (R = T): Gemma's sandwich norms of a sublayer's output.
template <typename T, bool Add, typename R = float>
__global__ void rmsnorm_kernel(R* residual, int64_t residual_stride, const T* y, int64_t y_stride,
                               T* out, int64_t out_stride, const T* weight, int64_t cols, float eps,
                               float weight_offset) {
  static_assert(!Add || std::is_same_v<R, float>, "the residual stream that is added to is float32");
  begin_chained_kernel();
  const int64_t row = blockIdx.x;
  R* r = residual + row * residual_stride;
  float sum_sq = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    float v = to_float(r[c]);
    if constexpr (Add) {
      v += to_float(y[row * y_stride + c]);
      r[c] = v;
    }
    sum_sq += v * v;
  }
  const float inv = rsqrtf(block_sum(sum_sq) / static_cast<float>(cols) + eps);
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    out[row * out_stride + c] = from_float<T>(to_float(r[c]) * inv * (weight_offset + to_float(weight[c])));
}

// The same for rows whose columns split into 8-wide chunks (every real model): each thread loads
// its kPer chunks with 16-byte loads, all issued before the first use, so one row costs about
// one memory latency rather than one per loop trip (decode runs this on a single row, twice a
// layer).
template <typename T, bool Add, int kPer>
__global__ void rmsnorm_vec_kernel(float* __restrict__ residual, int64_t residual_stride, const T* __restrict__ y,
                                   int64_t y_stride, T* __restrict__ out, int64_t out_stride,
                                   const T* __restrict__ weight, int cols, float eps, float weight_offset) {
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
    for (int e = 0; e < 8; ++e) o[e] = from_float<T>(v[i][e] * inv * (weight_offset + to_float(wh[e])));
    reinterpret_cast<uint4*>(out + row * out_stride)[c] = packed;
  }
}

// Launches the vectorised kernel where the shapes allow (16-bit output, 8-wide chunks, aligned
// rows, at most 4 chunks a thread); false otherwise (then the general kernel runs).
template <typename T, bool Add>
bool launch_vectorised(const char* name, const Tensor& residual, const T* y, int64_t y_stride, const Tensor& out,
                       const Tensor& weight, float eps, float weight_offset, cudaStream_t stream) {
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
                     static_cast<int>(out.cols), eps, weight_offset);
    };
    if (chunks <= kThreads) run(std::integral_constant<int, 1>{});
    else if (chunks <= 2 * kThreads) run(std::integral_constant<int, 2>{});
    else run(std::integral_constant<int, 4>{});
    return true;
  }
}

// RMSNorm of each head_dim-wide head of a row of x (a column slice of qkv, 16-bit or float32), in
// place, with one weight [head_dim] for all heads. A warp per head: its lanes take dims lane,
// lane + 32, ...; blocks of kHeadWarps warps over (row, head) pairs.
constexpr int kHeadWarps = 8;

template <typename T>
__global__ void head_rmsnorm_kernel(T* x, int64_t stride, int64_t rows, int heads, int head_dim, const T* weight,
                                    float eps, float weight_offset) {
  begin_chained_kernel();
  const int64_t pair = static_cast<int64_t>(blockIdx.x) * kHeadWarps + (threadIdx.x >> 5);
  if (pair >= rows * heads) return;
  const int lane = threadIdx.x & 31;
  T* h = x + (pair / heads) * stride + static_cast<int64_t>(pair % heads) * head_dim;
  float sum_sq = 0.0f;
  for (int d = lane; d < head_dim; d += 32) {
    const float v = to_float(h[d]);
    sum_sq += v * v;
  }
  const float inv = rsqrtf(warp_sum(sum_sq) / static_cast<float>(head_dim) + eps);
  for (int d = lane; d < head_dim; d += 32)
    h[d] = from_float<T>(to_float(h[d]) * inv * (weight_offset + to_float(weight[d])));
}

}  // namespace

void rmsnorm(const Tensor& out, const Tensor& x, const Tensor& weight, float eps, float weight_offset,
             cudaStream_t stream) {
  if (out.rows == 0) return;
  NODELLM_CHECK(x.dtype == DType::F32 || x.dtype == out.dtype, "rmsnorm reads the float32 residual stream or ",
                "an activation of the output's dtype, not ", dtype_name(x.dtype));
  dispatch_float(out.dtype, "rmsnorm", [&](auto t) {
    using T = decltype(t);
    if constexpr (!std::is_same_v<T, float>) {
      if (x.dtype != DType::F32) {  // a 16-bit activation (sandwich norms): the general kernel
        launch_chained("rmsnorm", rmsnorm_kernel<T, false, T>, dim3(out.rows), dim3(kThreads), stream,
                       const_cast<T*>(x.ptr<T>()), x.stride, static_cast<const T*>(nullptr), int64_t{0}, out.ptr<T>(),
                       out.stride, weight.ptr<T>(), out.cols, eps, weight_offset);
        return;
      }
    }
    if (launch_vectorised<T, false>("rmsnorm", x, static_cast<const T*>(nullptr), 0, out, weight, eps, weight_offset,
                                    stream))
      return;
    launch_chained("rmsnorm", rmsnorm_kernel<T, false>, dim3(out.rows), dim3(kThreads), stream, x.ptr<float>(), x.stride,
                   static_cast<const T*>(nullptr), int64_t{0}, out.ptr<T>(), out.stride, weight.ptr<T>(), out.cols, eps,
                   weight_offset);
  });
}

void add_rmsnorm(const Tensor& residual, const Tensor& x, const Tensor& out, const Tensor& weight, float eps,
                 float weight_offset, cudaStream_t stream) {
  if (out.rows == 0) return;
  NODELLM_CHECK(residual.dtype == DType::F32, "the residual stream is float32");
  dispatch_float(out.dtype, "add_rmsnorm", [&](auto t) {
    using T = decltype(t);
    if (launch_vectorised<T, true>("add_rmsnorm", residual, x.ptr<T>(), x.stride, out, weight, eps, weight_offset,
                                   stream))
      return;
    launch_chained("add_rmsnorm", rmsnorm_kernel<T, true>, dim3(out.rows), dim3(kThreads), stream, residual.ptr<float>(),
                   residual.stride, x.ptr<T>(), x.stride, out.ptr<T>(), out.stride, weight.ptr<T>(), out.cols, eps,
                   weight_offset);
  });
}

void head_rmsnorm(const Tensor& x, const Tensor& weight, int head_dim, float eps, float weight_offset,
                  cudaStream_t stream) {
  if (x.rows == 0) return;
  NODELLM_CHECK(head_dim > 0 && x.cols % head_dim == 0, "head_rmsnorm: ", x.cols, " columns are not whole heads of ",
                head_dim);
  NODELLM_CHECK(weight.dtype == x.dtype && weight.rows * weight.cols >= head_dim,
                "head_rmsnorm: the weight must be [", head_dim, "] of the activations' dtype");
  const int heads = static_cast<int>(x.cols / head_dim);
  const int64_t pairs = x.rows * heads;
  dispatch_float(x.dtype, "head_rmsnorm", [&](auto t) {
    using T = decltype(t);
    launch_chained("head_rmsnorm", head_rmsnorm_kernel<T>, dim3(static_cast<unsigned>((pairs + kHeadWarps - 1) / kHeadWarps)),
                   dim3(kHeadWarps * 32), stream, x.ptr<T>(), x.stride, x.rows, heads, head_dim, weight.ptr<T>(), eps,
                   weight_offset);
  });
}

}  // namespace nodellm::kernels
