// Causal attention of prompt (prefill) rows over the paged KV cache on tensor cores, in the
// manner of FlashAttention-2: one block per (sequence, tile of 64 new rows, query head), four
// warps of 16 rows each. The block walks the sequence's keys in tiles of 64, gathered from the
// paged cache (any block size, scattered blocks) into shared memory, so the keys of earlier
// chunks of a chunked prefill are read exactly as the chunk's own. Scores S = Q K^T and the
// output O += P V are mma.sync m16n8k16 products (16-bit inputs, float32 accumulation); the
// softmax is online, in base 2, per row, with causal masking. Tiles above the diagonal are never
// loaded. head_dim 64, 128 and 256 (Gemma); at 256 a key tile is 32 keys, so the tiles stay in
// 48 KB of static shared memory and the scores beside the 16 x 256 output in registers.
//
// Sliding windows (Mistral, Gemma 2/3, Qwen 2): a row at position p sees keys p - window + 1 .. p;
// the block starts at the key tile holding its first row's first key (tiles left of every row's
// window are never loaded) and masks keys left of each row's window. Soft-capping (Gemma 2): the
// scaled score becomes cap * tanh(score / cap) before the softmax. Both are template flags, so
// the plain causal kernel is as it was.
//
// Sequences with a single new row (decodes) are left to the paged decode kernel, which reads
// each key once for all the query heads of a KV head; a mixed step launches both.
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "common/switches.h"
#include "kernels/common.cuh"
#include "kernels/launch.h"
#include "kernels/mma.cuh"

namespace nodellm::kernels {
namespace {

constexpr int kRowsPerTile = 64;  // 4 warps x 16 rows
constexpr int kThreads = 128;
// Keys per K/V tile: 64, and 32 at head_dim 256 (K and V tiles of 64 keys would take 70 KB of
// shared memory, and the scores of 64 keys 16 more registers beside the 128 of the output).
template <int HeadDim>
__host__ __device__ constexpr int keys_per_tile() { return HeadDim == 256 ? 32 : 64; }
constexpr int kPad = 8;  // 16 bytes of padding per shared row: conflict-free fragment loads

// In the fragment layouts of kernels/mma.cuh, K stored [key][dim] is B for S = Q K^T as it is; V
// is stored transposed, [dim][key], to be B for O = P V. S's C fragments of two adjacent 8-key
// tiles are exactly P's A fragment.
template <typename T, int HeadDim, bool Window, bool SoftCap>
__global__ void __launch_bounds__(kThreads)
prefill_attention_kernel(T* out, int64_t out_stride, const T* q, int64_t q_stride, const T* k_cache,
                         const T* v_cache, int64_t cache_stride, const int32_t* query_start,
                         const int32_t* seq_lens, const int32_t* block_tables, int64_t table_stride,
                         int group, int block_size, float scale, int row_tiles, int window, float softcap) {
  constexpr int kKeysPerTile = keys_per_tile<HeadDim>();
  __shared__ __align__(16) T k_tile[kKeysPerTile][HeadDim + kPad];
  __shared__ __align__(16) T v_tile[HeadDim][kKeysPerTile + kPad];  // transposed

  const int seq = blockIdx.x / row_tiles, tile = blockIdx.x % row_tiles;
  const int head = blockIdx.y, kv_head = head / group;
  const int q_begin = query_start[seq];
  const int query_len = query_start[seq + 1] - q_begin;
  if (query_len <= 1 || tile * kRowsPerTile >= query_len) return;
  const int first_position = seq_lens[seq] - query_len;  // of the sequence's first new row
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;

  // This thread's two rows (g and g+8 of its warp's 16). Rows past the end of the sequence's new
  // tokens compute a copy of the last row and are not stored.
  const int r0 = tile * kRowsPerTile + warp * 16 + g, r1 = r0 + 8;
  const int row0 = min(r0, query_len - 1), row1 = min(r1, query_len - 1);
  const int pos0 = first_position + row0, pos1 = first_position + row1;

  uint32_t qf[HeadDim / 16][4];
  {
    const T* q0 = q + static_cast<int64_t>(q_begin + row0) * q_stride + head * HeadDim;
    const T* q1 = q + static_cast<int64_t>(q_begin + row1) * q_stride + head * HeadDim;
#pragma unroll
    for (int kk = 0; kk < HeadDim / 16; ++kk) {
      qf[kk][0] = load2(q0 + kk * 16 + 2 * t);
      qf[kk][1] = load2(q1 + kk * 16 + 2 * t);
      qf[kk][2] = load2(q0 + kk * 16 + 8 + 2 * t);
      qf[kk][3] = load2(q1 + kk * 16 + 8 + 2 * t);
    }
  }

  float o[HeadDim / 8][4];
#pragma unroll
  for (int n = 0; n < HeadDim / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;
  const float scale_log2 = scale * 1.4426950408889634f;
  // Soft-capping: s -> cap * tanh(s * scale / cap), then into base 2.
  const float cap_inv_scale = SoftCap ? scale / softcap : 0.0f, cap_log2 = softcap * 1.4426950408889634f;
  // With a window, the first key each of this thread's rows sees (keys before it are masked).
  const int lo0 = Window ? pos0 - window + 1 : 0, lo1 = Window ? pos1 - window + 1 : 0;

  // Keys [key_begin, key_end) are seen by some row of this tile: with a window, the tile's first
  // row sees keys from its position - window + 1 on, and every later row from further right.
  const int last_row = min((tile + 1) * kRowsPerTile, query_len) - 1;
  const int key_end = first_position + last_row + 1;
  const int key_begin = Window ? max(0, first_position + tile * kRowsPerTile - window + 1) : 0;
  const int32_t* blocks = block_tables + seq * table_stride;
  constexpr int kChunks = HeadDim / 8;  // 16-byte pieces of a key's head slice

  for (int k0 = key_begin - key_begin % kKeysPerTile; k0 < key_end; k0 += kKeysPerTile) {
    __syncthreads();  // every warp is done with the previous tile
    // Lanes take consecutive keys of one 16-byte piece, so the transposed stores of V are
    // conflict-free; the other pieces of the same rows come from L1.
    for (int c = threadIdx.x; c < kKeysPerTile * kChunks; c += kThreads) {
      const int key = c % kKeysPerTile, piece = c / kKeysPerTile;
      const int j = k0 + key;
      uint4 kv = make_uint4(0, 0, 0, 0), vv = make_uint4(0, 0, 0, 0);
      // Keys left of every row's window are never read (their blocks may be gone).
      if (j < key_end && (!Window || j >= key_begin)) {
        const int64_t slot = static_cast<int64_t>(blocks[j / block_size]) * block_size + j % block_size;
        const int64_t at = slot * cache_stride + kv_head * HeadDim + piece * 8;
        kv = *reinterpret_cast<const uint4*>(k_cache + at);
        vv = *reinterpret_cast<const uint4*>(v_cache + at);
      }
      *reinterpret_cast<uint4*>(&k_tile[key][piece * 8]) = kv;
      const T* ve = reinterpret_cast<const T*>(&vv);
#pragma unroll
      for (int e = 0; e < 8; ++e) v_tile[piece * 8 + e][key] = ve[e];
    }
    __syncthreads();

    float s[kKeysPerTile / 8][4];
#pragma unroll
    for (int n = 0; n < kKeysPerTile / 8; ++n) {
      s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
      for (int kk = 0; kk < HeadDim / 16; ++kk) {
        const uint32_t b[2] = {load2(&k_tile[n * 8 + g][kk * 16 + 2 * t]),
                               load2(&k_tile[n * 8 + g][kk * 16 + 8 + 2 * t])};
        mma_16816<T>(s[n], qf[kk], b);
      }
    }

    // Causal mask (and the window's), then the online softmax of rows g (entries 0, 1) and g+8
    // (entries 2, 3).
    float max0 = m0, max1 = m1;
#pragma unroll
    for (int n = 0; n < kKeysPerTile / 8; ++n) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int key = k0 + n * 8 + 2 * t + e;
        const bool in0 = key <= pos0 && (!Window || key >= lo0), in1 = key <= pos1 && (!Window || key >= lo1);
        if constexpr (SoftCap) {
          s[n][e] = in0 ? cap_log2 * tanh_precise(s[n][e] * cap_inv_scale) : -INFINITY;
          s[n][2 + e] = in1 ? cap_log2 * tanh_precise(s[n][2 + e] * cap_inv_scale) : -INFINITY;
        } else {
          s[n][e] = in0 ? s[n][e] * scale_log2 : -INFINITY;
          s[n][2 + e] = in1 ? s[n][2 + e] * scale_log2 : -INFINITY;
        }
        max0 = fmaxf(max0, s[n][e]);
        max1 = fmaxf(max1, s[n][2 + e]);
      }
    }
    // The four lanes of a quad hold the same two rows.
    max0 = fmaxf(max0, __shfl_xor_sync(0xffffffffu, max0, 1));
    max0 = fmaxf(max0, __shfl_xor_sync(0xffffffffu, max0, 2));
    max1 = fmaxf(max1, __shfl_xor_sync(0xffffffffu, max1, 1));
    max1 = fmaxf(max1, __shfl_xor_sync(0xffffffffu, max1, 2));
    // Without a window key 0 is in every row's context, so after the first tile both maxima are
    // finite. With one, a row may have seen no key yet (its window starts right of the tiles so
    // far): its maximum is still -inf, and it subtracts 0 instead, so its correction and
    // probabilities are exp2(-inf) = 0 rather than NaN.
    const float base0 = Window && max0 == -INFINITY ? 0.0f : max0;
    const float base1 = Window && max1 == -INFINITY ? 0.0f : max1;
    const float c0 = exp2f(m0 - base0), c1 = exp2f(m1 - base1);
    m0 = max0;
    m1 = max1;
    float sum0 = 0.0f, sum1 = 0.0f;
#pragma unroll
    for (int n = 0; n < kKeysPerTile / 8; ++n) {
      s[n][0] = exp2f(s[n][0] - base0);
      s[n][1] = exp2f(s[n][1] - base0);
      s[n][2] = exp2f(s[n][2] - base1);
      s[n][3] = exp2f(s[n][3] - base1);
      sum0 += s[n][0] + s[n][1];
      sum1 += s[n][2] + s[n][3];
    }
    l0 = l0 * c0 + sum0;  // this lane's columns only; the quad is summed at the end
    l1 = l1 * c1 + sum1;
#pragma unroll
    for (int n = 0; n < HeadDim / 8; ++n) {
      o[n][0] *= c0;
      o[n][1] *= c0;
      o[n][2] *= c1;
      o[n][3] *= c1;
    }

#pragma unroll
    for (int kk = 0; kk < kKeysPerTile / 16; ++kk) {
      const uint32_t a[4] = {pack2<T>(s[2 * kk][0], s[2 * kk][1]), pack2<T>(s[2 * kk][2], s[2 * kk][3]),
                             pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                             pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int n = 0; n < HeadDim / 8; ++n) {
        const uint32_t b[2] = {load2(&v_tile[n * 8 + g][kk * 16 + 2 * t]),
                               load2(&v_tile[n * 8 + g][kk * 16 + 8 + 2 * t])};
        mma_16816<T>(o[n], a, b);
      }
    }
  }

  l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
  l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
  const float inv0 = 1.0f / l0, inv1 = 1.0f / l1;
  T* out0 = out + static_cast<int64_t>(q_begin + r0) * out_stride + head * HeadDim;
  T* out1 = out + static_cast<int64_t>(q_begin + r1) * out_stride + head * HeadDim;
#pragma unroll
  for (int n = 0; n < HeadDim / 8; ++n) {
    if (r0 < query_len)
      *reinterpret_cast<uint32_t*>(out0 + n * 8 + 2 * t) = pack2<T>(o[n][0] * inv0, o[n][1] * inv0);
    if (r1 < query_len)
      *reinterpret_cast<uint32_t*>(out1 + n * 8 + 2 * t) = pack2<T>(o[n][2] * inv1, o[n][3] * inv1);
  }
}

template <typename T, int HeadDim>
void launch(const Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
            const AttentionBatch& b, cudaStream_t stream) {
  NODELLM_CHECK(b.sliding_window >= 0 && b.softcap >= 0.0f, "prefill_attention: sliding_window ", b.sliding_window,
                " and softcap ", b.softcap, " must not be negative");
  const int row_tiles = (b.max_query_len + kRowsPerTile - 1) / kRowsPerTile;
  const dim3 grid(static_cast<unsigned>(b.num_seqs * row_tiles), b.num_heads);
  auto run = [&](auto window, auto softcap) {
    prefill_attention_kernel<T, HeadDim, decltype(window)::value, decltype(softcap)::value><<<grid, kThreads, 0, stream>>>(
        out.ptr<T>(), out.stride, q.ptr<T>(), q.stride, k_cache.ptr<T>(), v_cache.ptr<T>(), k_cache.stride,
        b.query_start.ptr<int32_t>(), b.seq_lens.ptr<int32_t>(), b.block_tables.ptr<int32_t>(),
        b.block_tables.stride, b.num_heads / b.num_kv_heads, b.block_size, b.scale, row_tiles, b.sliding_window,
        b.softcap);
  };
  const bool window = b.sliding_window > 0, softcap = b.softcap > 0.0f;
  if (!window && !softcap) run(std::false_type{}, std::false_type{});
  else if (window && !softcap) run(std::true_type{}, std::false_type{});
  else if (!window && softcap) run(std::false_type{}, std::true_type{});
  else run(std::true_type{}, std::true_type{});
  check_launch("prefill_attention");
}

// NODELLM_PREFILL_ATTENTION=simt keeps prefill rows on the per-row kernel (for comparisons).
bool tensor_cores_enabled() {
  return switches().prefill_tensor_cores;
}

}  // namespace

bool prefill_attention_applies(const Tensor& q, const AttentionBatch& batch) {
  return batch.max_query_len > 1 && (q.dtype == DType::BF16 || q.dtype == DType::F16) &&
         (batch.head_dim == 64 || batch.head_dim == 128 || batch.head_dim == 256) && tensor_cores_enabled();
}

void prefill_attention(const Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                       const AttentionBatch& batch, cudaStream_t stream) {
  const bool bf16 = q.dtype == DType::BF16;
  switch (batch.head_dim) {
    case 64:
      bf16 ? launch<__nv_bfloat16, 64>(out, q, k_cache, v_cache, batch, stream)
           : launch<__half, 64>(out, q, k_cache, v_cache, batch, stream);
      break;
    case 128:
      bf16 ? launch<__nv_bfloat16, 128>(out, q, k_cache, v_cache, batch, stream)
           : launch<__half, 128>(out, q, k_cache, v_cache, batch, stream);
      break;
    case 256:
      bf16 ? launch<__nv_bfloat16, 256>(out, q, k_cache, v_cache, batch, stream)
           : launch<__half, 256>(out, q, k_cache, v_cache, batch, stream);
      break;
    default: fail("prefill_attention: head_dim ", batch.head_dim, " is not supported (64, 128, 256)");
  }
}

}  // namespace nodellm::kernels
