// Causal attention of each new query row over its sequence's paged KV cache.
//
// One block per (query row, KV head, chunk of up to 8 query heads of that KV head): the block
// reads each key and value once for all the query heads that share it (grouped-query attention).
// Each of the 4 warps takes every 4th key; within a warp, lanes split head_dim, so a key row is
// one coalesced read. Warps keep an online softmax (running max, sum, weighted values) and are
// merged at the end. This is the correct, general version; the flash-decoding split over long
// contexts and the tensor-core prefill come next (see kernels/README.md).
#include "kernels/common.cuh"
#include "kernels/dispatch.cuh"
#include "kernels/launch.h"

namespace nodellm::kernels {
namespace {

constexpr int kWarps = 4;
constexpr int kMaxGroup = 8;

template <typename T, int HeadDim>
__global__ void paged_attention_kernel(T* out, int64_t out_stride, const T* q, int64_t q_stride,
                                       const T* k_cache, const T* v_cache, int64_t cache_stride,
                                       const int32_t* query_start, const int32_t* seq_lens,
                                       const int32_t* block_tables, int64_t table_stride, int num_seqs,
                                       int group, int block_size, float scale) {
  constexpr int kPerLane = HeadDim >= 32 ? HeadDim / 32 : 1;
  const int row = blockIdx.x, kv_head = blockIdx.y;
  const int first_head = kv_head * group + blockIdx.z * kMaxGroup;
  const int heads = min(kMaxGroup, group - static_cast<int>(blockIdx.z) * kMaxGroup);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const bool active = lane * kPerLane < HeadDim;

  // The sequence whose new rows contain `row`.
  int lo = 0, hi = num_seqs;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (query_start[mid] <= row) lo = mid; else hi = mid;
  }
  const int seq = lo;
  const int query_len = query_start[seq + 1] - query_start[seq];
  const int position = seq_lens[seq] - query_len + (row - query_start[seq]);
  const int32_t* blocks = block_tables + seq * table_stride;

  float qv[kMaxGroup][kPerLane];
  for (int g = 0; g < kMaxGroup; ++g)
    for (int i = 0; i < kPerLane; ++i)
      qv[g][i] = (g < heads && active) ? to_float(q[row * q_stride + (first_head + g) * HeadDim + lane * kPerLane + i]) * scale : 0.0f;

  float m[kMaxGroup], l[kMaxGroup], acc[kMaxGroup][kPerLane];
  for (int g = 0; g < kMaxGroup; ++g) {
    m[g] = -INFINITY;
    l[g] = 0.0f;
    for (int i = 0; i < kPerLane; ++i) acc[g][i] = 0.0f;
  }

  for (int j = warp; j <= position; j += kWarps) {
    const int64_t slot = static_cast<int64_t>(blocks[j / block_size]) * block_size + j % block_size;
    const int64_t base = slot * cache_stride + kv_head * HeadDim + lane * kPerLane;
    float kv[kPerLane], vv[kPerLane];
    for (int i = 0; i < kPerLane; ++i) {
      kv[i] = active ? to_float(k_cache[base + i]) : 0.0f;
      vv[i] = active ? to_float(v_cache[base + i]) : 0.0f;
    }
    for (int g = 0; g < kMaxGroup; ++g) {
      if (g >= heads) break;
      float dot = 0.0f;
      for (int i = 0; i < kPerLane; ++i) dot += qv[g][i] * kv[i];
      const float s = warp_sum(dot);
      const float m_new = fmaxf(m[g], s);
      const float correction = __expf(m[g] - m_new);
      const float p = __expf(s - m_new);
      l[g] = l[g] * correction + p;
      for (int i = 0; i < kPerLane; ++i) acc[g][i] = acc[g][i] * correction + p * vv[i];
      m[g] = m_new;
    }
  }

  // Merge the warps' partial softmaxes.
  __shared__ float s_m[kWarps][kMaxGroup], s_l[kWarps][kMaxGroup];
  __shared__ float s_acc[kWarps][kMaxGroup][HeadDim];
  for (int g = 0; g < heads; ++g) {
    if (lane == 0) {
      s_m[warp][g] = m[g];
      s_l[warp][g] = l[g];
    }
    if (active)
      for (int i = 0; i < kPerLane; ++i) s_acc[warp][g][lane * kPerLane + i] = acc[g][i];
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < heads * HeadDim; idx += blockDim.x) {
    const int g = idx / HeadDim, d = idx % HeadDim;
    float max_m = -INFINITY;
    for (int w = 0; w < kWarps; ++w) max_m = fmaxf(max_m, s_m[w][g]);
    float sum = 0.0f, value = 0.0f;
    for (int w = 0; w < kWarps; ++w) {
      if (s_m[w][g] == -INFINITY) continue;
      const float f = __expf(s_m[w][g] - max_m);
      sum += s_l[w][g] * f;
      value += s_acc[w][g][d] * f;
    }
    out[row * out_stride + (first_head + g) * HeadDim + d] = from_float<T>(value / sum);
  }
}

template <typename T, int HeadDim>
void launch(const Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
            const AttentionBatch& b, cudaStream_t stream) {
  const int group = b.num_heads / b.num_kv_heads;
  dim3 grid(static_cast<unsigned>(q.rows), b.num_kv_heads, (group + kMaxGroup - 1) / kMaxGroup);
  paged_attention_kernel<T, HeadDim><<<grid, kWarps * 32, 0, stream>>>(
      out.ptr<T>(), out.stride, q.ptr<T>(), q.stride, k_cache.ptr<T>(), v_cache.ptr<T>(), k_cache.stride,
      b.query_start.ptr<int32_t>(), b.seq_lens.ptr<int32_t>(), b.block_tables.ptr<int32_t>(),
      b.block_tables.stride, b.num_seqs, group, b.block_size, b.scale);
}

}  // namespace

void paged_attention(const Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                     const AttentionBatch& batch, cudaStream_t stream) {
  if (q.rows == 0) return;
  dispatch_float(q.dtype, "paged_attention", [&](auto t) {
    using T = decltype(t);
    switch (batch.head_dim) {
      case 8: launch<T, 8>(out, q, k_cache, v_cache, batch, stream); break;
      case 16: launch<T, 16>(out, q, k_cache, v_cache, batch, stream); break;
      case 32: launch<T, 32>(out, q, k_cache, v_cache, batch, stream); break;
      case 64: launch<T, 64>(out, q, k_cache, v_cache, batch, stream); break;
      case 128: launch<T, 128>(out, q, k_cache, v_cache, batch, stream); break;
      case 256: launch<T, 256>(out, q, k_cache, v_cache, batch, stream); break;
      default: fail("paged_attention: head_dim ", batch.head_dim, " is not supported (8, 16, 32, 64, 128, 256)");
    }
  });
  check_launch("paged_attention");
}

}  // namespace nodellm::kernels
