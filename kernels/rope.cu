// Rotary embedding in place on q and k (neox style: the two halves of each head's rotary part
// rotate together), from the [max_pos, rotary_dim] cos|sin table. rotary_dim (the table's
// columns) may be less than head_dim (partial_rotary_factor, Phi-3 / Phi-4-mini): then the first
// rotary_dim dims of each head rotate, pairing j with j + rotary_dim / 2, and the rest pass
// through. One block per token; threads over (head, pair).
#include <type_traits>

#include "kernels/chain.cuh"
#include "kernels/common.cuh"
#include "kernels/dispatch.cuh"
#include "kernels/launch.h"

namespace nodellm::kernels {
namespace {

// The rotary half-width: the table's columns over 2, after checking they fit the heads.
int rotary_half(const char* name, const Tensor& cos_sin, int head_dim) {
  NODELLM_CHECK(cos_sin.dtype == DType::F32, name, ": the cos|sin table is float32");
  NODELLM_CHECK(head_dim > 0 && cos_sin.cols > 0 && cos_sin.cols % 2 == 0 && cos_sin.cols <= head_dim, name,
                ": a cos|sin table of ", cos_sin.cols, " columns does not fit heads of ", head_dim);
  return static_cast<int>(cos_sin.cols / 2);
}

// Rotates the first 2 * half dims of each head of a row (table: the position's cos | sin).
template <typename T>
__device__ void rotate(T* x, int64_t cols, const float* table, int head_dim, int half) {
  const int pairs = static_cast<int>(cols / head_dim) * half;
  for (int i = threadIdx.x; i < pairs; i += blockDim.x) {
    const int head = i / half, j = i % half;
    T* h = x + head * head_dim;
    const float c = table[j], s = table[half + j];
    float r1, r2;
    rotate_pair(to_float(h[j]), to_float(h[j + half]), c, s, r1, r2);
    h[j] = from_float<T>(r1);
    h[j + half] = from_float<T>(r2);
  }
}

// Rotates q and k of a token, and writes its k and v rows into the KV cache: one launch instead of
// two for every layer of a step.
template <typename T>
__global__ void rope_kv_write_kernel(T* q, int64_t q_stride, int64_t q_cols, T* k, int64_t k_stride, int64_t k_cols,
                                     const T* v, int64_t v_stride, const int32_t* positions, const float* table,
                                     int64_t table_stride, int head_dim, int half, T* k_cache, T* v_cache,
                                     int64_t cache_stride, const int32_t* slots) {
  begin_chained_kernel();
  const int64_t row = blockIdx.x;
  const float* t = table + static_cast<int64_t>(positions[row]) * table_stride;
  rotate(q + row * q_stride, q_cols, t, head_dim, half);
  rotate(k + row * k_stride, k_cols, t, head_dim, half);
  __syncthreads();  // the rotated k row is read back below by other threads
  const int64_t slot = slots[row];
  for (int64_t c = threadIdx.x; c < k_cols; c += blockDim.x) {
    k_cache[slot * cache_stride + c] = k[row * k_stride + c];
    v_cache[slot * cache_stride + c] = v[row * v_stride + c];
  }
}

// The same with 16-byte accesses, for heads whose rotary halves split into 8-wide chunks (head_dim
// and rotary_dim multiples of 16): each thread takes one unit of work, a rotary chunk of a q head,
// a rotary chunk of a k head (rotated and written to the cache from registers), a pass-through
// chunk of a k head (copied to the cache; q's stay as they are), or a chunk of v, and issues all
// its loads at once. With rotary_dim == head_dim there are no pass-through units.
template <typename T>
__global__ void rope_kv_write_vec_kernel(T* __restrict__ q, int64_t q_stride, int q_heads, T* __restrict__ k,
                                         int64_t k_stride, int kv_heads, const T* __restrict__ v, int64_t v_stride,
                                         const int32_t* __restrict__ positions, const float* __restrict__ table,
                                         int64_t table_stride, int head_dim, int half, T* __restrict__ k_cache,
                                         T* __restrict__ v_cache, int64_t cache_stride,
                                         const int32_t* __restrict__ slots) {
  begin_chained_kernel();
  const int64_t row = blockIdx.x;
  const int rot_units = half / 8, pass_units = (head_dim - 2 * half) / 8, k_per_head = rot_units + pass_units;
  const int q_units = q_heads * rot_units, k_units = kv_heads * k_per_head, v_units = kv_heads * head_dim / 8;
  const float* t = table + static_cast<int64_t>(positions[row]) * table_stride;
  const int64_t slot = slots[row];
  for (int u = threadIdx.x; u < q_units + k_units + v_units; u += blockDim.x) {
    if (u >= q_units + k_units) {  // a chunk of v: straight into the cache
      const int c = (u - q_units - k_units) * 8;
      *reinterpret_cast<uint4*>(v_cache + slot * cache_stride + c) =
          *reinterpret_cast<const uint4*>(v + row * v_stride + c);
      continue;
    }
    const bool is_q = u < q_units;
    const int unit = is_q ? u : u - q_units;
    const int per_head = is_q ? rot_units : k_per_head;
    const int head = unit / per_head, w = unit % per_head;
    if (w >= rot_units) {  // a pass-through chunk of k: into the cache as it is
      const int at = head * head_dim + 2 * half + (w - rot_units) * 8;
      *reinterpret_cast<uint4*>(k_cache + slot * cache_stride + at) =
          *reinterpret_cast<const uint4*>(k + row * k_stride + at);
      continue;
    }
    const int j = w * 8;
    const int at = head * head_dim + j;  // first half; the second is at + half
    T* x = is_q ? q + row * q_stride : k + row * k_stride;
    uint4 lo = *reinterpret_cast<const uint4*>(x + at), hi = *reinterpret_cast<const uint4*>(x + at + half);
    const float4 c0 = *reinterpret_cast<const float4*>(t + j), c1 = *reinterpret_cast<const float4*>(t + j + 4);
    const float4 s0 = *reinterpret_cast<const float4*>(t + half + j), s1 = *reinterpret_cast<const float4*>(t + half + j + 4);
    const float cs[8] = {c0.x, c0.y, c0.z, c0.w, c1.x, c1.y, c1.z, c1.w};
    const float sn[8] = {s0.x, s0.y, s0.z, s0.w, s1.x, s1.y, s1.z, s1.w};
    T* l = reinterpret_cast<T*>(&lo);
    T* h = reinterpret_cast<T*>(&hi);
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      float r1, r2;
      rotate_pair(to_float(l[e]), to_float(h[e]), cs[e], sn[e], r1, r2);
      l[e] = from_float<T>(r1);
      h[e] = from_float<T>(r2);
    }
    *reinterpret_cast<uint4*>(x + at) = lo;
    *reinterpret_cast<uint4*>(x + at + half) = hi;
    if (!is_q) {
      *reinterpret_cast<uint4*>(k_cache + slot * cache_stride + at) = lo;
      *reinterpret_cast<uint4*>(k_cache + slot * cache_stride + at + half) = hi;
    }
  }
}

template <typename T>
__global__ void rope_kernel(T* q, int64_t q_stride, int64_t q_cols, T* k, int64_t k_stride, int64_t k_cols,
                            const int32_t* positions, const float* table, int64_t table_stride, int head_dim, int half) {
  begin_chained_kernel();
  const int64_t row = blockIdx.x;
  const float* t = table + static_cast<int64_t>(positions[row]) * table_stride;
  rotate(q + row * q_stride, q_cols, t, head_dim, half);
  rotate(k + row * k_stride, k_cols, t, head_dim, half);
}

}  // namespace

void rope_kv_write(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& positions, const Tensor& cos_sin,
                   int head_dim, const Tensor& k_cache, const Tensor& v_cache, const Tensor& slots, cudaStream_t stream) {
  if (q.rows == 0) return;
  NODELLM_CHECK(k.dtype == k_cache.dtype, "rope_kv_write: K and the cache differ in dtype");
  const int half = rotary_half("rope_kv_write", cos_sin, head_dim);
  dispatch_float(q.dtype, "rope_kv_write", [&](auto t) {
    using T = decltype(t);
    if constexpr (!std::is_same_v<T, float>) {
      const bool fits = head_dim % 16 == 0 && half % 8 == 0 && q.stride % 8 == 0 && k.stride % 8 == 0 &&
                        v.stride % 8 == 0 && k_cache.stride % 8 == 0 && cos_sin.stride % 4 == 0 && aligned16(q.data) &&
                        aligned16(k.data) && aligned16(v.data) && aligned16(k_cache.data) && aligned16(v_cache.data) &&
                        aligned16(cos_sin.data) && k.cols == v.cols;
      if (fits) {
        launch_chained("rope_kv_write", rope_kv_write_vec_kernel<T>, dim3(q.rows), dim3(256), stream, q.ptr<T>(),
                       q.stride, static_cast<int>(q.cols / head_dim), k.ptr<T>(), k.stride,
                       static_cast<int>(k.cols / head_dim), v.ptr<T>(), v.stride, positions.ptr<int32_t>(),
                       cos_sin.ptr<float>(), cos_sin.stride, head_dim, half, k_cache.ptr<T>(), v_cache.ptr<T>(),
                       k_cache.stride, slots.ptr<int32_t>());
        return;
      }
    }
    launch_chained("rope_kv_write", rope_kv_write_kernel<T>, dim3(q.rows), dim3(256), stream, q.ptr<T>(), q.stride, q.cols,
                   k.ptr<T>(), k.stride, k.cols, v.ptr<T>(), v.stride, positions.ptr<int32_t>(), cos_sin.ptr<float>(),
                   cos_sin.stride, head_dim, half, k_cache.ptr<T>(), v_cache.ptr<T>(), k_cache.stride,
                   slots.ptr<int32_t>());
  });
}

void rope(const Tensor& q, const Tensor& k, const Tensor& positions, const Tensor& cos_sin, int head_dim,
          cudaStream_t stream) {
  if (q.rows == 0) return;
  const int half = rotary_half("rope", cos_sin, head_dim);
  dispatch_float(q.dtype, "rope", [&](auto t) {
    using T = decltype(t);
    launch_chained("rope", rope_kernel<T>, dim3(q.rows), dim3(256), stream, q.ptr<T>(), q.stride, q.cols, k.ptr<T>(),
                   k.stride, k.cols, positions.ptr<int32_t>(), cos_sin.ptr<float>(), cos_sin.stride, head_dim, half);
  });
}

}  // namespace nodellm::kernels
