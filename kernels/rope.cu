// Rotary embedding in place on q and k (neox style: the two halves of each head rotate together),
// from the [max_pos, head_dim] cos|sin table. One block per token; threads over (head, pair).
#include "kernels/common.cuh"
#include "kernels/dispatch.cuh"
#include "kernels/launch.h"

namespace nodellm::kernels {
namespace {

template <typename T>
__device__ void rotate(T* x, int64_t cols, const float* table, int head_dim) {
  const int half = head_dim / 2;
  const int pairs = static_cast<int>(cols / head_dim) * half;
  for (int i = threadIdx.x; i < pairs; i += blockDim.x) {
    const int head = i / half, j = i % half;
    T* h = x + head * head_dim;
    const float c = table[j], s = table[half + j];
    const float x1 = to_float(h[j]), x2 = to_float(h[j + half]);
    h[j] = from_float<T>(x1 * c - x2 * s);
    h[j + half] = from_float<T>(x2 * c + x1 * s);
  }
}

// Rotates q and k of a token, and writes its k and v rows into the KV cache: one launch instead of
// two for every layer of a step.
template <typename T>
__global__ void rope_kv_write_kernel(T* q, int64_t q_stride, int64_t q_cols, T* k, int64_t k_stride, int64_t k_cols,
                                     const T* v, int64_t v_stride, const int32_t* positions, const float* table,
                                     int head_dim, T* k_cache, T* v_cache, int64_t cache_stride, const int32_t* slots) {
  const int64_t row = blockIdx.x;
  const float* t = table + static_cast<int64_t>(positions[row]) * head_dim;
  rotate(q + row * q_stride, q_cols, t, head_dim);
  rotate(k + row * k_stride, k_cols, t, head_dim);
  __syncthreads();  // the rotated k row is read back below by other threads
  const int64_t slot = slots[row];
  for (int64_t c = threadIdx.x; c < k_cols; c += blockDim.x) {
    k_cache[slot * cache_stride + c] = k[row * k_stride + c];
    v_cache[slot * cache_stride + c] = v[row * v_stride + c];
  }
}

template <typename T>
__global__ void rope_kernel(T* q, int64_t q_stride, int64_t q_cols, T* k, int64_t k_stride, int64_t k_cols,
                            const int32_t* positions, const float* table, int head_dim) {
  const int64_t row = blockIdx.x;
  const float* t = table + static_cast<int64_t>(positions[row]) * head_dim;
  rotate(q + row * q_stride, q_cols, t, head_dim);
  rotate(k + row * k_stride, k_cols, t, head_dim);
}

}  // namespace

void rope_kv_write(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& positions, const Tensor& cos_sin,
                   int head_dim, const Tensor& k_cache, const Tensor& v_cache, const Tensor& slots, cudaStream_t stream) {
  if (q.rows == 0) return;
  NODELLM_CHECK(k.dtype == k_cache.dtype, "rope_kv_write: K and the cache differ in dtype");
  dispatch_float(q.dtype, "rope_kv_write", [&](auto t) {
    using T = decltype(t);
    rope_kv_write_kernel<T><<<q.rows, 256, 0, stream>>>(q.ptr<T>(), q.stride, q.cols, k.ptr<T>(), k.stride, k.cols,
                                                        v.ptr<T>(), v.stride, positions.ptr<int32_t>(), cos_sin.ptr<float>(),
                                                        head_dim, k_cache.ptr<T>(), v_cache.ptr<T>(), k_cache.stride,
                                                        slots.ptr<int32_t>());
  });
  check_launch("rope_kv_write");
}

void rope(const Tensor& q, const Tensor& k, const Tensor& positions, const Tensor& cos_sin, int head_dim,
          cudaStream_t stream) {
  if (q.rows == 0) return;
  dispatch_float(q.dtype, "rope", [&](auto t) {
    using T = decltype(t);
    rope_kernel<T><<<q.rows, 256, 0, stream>>>(q.ptr<T>(), q.stride, q.cols, k.ptr<T>(), k.stride, k.cols,
                                               positions.ptr<int32_t>(), cos_sin.ptr<float>(), head_dim);
  });
  check_launch("rope");
}

}  // namespace nodellm::kernels
