// Simple per-element kernels: dtype conversion, seeded random fill (LOAD_FORMAT=dummy), the
// embedding lookup (scaled), bias add, SiLU- and GELU(tanh)-and-multiply (vectorised for 16-bit
// rows), row gathers, and the soft-capping of float32 logits.
#include <cstdio>

#include "backend/random_fill.h"
#include "kernels/chain.cuh"
#include "kernels/common.cuh"
#include "kernels/dispatch.cuh"
#include "kernels/launch.h"

namespace nodellm::kernels {

void check_launch(const char* kernel) {
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) fail("CUDA kernel ", kernel, " failed to launch: ", cudaGetErrorString(err));
}

namespace {

constexpr int kThreads = 256;

int blocks_for(int64_t n) { return static_cast<int>((n + kThreads - 1) / kThreads); }

template <typename Dst, typename Src>
__global__ void convert_kernel(Dst* dst, int64_t dst_stride, const Src* src, int64_t rows, int64_t cols) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= rows * cols) return;
  const int64_t r = i / cols, c = i % cols;
  dst[r * dst_stride + c] = from_float<Dst>(to_float(src[i]));
}

template <typename T>
__global__ void fill_random_kernel(T* dst, int64_t stride, int64_t rows, int64_t cols, uint64_t seed, float scale,
                                   float offset) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= rows * cols) return;
  dst[(i / cols) * stride + i % cols] = from_float<T>(offset + scale * random_fill_value(seed, static_cast<uint64_t>(i)));
}

// out = table[id] * scale (1 but for Gemma's sqrt(hidden_size): x * 1.0f is x, bit for bit).
template <typename T>
__global__ void embedding_kernel(float* out, int64_t out_stride, const T* table, int64_t table_stride,
                                 const int32_t* ids, int64_t cols, float scale) {
  begin_chained_kernel();
  const int64_t row = blockIdx.x;
  const T* src = table + ids[row] * table_stride;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) out[row * out_stride + c] = to_float(src[c]) * scale;
}

template <typename T>
__global__ void add_bias_kernel(T* out, int64_t stride, const T* bias, int64_t rows, int64_t cols) {
  begin_chained_kernel();
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= rows * cols) return;
  T& o = out[(i / cols) * stride + i % cols];
  o = from_float<T>(to_float(o) + to_float(bias[i % cols]));
}

// The gated MLP's activation of (gate, up): silu(gate) * up (Llama, Qwen, Mistral, Phi) or
// gelu_tanh(gate) * up (Gemma's GeGLU).
enum class Gate { kSilu, kGeluTanh };

template <Gate G>
__device__ __forceinline__ float gated_value(float g, float u) {
  if constexpr (G == Gate::kSilu) return silu_mul_value(g, u);
  else return gelu_tanh_mul_value(g, u);
}

template <typename T, Gate G>
__global__ void gated_mul_kernel(T* out, int64_t out_stride, const T* gate_up, int64_t in_stride, int64_t rows, int64_t cols) {
  begin_chained_kernel();
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= rows * cols) return;
  const int64_t r = i / cols, c = i % cols;
  const float g = to_float(gate_up[r * in_stride + c]);
  const float u = to_float(gate_up[r * in_stride + cols + c]);
  out[r * out_stride + c] = from_float<T>(gated_value<G>(g, u));
}

// The same for 16-bit rows whose halves are whole 16-byte chunks: a block per row, 8 columns a
// thread at a time, no index division (the per-element kernel above ran at a third of the copy
// bandwidth in prefill, where a 64-bit divide per element dominated). Same bits as the per-element
// kernel.
template <typename T, Gate G>
__global__ void gated_mul_vec_kernel(T* out, int64_t out_stride, const T* gate_up, int64_t in_stride, int64_t cols) {
  begin_chained_kernel();
  const int64_t row = blockIdx.x;
  const uint4* gate = reinterpret_cast<const uint4*>(gate_up + row * in_stride);
  const uint4* up = reinterpret_cast<const uint4*>(gate_up + row * in_stride + cols);
  uint4* dst = reinterpret_cast<uint4*>(out + row * out_stride);
  for (int64_t c = threadIdx.x; c < cols / 8; c += blockDim.x) {
    const uint4 gv = gate[c], uv = up[c];
    const T* g = reinterpret_cast<const T*>(&gv);
    const T* u = reinterpret_cast<const T*>(&uv);
    uint4 ov;
    T* o = reinterpret_cast<T*>(&ov);
#pragma unroll
    for (int e = 0; e < 8; ++e) o[e] = from_float<T>(gated_value<G>(to_float(g[e]), to_float(u[e])));
    dst[c] = ov;
  }
}

// x = cap * tanh(x / cap) on float32 logits, in place.
__global__ void softcap_kernel(float* x, int64_t stride, int64_t rows, int64_t cols, float cap, float inv_cap) {
  begin_chained_kernel();
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= rows * cols) return;
  float& v = x[(i / cols) * stride + i % cols];
  v = softcap_value(v, cap, inv_cap);
}

template <typename T>
__global__ void gather_rows_kernel(T* out, int64_t out_stride, const T* x, int64_t x_stride, const int32_t* rows, int64_t cols) {
  begin_chained_kernel();
  const int64_t row = blockIdx.x;
  const T* src = x + rows[row] * x_stride;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) out[row * out_stride + c] = src[c];
}

}  // namespace

void convert(const Tensor& dst, const void* src, DType src_dtype, cudaStream_t stream) {
  const int64_t n = dst.rows * dst.cols;
  if (n == 0) return;
  dispatch_float(dst.dtype, "convert", [&](auto d) {
    using Dst = decltype(d);
    dispatch_float(src_dtype, "convert", [&](auto s) {
      using Src = decltype(s);
      convert_kernel<Dst, Src><<<blocks_for(n), kThreads, 0, stream>>>(dst.ptr<Dst>(), dst.stride, static_cast<const Src*>(src), dst.rows, dst.cols);
    });
  });
  check_launch("convert");
}

void fill_random(const Tensor& dst, uint64_t seed, float scale, float offset, cudaStream_t stream) {
  const int64_t n = dst.rows * dst.cols;
  if (n == 0) return;
  dispatch_float(dst.dtype, "fill_random", [&](auto d) {
    using T = decltype(d);
    fill_random_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(dst.ptr<T>(), dst.stride, dst.rows, dst.cols, seed, scale, offset);
  });
  check_launch("fill_random");
}

void embedding(const Tensor& out, const Tensor& table, const Tensor& ids, float scale, cudaStream_t stream) {
  if (out.rows == 0) return;
  NODELLM_CHECK(out.dtype == DType::F32, "embedding writes the float32 residual stream");
  dispatch_float(table.dtype, "embedding", [&](auto t) {
    using T = decltype(t);
    launch_chained("embedding", embedding_kernel<T>, dim3(out.rows), dim3(kThreads), stream, out.ptr<float>(), out.stride,
                   table.ptr<T>(), table.stride, ids.ptr<int32_t>(), out.cols, scale);
  });
}

void add_bias(const Tensor& out, const Tensor& bias, cudaStream_t stream) {
  const int64_t n = out.rows * out.cols;
  if (n == 0) return;
  NODELLM_CHECK(out.dtype == bias.dtype, "add_bias dtypes differ");
  dispatch_float(out.dtype, "add_bias", [&](auto t) {
    using T = decltype(t);
    launch_chained("add_bias", add_bias_kernel<T>, dim3(blocks_for(n)), dim3(kThreads), stream, out.ptr<T>(), out.stride,
                   bias.ptr<T>(), out.rows, out.cols);
  });
}

namespace {

template <Gate G>
void gated_mul(const char* name, const Tensor& out, const Tensor& gate_up, cudaStream_t stream) {
  const int64_t n = out.rows * out.cols;
  if (n == 0) return;
  NODELLM_CHECK(out.dtype == gate_up.dtype && gate_up.cols >= 2 * out.cols && gate_up.rows >= out.rows, name,
                ": gate_up [", gate_up.rows, ",", gate_up.cols, "] does not pair with out [", out.rows, ",", out.cols, "]");
  dispatch_float(out.dtype, name, [&](auto t) {
    using T = decltype(t);
    if constexpr (sizeof(T) == 2) {
      if (out.cols % 8 == 0 && out.stride % 8 == 0 && gate_up.stride % 8 == 0 && aligned16(out.ptr<T>()) &&
          aligned16(gate_up.ptr<T>())) {
        launch_chained(name, gated_mul_vec_kernel<T, G>, dim3(static_cast<unsigned>(out.rows)), dim3(kThreads), stream,
                       out.ptr<T>(), out.stride, gate_up.ptr<T>(), gate_up.stride, out.cols);
        return;
      }
    }
    launch_chained(name, gated_mul_kernel<T, G>, dim3(blocks_for(n)), dim3(kThreads), stream, out.ptr<T>(), out.stride,
                   gate_up.ptr<T>(), gate_up.stride, out.rows, out.cols);
  });
}

}  // namespace

void silu_mul(const Tensor& out, const Tensor& gate_up, cudaStream_t stream) {
  gated_mul<Gate::kSilu>("silu_mul", out, gate_up, stream);
}

void gelu_tanh_mul(const Tensor& out, const Tensor& gate_up, cudaStream_t stream) {
  gated_mul<Gate::kGeluTanh>("gelu_tanh_mul", out, gate_up, stream);
}

void softcap(const Tensor& x, float cap, cudaStream_t stream) {
  const int64_t n = x.rows * x.cols;
  if (n == 0) return;
  NODELLM_CHECK(x.dtype == DType::F32, "softcap works on float32 logits, not ", dtype_name(x.dtype));
  NODELLM_CHECK(cap > 0.0f, "softcap: the cap must be positive, not ", cap);
  launch_chained("softcap", softcap_kernel, dim3(blocks_for(n)), dim3(kThreads), stream, x.ptr<float>(), x.stride,
                 x.rows, x.cols, cap, 1.0f / cap);
}

void gather_rows(const Tensor& out, const Tensor& x, const Tensor& rows, cudaStream_t stream) {
  if (out.rows == 0) return;
  NODELLM_CHECK(out.dtype == x.dtype, "gather_rows dtypes differ");
  dispatch_float(out.dtype, "gather_rows", [&](auto t) {
    using T = decltype(t);
    launch_chained("gather_rows", gather_rows_kernel<T>, dim3(out.rows), dim3(kThreads), stream, out.ptr<T>(), out.stride,
                   x.ptr<T>(), x.stride, rows.ptr<int32_t>(), out.cols);
  });
}

}  // namespace nodellm::kernels
