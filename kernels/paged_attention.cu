// Causal attention of each new query row over its sequence's paged KV cache.
//
// One block per (query row, KV head, chunk of up to 8 query heads of that KV head, partition of
// the context): the block reads each key and value once for all the query heads that share it
// (grouped-query attention). Each of the 4 warps takes every 4th key of the partition; within a
// warp, lanes split head_dim, so a key row is one coalesced read. Warps keep an online softmax
// (running max, sum, weighted values) and are merged at the end.
//
// That is the per-row kernel (float32, small heads). For 16-bit caches, decode rows take one of
// two bandwidth kernels built on the same plan: on tensor cores at head_dim 64 and 128
// (paged_decode_mma_kernel), with 16-byte lanes at 256 (paged_decode_kernel).
//
// When there are few rows (decode), the context is split into partitions so the GPU has enough
// blocks (flash-decoding): each block writes its partial softmax, and a second kernel merges the
// partitions of each (row, head). With many rows there is one partition per row. Prefill rows go
// to the tensor-core kernel of prefill_attention.cu where it applies.
//
// Sliding windows (Mistral, Gemma 2/3, Qwen 2): a row at position p attends to keys
// max(0, p - window + 1) .. p, a contiguous range like the whole context, so the kernels take it
// as their row's range: partitions split only the window and start at its first key, and no
// block reads a key (or a block-table entry) before it. Nothing is masked key by key, and a long
// context costs what its window does. Soft-capping (Gemma 2) is a template flag: the score
// s * scale becomes cap * tanh(s * scale / cap) before the softmax; off, the loops are as before.
#include <algorithm>
#include <cstdlib>
#include <string>
#include <type_traits>

#include "common/switches.h"
#include "kernels/chain.cuh"
#include "kernels/common.cuh"
#include "kernels/dispatch.cuh"
#include "kernels/launch.h"
#include "kernels/mma.cuh"

namespace nodellm::kernels {
namespace {

constexpr int kWarps = 4;
constexpr int kMaxGroup = 8;

// Partial results of a split context: per (row, head, partition) the running max and sum, and the
// unnormalised weighted values.
struct Partials {
  float* max;    // [rows, heads, partitions]
  float* sum;    // [rows, heads, partitions]
  float* value;  // [rows, heads, partitions, head_dim]
  int partitions;
  int heads;
  int min_keys;  // the fewest keys a partition takes, so one short context is not cut into slivers
  int window;    // the layer's sliding window (0: none); partitions split only a row's window
};

// The first key that a row at `position` attends to.
__device__ __forceinline__ int first_key(int position, int window) {
  return window > 0 ? max(0, position - window + 1) : 0;
}

// The sequence whose new rows contain `row` (query_start is ascending).
__device__ __forceinline__ int sequence_of_row(const int32_t* query_start, int num_seqs, int row) {
  int lo = 0, hi = num_seqs;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (query_start[mid] <= row) lo = mid; else hi = mid;
  }
  return lo;
}

// Keys per partition of a row that attends to `count` keys (its context, or its window). Each row
// splits its own keys into at most `partitions` equal parts of at least min_keys keys, decided here
// on the device so the launch does not depend on the step's contexts (a recorded graph replays it
// as it is).
__device__ __forceinline__ int partition_size(int count, const Partials& p) {
  return max((count + p.partitions - 1) / p.partitions, p.min_keys);
}

// The keys of its sequence's context that a block of the decode kernels covers: its query row
// attends over keys [begin, end) in its partition.
struct BlockKeys {
  int begin, end;
  const int32_t* blocks;  // the sequence's block table
};

// False when the block has nothing to do: its row belongs to a prefill that the tensor-core
// kernel serves (single_row_only), or a short context uses fewer partitions.
__device__ __forceinline__ bool keys_of_block(const int32_t* query_start, const int32_t* seq_lens,
                                              const int32_t* block_tables, int64_t table_stride, int num_seqs,
                                              int row, int partition, bool single_row_only, const Partials& partials,
                                              BlockKeys& keys) {
  const int seq = sequence_of_row(query_start, num_seqs, row);
  const int query_len = query_start[seq + 1] - query_start[seq];
  if (single_row_only && query_len > 1) return false;
  const int position = seq_lens[seq] - query_len + (row - query_start[seq]);
  const int first = first_key(position, partials.window);
  const int per_partition = partition_size(position + 1 - first, partials);
  keys.begin = first + partition * per_partition;
  if (keys.begin > position) return false;
  keys.end = min(position + 1, keys.begin + per_partition);
  keys.blocks = block_tables + seq * table_stride;
  return true;
}

// A block's view of its sequence's block table: the partition's entries staged in shared memory
// once (when they fit), so a key's cache address inside the loop needs no global load that the
// K and V loads then wait on.
constexpr int kTableCap = 256;
struct BlockTable {
  const int32_t* global;  // the sequence's table
  const int32_t* staged;  // its entries from first_block on, in shared memory; nullptr: not staged
  int first_block;
  __device__ __forceinline__ int32_t operator[](int block) const {
    return staged ? staged[block - first_block] : global[block];
  }
};

// Every thread of the block calls it (it synchronises the block when it stages).
__device__ __forceinline__ BlockTable stage_block_table(int32_t* s_table, const BlockKeys& keys, int block_size,
                                                        bool stage) {
  BlockTable table{keys.blocks, nullptr, keys.begin / block_size};
  const int last_block = (keys.end - 1) / block_size;
  if (stage && last_block - table.first_block < kTableCap) {
    for (int i = threadIdx.x; table.first_block + i <= last_block; i += blockDim.x)
      s_table[i] = keys.blocks[table.first_block + i];
    __syncthreads();
    table.staged = s_table;
  }
  return table;
}

// The end of a block of either decode kernel: the warps' partial softmaxes of each head (running
// max, sum and weighted values, in shared memory) are merged; the block writes the output rows, or
// its partition's partial result when the context is split.
template <typename T, int HeadDim>
__device__ void store_block_result(T* out, int64_t out_stride, int row, int first_head, int heads, int partition,
                                   const float (*s_m)[kMaxGroup], const float (*s_l)[kMaxGroup],
                                   const float (*s_acc)[kMaxGroup][HeadDim], const Partials& partials) {
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
    if (partials.partitions == 1) {
      out[row * out_stride + (first_head + g) * HeadDim + d] = from_float<T>(value / sum);
    } else {
      const int64_t at = (static_cast<int64_t>(row) * partials.heads + first_head + g) * partials.partitions + partition;
      if (d == 0) {
        partials.max[at] = max_m;
        partials.sum[at] = sum;
      }
      partials.value[at * HeadDim + d] = value;
    }
  }
}

template <typename T, int HeadDim, bool SoftCap>
__global__ void paged_attention_kernel(T* out, int64_t out_stride, const T* q, int64_t q_stride,
                                       const T* k_cache, const T* v_cache, int64_t cache_stride,
                                       const int32_t* query_start, const int32_t* seq_lens,
                                       const int32_t* block_tables, int64_t table_stride, int num_seqs,
                                       int group, int block_size, float scale, float softcap, int head_chunks,
                                       bool single_row_only, Partials partials) {
  begin_chained_kernel();
  constexpr int kPerLane = HeadDim >= 32 ? HeadDim / 32 : 1;
  const float inv_softcap = SoftCap ? 1.0f / softcap : 0.0f;
  const int row = blockIdx.x, kv_head = blockIdx.y;
  const int chunk = blockIdx.z % head_chunks, partition = blockIdx.z / head_chunks;
  const int first_head = kv_head * group + chunk * kMaxGroup;
  const int heads = min(kMaxGroup, group - chunk * kMaxGroup);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const bool active = lane * kPerLane < HeadDim;

  BlockKeys keys;
  if (!keys_of_block(query_start, seq_lens, block_tables, table_stride, num_seqs, row, partition, single_row_only,
                     partials, keys))
    return;
  const int key_begin = keys.begin, key_end = keys.end;
  const int32_t* blocks = keys.blocks;

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

  for (int j = key_begin + warp; j < key_end; j += kWarps) {
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
      float s = warp_sum(dot);
      if constexpr (SoftCap) s = softcap_value(s, softcap, inv_softcap);
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
  store_block_result<T, HeadDim>(out, out_stride, row, first_head, heads, partition, s_m, s_l, s_acc, partials);
}

// Keys each lane of paged_decode_kernel keeps in flight; eight heads' values already fill the
// registers at two.
__host__ __device__ constexpr int decode_unroll(int group) { return group >= 8 ? 2 : 4; }

// The decode kernel for 16-bit caches with head_dim 64, 128 or 256, built for memory bandwidth:
// a key's head slice is read by D/8 lanes with 16-byte loads (so a warp reads 32/(D/8) keys per
// load instruction, whole cache lines), each lane keeps kUnroll keys' K and V loads in flight, and
// the softmax is updated once per chunk of keys rather than per key. Group is the number of query
// heads served by one pass over the KV head (a power of two up to 8; `heads` may be fewer). Each
// warp has two chunks of keys in flight: the next one's loads go out before this one is scored.
template <typename T, int HeadDim, int Group, bool SoftCap>
__global__ void __launch_bounds__(kWarps * 32, Group >= 8 ? 2 : 3)  // 3 blocks an SM: 12 warps of loads in flight
paged_decode_kernel(T* out, int64_t out_stride, const T* q, int64_t q_stride, const T* k_cache, const T* v_cache,
                    int64_t cache_stride, const int32_t* query_start, const int32_t* seq_lens,
                    const int32_t* block_tables, int64_t table_stride, int num_seqs, int group, int block_size,
                    float scale, float softcap, int head_chunks, bool single_row_only, bool stage_table,
                    Partials partials) {
  begin_chained_kernel();
  constexpr int kLanesPerKey = HeadDim / 8;
  constexpr int kKeysPerLoad = 32 / kLanesPerKey;
  constexpr int kUnroll = decode_unroll(Group);
  constexpr int kChunk = kKeysPerLoad * kUnroll;  // keys per warp per iteration
  const float inv_softcap = SoftCap ? 1.0f / softcap : 0.0f;
  const int row = blockIdx.x, kv_head = blockIdx.y;
  const int chunk = blockIdx.z % head_chunks, partition = blockIdx.z / head_chunks;
  const int first_head = kv_head * group + chunk * Group;
  const int heads = min(Group, group - chunk * Group);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int key_lane = lane % kLanesPerKey, key_slot = lane / kLanesPerKey;

  BlockKeys keys;
  if (!keys_of_block(query_start, seq_lens, block_tables, table_stride, num_seqs, row, partition, single_row_only,
                     partials, keys))
    return;
  const int key_begin = keys.begin, key_end = keys.end;
  __shared__ int32_t s_table[kTableCap];
  const BlockTable table = stage_block_table(s_table, keys, block_size, stage_table);

  // This lane's 8 dimensions of each query head, pre-scaled.
  float qv[Group][8];
#pragma unroll
  for (int g = 0; g < Group; ++g) {
    if (g < heads) {
      const uint4 raw = *reinterpret_cast<const uint4*>(q + row * q_stride + (first_head + g) * HeadDim + key_lane * 8);
      const T* h = reinterpret_cast<const T*>(&raw);
#pragma unroll
      for (int e = 0; e < 8; ++e) qv[g][e] = to_float(h[e]) * scale;
    } else {
#pragma unroll
      for (int e = 0; e < 8; ++e) qv[g][e] = 0.0f;
    }
  }
  float m[Group], l[Group], acc[Group][8];
#pragma unroll
  for (int g = 0; g < Group; ++g) {
    m[g] = -INFINITY;
    l[g] = 0.0f;
#pragma unroll
    for (int e = 0; e < 8; ++e) acc[g][e] = 0.0f;
  }

  // This lane's K and V slices of a chunk's keys (zeros past the partition's end).
  auto load_chunk = [&](int base, uint4 (&kr)[kUnroll], uint4 (&vr)[kUnroll]) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int j = base + u * kKeysPerLoad + key_slot;
      kr[u] = vr[u] = make_uint4(0, 0, 0, 0);
      if (j < key_end) {
        const int64_t slot = static_cast<int64_t>(table[j / block_size]) * block_size + j % block_size;
        const int64_t at = slot * cache_stride + kv_head * HeadDim + key_lane * 8;
        kr[u] = *reinterpret_cast<const uint4*>(k_cache + at);
        vr[u] = *reinterpret_cast<const uint4*>(v_cache + at);
      }
    }
  };
  // Two chunks in flight: the next chunk's block-table lookups and loads are issued before this
  // chunk's scores are computed.
  constexpr int kStride = kWarps * kChunk;
  uint4 kr[kUnroll], vr[kUnroll], k_next[kUnroll], v_next[kUnroll];
  if (key_begin + warp * kChunk < key_end) load_chunk(key_begin + warp * kChunk, kr, vr);
  for (int base = key_begin + warp * kChunk; base < key_end; base += kStride) {
    if (base + kStride < key_end) load_chunk(base + kStride, k_next, v_next);
    // Scores: partial dot products over this lane's 8 dims, summed over the key's lanes.
    float sc[kUnroll][Group];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const T* kh = reinterpret_cast<const T*>(&kr[u]);
      float kf[8];
#pragma unroll
      for (int e = 0; e < 8; ++e) kf[e] = to_float(kh[e]);
      const bool valid = base + u * kKeysPerLoad + key_slot < key_end;
#pragma unroll
      for (int g = 0; g < Group; ++g) {
        float dot = 0.0f;
#pragma unroll
        for (int e = 0; e < 8; ++e) dot += qv[g][e] * kf[e];
#pragma unroll
        for (int offset = kLanesPerKey / 2; offset > 0; offset >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, offset);
        if constexpr (SoftCap) dot = softcap_value(dot, softcap, inv_softcap);
        sc[u][g] = valid ? dot : -INFINITY;
      }
    }
    // One softmax update per head for the warp's whole chunk. Key base + 0 is always valid, so
    // the chunk's maximum is finite.
#pragma unroll
    for (int g = 0; g < Group; ++g) {
      float chunk_max = sc[0][g];
#pragma unroll
      for (int u = 1; u < kUnroll; ++u) chunk_max = fmaxf(chunk_max, sc[u][g]);
#pragma unroll
      for (int offset = kLanesPerKey; offset < 32; offset <<= 1)
        chunk_max = fmaxf(chunk_max, __shfl_xor_sync(0xffffffffu, chunk_max, offset));
      const float m_new = fmaxf(m[g], chunk_max);
      const float correction = __expf(m[g] - m_new);
      m[g] = m_new;
      float p_sum = 0.0f;
#pragma unroll
      for (int e = 0; e < 8; ++e) acc[g][e] *= correction;
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const float p = __expf(sc[u][g] - m_new);
        p_sum += p;
        const T* vh = reinterpret_cast<const T*>(&vr[u]);
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[g][e] += p * to_float(vh[e]);
      }
      l[g] = l[g] * correction + p_sum;
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      kr[u] = k_next[u];
      vr[u] = v_next[u];
    }
  }

  // The key slots of a warp share m; add up their sums and values.
#pragma unroll
  for (int offset = kLanesPerKey; offset < 32; offset <<= 1) {
#pragma unroll
    for (int g = 0; g < Group; ++g) {
      l[g] += __shfl_xor_sync(0xffffffffu, l[g], offset);
#pragma unroll
      for (int e = 0; e < 8; ++e) acc[g][e] += __shfl_xor_sync(0xffffffffu, acc[g][e], offset);
    }
  }
  __shared__ float s_m[kWarps][kMaxGroup], s_l[kWarps][kMaxGroup];
  __shared__ float s_acc[kWarps][kMaxGroup][HeadDim];
#pragma unroll
  for (int g = 0; g < Group; ++g) {
    if (g >= heads) break;
    if (lane == 0) {
      s_m[warp][g] = m[g];
      s_l[warp][g] = l[g];
    }
    if (key_slot == 0)
#pragma unroll
      for (int e = 0; e < 8; ++e) s_acc[warp][g][key_lane * 8 + e] = acc[g][e];
  }
  __syncthreads();
  store_block_result<T, HeadDim>(out, out_stride, row, first_head, heads, partition, s_m, s_l, s_acc, partials);
}

// The decode kernel on tensor cores, for 16-bit caches with head_dim 64 or 128: per 16 keys a warp
// computes the scores of up to 8 query heads of one KV head as S^T = K Q^T (keys as mma rows, heads
// as columns) and the values as O^T += V^T P^T (head_dim as rows), so a key costs a few mma
// instructions instead of a lane's dot products, shuffles and conversions; the kernel then waits on
// memory, not on issue. Each warp takes every kWarps-th tile of 16 keys of its partition.
//
// Layouts (mma.cuh gives the fragments; g = lane / 4, t = lane % 4). The sum over head_dim and the
// order of the output's dims are free to permute, so each lane's cache reads are whole 16-byte
// pieces, and each load instruction covers whole 32-byte sectors:
//   - K, A of S^T (16 keys x 16 dims per k-step): lane (g, t) reads keys g and g+8, its u-th piece
//     being dims u*32 + t*8 .. +8. k-step s takes piece s/2, words 2(s%2) (A's columns 2t, 2t+1)
//     and 2(s%2)+1 (columns 2t+8, 2t+9). Q, B of S^T, is read in the same layout for head g.
//   - V, A of O^T (16 dims x 16 keys): lane (g, t) reads keys 2t, 2t+1, 2t+8, 2t+9, its pieces
//     being dims u*64 + g*8 .. +8. Word w of piece u holds the dims of m-tile i = 4u + w, rows g
//     (low half) and g+8 (high half); one byte permute pairs the same dim of two keys.
//   - P^T, B of O^T: S^T's C fragment (keys g, g+8 x heads 2t, 2t+1), packed and transposed in
//     registers (movmatrix) into (keys 2t, 2t+1 / 2t+8, 2t+9 x head g).
template <typename T, int HeadDim, bool SoftCap>
__global__ void __launch_bounds__(kWarps * 32, HeadDim == 128 ? 3 : 4)
paged_decode_mma_kernel(T* out, int64_t out_stride, const T* q, int64_t q_stride, const T* k_cache, const T* v_cache,
                        int64_t cache_stride, const int32_t* query_start, const int32_t* seq_lens,
                        const int32_t* block_tables, int64_t table_stride, int num_seqs, int group, int block_size,
                        float scale, float softcap, int head_chunks, bool single_row_only, Partials partials) {
  static_assert(HeadDim == 64 || HeadDim == 128, "head_dim 64 or 128");
  begin_chained_kernel();
  constexpr int kPieces = HeadDim / 32;   // 16-byte pieces of a K row a lane reads
  constexpr int kVPieces = HeadDim / 64;  // of a V row
  constexpr int kMTiles = HeadDim / 16;   // of O^T
  constexpr int kTile = 16;
  const int row = blockIdx.x, kv_head = blockIdx.y;
  const int chunk = blockIdx.z % head_chunks, partition = blockIdx.z / head_chunks;
  const int first_head = kv_head * group + chunk * kMaxGroup;
  const int heads = min(kMaxGroup, group - chunk * kMaxGroup);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;

  BlockKeys keys;
  if (!keys_of_block(query_start, seq_lens, block_tables, table_stride, num_seqs, row, partition, single_row_only,
                     partials, keys))
    return;
  const int key_begin = keys.begin, key_end = keys.end;
  __shared__ int32_t s_table[kTableCap];
  const BlockTable table = stage_block_table(s_table, keys, block_size, true);
  // Where key j's row of this KV head starts in either cache.
  auto row_of = [&](int j) -> int64_t {
    return (static_cast<int64_t>(table[j / block_size]) * block_size + j % block_size) * cache_stride + kv_head * HeadDim;
  };

  // B of S^T: head g's query in K's layout (zeros for the pass's missing heads).
  uint4 qb[kPieces];
#pragma unroll
  for (int u = 0; u < kPieces; ++u)
    qb[u] = g < heads ? *reinterpret_cast<const uint4*>(q + row * q_stride + (first_head + g) * HeadDim + u * 32 + t * 8)
                      : make_uint4(0, 0, 0, 0);

  float o[kMTiles][4];
#pragma unroll
  for (int i = 0; i < kMTiles; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};  // heads 2t and 2t+1; l over this lane's keys
  const float scale_log2 = scale * 1.4426950408889634f;

  for (int base = key_begin + warp * kTile; base < key_end; base += kWarps * kTile) {
    // K rows of keys g and g+8; V rows of keys 2t, 2t+1, 2t+8, 2t+9 (zeros past the end).
    uint4 kr[2][kPieces], vr[4][kVPieces];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int j = base + g + 8 * r;
      const bool valid = j < key_end;
      const int64_t at = valid ? row_of(j) : 0;
#pragma unroll
      for (int u = 0; u < kPieces; ++u)
        kr[r][u] = valid ? *reinterpret_cast<const uint4*>(k_cache + at + u * 32 + t * 8) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const int j = base + 2 * t + (r & 1) + 8 * (r >> 1);
      const bool valid = j < key_end;
      const int64_t at = valid ? row_of(j) : 0;
#pragma unroll
      for (int u = 0; u < kVPieces; ++u)
        vr[r][u] = valid ? *reinterpret_cast<const uint4*>(v_cache + at + u * 64 + g * 8) : make_uint4(0, 0, 0, 0);
    }

    // S^T: rows keys g, g+8; columns heads 2t, 2t+1.
    float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
    for (int step = 0; step < HeadDim / 16; ++step) {
      const uint32_t* k0 = reinterpret_cast<const uint32_t*>(&kr[0][step / 2]) + 2 * (step % 2);
      const uint32_t* k1 = reinterpret_cast<const uint32_t*>(&kr[1][step / 2]) + 2 * (step % 2);
      const uint32_t* qw = reinterpret_cast<const uint32_t*>(&qb[step / 2]) + 2 * (step % 2);
      const uint32_t a[4] = {k0[0], k1[0], k0[1], k1[1]};
      const uint32_t b[2] = {qw[0], qw[1]};
      mma_16816<T>(s, a, b);
    }
    const bool valid0 = base + g < key_end, valid1 = base + g + 8 < key_end;
    if constexpr (SoftCap) {  // cap * tanh(s * scale / cap), in base 2
      const float inv_cap = 1.0f / softcap, cap_log2 = softcap * 1.4426950408889634f;
#pragma unroll
      for (int e = 0; e < 4; ++e) s[e] = (e < 2 ? valid0 : valid1) ? cap_log2 * tanh_precise(s[e] * scale * inv_cap) : -INFINITY;
    } else {
      s[0] = valid0 ? s[0] * scale_log2 : -INFINITY;
      s[1] = valid0 ? s[1] * scale_log2 : -INFINITY;
      s[2] = valid1 ? s[2] * scale_log2 : -INFINITY;
      s[3] = valid1 ? s[3] * scale_log2 : -INFINITY;
    }

    // Online softmax per head (column); key `base` is valid, so each column's maximum is finite.
    float p[4];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float tile_max = fmaxf(s[h], s[2 + h]);
#pragma unroll
      for (int offset = 4; offset < 32; offset <<= 1)
        tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, offset));
      const float m_new = fmaxf(m[h], tile_max);
      const float correction = exp2f(m[h] - m_new);
      m[h] = m_new;
      p[h] = exp2f(s[h] - m_new);
      p[2 + h] = exp2f(s[2 + h] - m_new);
      l[h] = l[h] * correction + p[h] + p[2 + h];
#pragma unroll
      for (int i = 0; i < kMTiles; ++i) {
        o[i][h] *= correction;
        o[i][2 + h] *= correction;
      }
    }
    const uint32_t pb[2] = {transpose_8x8(pack2<T>(p[0], p[1])), transpose_8x8(pack2<T>(p[2], p[3]))};

    // O^T += V^T P^T, one m-tile of 16 dims at a time.
#pragma unroll
    for (int i = 0; i < kMTiles; ++i) {
      const uint32_t w0 = reinterpret_cast<const uint32_t*>(&vr[0][i / 4])[i % 4];
      const uint32_t w1 = reinterpret_cast<const uint32_t*>(&vr[1][i / 4])[i % 4];
      const uint32_t w2 = reinterpret_cast<const uint32_t*>(&vr[2][i / 4])[i % 4];
      const uint32_t w3 = reinterpret_cast<const uint32_t*>(&vr[3][i / 4])[i % 4];
      const uint32_t a[4] = {__byte_perm(w0, w1, 0x5410), __byte_perm(w0, w1, 0x7632), __byte_perm(w2, w3, 0x5410),
                             __byte_perm(w2, w3, 0x7632)};
      mma_16816<T>(o[i], a, pb);
    }
  }

  // The lanes of a column (same t) hold different keys' sums.
#pragma unroll
  for (int h = 0; h < 2; ++h)
#pragma unroll
    for (int offset = 4; offset < 32; offset <<= 1) l[h] += __shfl_xor_sync(0xffffffffu, l[h], offset);
  __shared__ float s_m[kWarps][kMaxGroup], s_l[kWarps][kMaxGroup];
  __shared__ float s_acc[kWarps][kMaxGroup][HeadDim];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int head = 2 * t + h;
    if (head >= heads) continue;
    if (g == 0) {
      s_m[warp][head] = m[h] * 0.6931471805599453f;  // back from base 2 for the merges
      s_l[warp][head] = l[h];
    }
#pragma unroll
    for (int i = 0; i < kMTiles; ++i) {
      const int dim = (i / 4) * 64 + g * 8 + 2 * (i % 4);
      s_acc[warp][head][dim] = o[i][h];
      s_acc[warp][head][dim + 1] = o[i][2 + h];
    }
  }
  __syncthreads();
  store_block_result<T, HeadDim>(out, out_stride, row, first_head, heads, partition, s_m, s_l, s_acc, partials);
}

// Merges the partitions of each (row, head): one block per pair, threads over head_dim.
template <typename T, int HeadDim>
__global__ void merge_partitions_kernel(T* out, int64_t out_stride, const int32_t* query_start,
                                        const int32_t* seq_lens, int num_seqs, bool single_row_only,
                                        Partials partials) {
  begin_chained_kernel();
  const int row = blockIdx.x, head = blockIdx.y;
  const int seq = sequence_of_row(query_start, num_seqs, row);
  const int query_len = query_start[seq + 1] - query_start[seq];
  if (single_row_only && query_len > 1) return;
  const int position = seq_lens[seq] - query_len + (row - query_start[seq]);
  const int count = position + 1 - first_key(position, partials.window);
  const int used = (count - 1) / partition_size(count, partials) + 1;
  const int64_t base = (static_cast<int64_t>(row) * partials.heads + head) * partials.partitions;
  float max_m = -INFINITY;
  for (int p = 0; p < used; ++p) max_m = fmaxf(max_m, partials.max[base + p]);
  for (int d = threadIdx.x; d < HeadDim; d += blockDim.x) {
    float sum = 0.0f, value = 0.0f;
    for (int p = 0; p < used; ++p) {
      const float f = __expf(partials.max[base + p] - max_m);
      sum += partials.sum[base + p] * f;
      value += partials.value[(base + p) * HeadDim + d] * f;
    }
    out[row * out_stride + head * HeadDim + d] = from_float<T>(value / sum);
  }
}

// Query heads per pass over a KV head in paged_decode_kernel: a power of two covering the group
// (up to 8; larger groups take several passes).
int heads_per_pass(int group) { return group == 1 ? 1 : group == 2 ? 2 : group <= 4 ? 4 : 8; }

template <typename F>
void with_heads_per_pass(int group, F&& f) {
  switch (heads_per_pass(group)) {
    case 1: f(std::integral_constant<int, 1>{}); break;
    case 2: f(std::integral_constant<int, 2>{}); break;
    case 4: f(std::integral_constant<int, 4>{}); break;
    default: f(std::integral_constant<int, 8>{}); break;
  }
}

// Which decode kernel serves a step's single rows. By default the tensor-core kernel where it
// applies (16-bit caches, head_dim 64 or 128), else the lane kernel (16-bit, head_dim 256), else
// the per-row one. NODELLM_DECODE_ATTENTION=lanes or =simt forces the lane or per-row kernel where
// the tensor-core one would run (for comparisons); read once.
enum class DecodeKernel { Mma, Lanes, Simt };
DecodeKernel decode_kernel_forced() {
  const std::string& name = switches().decode_attention;
  return name == "lanes" ? DecodeKernel::Lanes : name == "simt" ? DecodeKernel::Simt : DecodeKernel::Mma;
}

// Blocks a step's decode attention aims for per SM before it splits contexts further (the
// bandwidth kernel; NODELLM_DECODE_BLOCKS_PER_SM, 1 to 32, for comparisons); read once.
int decode_blocks_per_sm() {
  return switches().decode_blocks_per_sm;
}

// The most partitions a context is split into: 32, because merging 64 partials cost more than
// the extra split gained (one 4096-token context: 0.024 against 0.032 ms on an H200).
// NODELLM_DECODE_MAX_PARTITIONS (1 to 64) for comparisons; read once.
int decode_max_partitions() {
  return switches().decode_max_partitions;
}

// The fewest keys a partition of a split context takes (NODELLM_DECODE_MIN_KEYS, 16 to 4096, for
// comparisons; the default, kernel_default, is the kernel's own), so one short context is not
// cut into slivers whose merge costs more than the split gains; read once.
int decode_min_keys(int kernel_default) {
  const int forced = switches().decode_min_keys;
  return forced ? forced : kernel_default;
}

// NODELLM_DECODE_TABLE=global: the bandwidth kernel reads block-table entries from global memory in
// its loop instead of staging the partition's entries in shared memory (for comparisons); read once.
bool decode_table_staged() {
  return switches().decode_table_staged;
}

// Keys that all warps of a paged_decode_kernel block take in one pass over the context (heads:
// the query heads of its pass, heads_per_pass()).
constexpr int decode_block_keys(int head_dim, int heads) {
  return kWarps * (32 / (head_dim / 8)) * decode_unroll(heads);
}

// Calls f(std::bool_constant<on>): a kernel's soft-capping flag from the layer's cap.
template <typename F>
void with_softcap(float softcap, F&& f) {
  if (softcap > 0.0f) f(std::true_type{});
  else f(std::false_type{});
}

template <typename T, int HeadDim>
void launch(const Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
            const AttentionBatch& b, const AttentionScratch& scratch, bool single_row_only,
            cudaStream_t stream) {
  NODELLM_CHECK(b.sliding_window >= 0 && b.softcap >= 0.0f, "paged_attention: sliding_window ", b.sliding_window,
                " and softcap ", b.softcap, " must not be negative");
  const int group = b.num_heads / b.num_kv_heads;
  constexpr bool k16 = !std::is_same_v<T, float>;
  DecodeKernel kind = k16 && (HeadDim == 64 || HeadDim == 128) ? DecodeKernel::Mma
                      : k16 && HeadDim >= 64                  ? DecodeKernel::Lanes
                                                              : DecodeKernel::Simt;
  if (kind != DecodeKernel::Simt && decode_kernel_forced() != DecodeKernel::Mma) kind = decode_kernel_forced();
  const int per_pass = kind == DecodeKernel::Lanes ? heads_per_pass(group) : kMaxGroup;
  const int head_chunks = (group + per_pass - 1) / per_pass;
  // The fewest keys a partition takes. Tensor cores: one pass of the block (64 keys): batch-1
  // decode at 128 to 384 tokens of context was 1% faster than with two passes (128 keys), and 3%
  // faster than with 256. Lanes: two passes of the block: one short context (batch-1 decode) cut
  // into 64 slivers of a few keys cost more in merging than the split gained.
  const int min_keys = kind == DecodeKernel::Mma     ? decode_min_keys(kWarps * 16)
                       : kind == DecodeKernel::Lanes ? decode_min_keys(2 * decode_block_keys(HeadDim, per_pass))
                                                     : 1;
  // Enough blocks to keep every SM's loads in flight: split the contexts when rows are few. The
  // count depends only on the number of rows (and the layer's window), so a recorded graph and an
  // eager step compute the same sums.
  const int64_t blocks = q.rows * b.num_kv_heads * head_chunks;
  const int64_t target = (kind != DecodeKernel::Simt ? decode_blocks_per_sm() : 2) * scratch.multiprocessors;
  int partitions = static_cast<int>(std::min<int64_t>((target + blocks - 1) / blocks, decode_max_partitions()));
  // A sliding window caps every row's keys, so no more partitions than its keys fill are launched.
  if (b.sliding_window > 0) partitions = std::min(partitions, (b.sliding_window + min_keys - 1) / min_keys);
  partitions = std::max(1, std::min(partitions, scratch.max_partitions(q.rows, b.num_heads, HeadDim)));
  if (!scratch.split_contexts) partitions = 1;
  const Partials partials{scratch.max, scratch.sum, scratch.value, partitions, b.num_heads, min_keys, b.sliding_window};
  dim3 grid(static_cast<unsigned>(q.rows), b.num_kv_heads, head_chunks * partitions);
  with_softcap(b.softcap, [&](auto cap) {
    constexpr bool kSoftCap = decltype(cap)::value;
    if constexpr (k16 && (HeadDim == 64 || HeadDim == 128)) {
      if (kind == DecodeKernel::Mma) {
        launch_chained("paged_attention", paged_decode_mma_kernel<T, HeadDim, kSoftCap>, grid, dim3(kWarps * 32), stream,
                       out.ptr<T>(), out.stride, q.ptr<T>(), q.stride, k_cache.ptr<T>(), v_cache.ptr<T>(),
                       k_cache.stride, b.query_start.ptr<int32_t>(), b.seq_lens.ptr<int32_t>(),
                       b.block_tables.ptr<int32_t>(), b.block_tables.stride, b.num_seqs, group, b.block_size, b.scale,
                       b.softcap, head_chunks, single_row_only, partials);
      }
    }
    if constexpr (k16 && HeadDim >= 64) {
      if (kind == DecodeKernel::Lanes) {
        with_heads_per_pass(group, [&](auto g) {
          constexpr int kGroup = decltype(g)::value;
          launch_chained("paged_attention", paged_decode_kernel<T, HeadDim, kGroup, kSoftCap>, grid, dim3(kWarps * 32),
                         stream, out.ptr<T>(), out.stride, q.ptr<T>(), q.stride, k_cache.ptr<T>(), v_cache.ptr<T>(),
                         k_cache.stride, b.query_start.ptr<int32_t>(), b.seq_lens.ptr<int32_t>(),
                         b.block_tables.ptr<int32_t>(), b.block_tables.stride, b.num_seqs, group, b.block_size,
                         b.scale, b.softcap, head_chunks, single_row_only, decode_table_staged(), partials);
        });
      }
    }
    if (kind == DecodeKernel::Simt) {
      launch_chained("paged_attention", paged_attention_kernel<T, HeadDim, kSoftCap>, grid, dim3(kWarps * 32), stream,
                     out.ptr<T>(), out.stride, q.ptr<T>(), q.stride, k_cache.ptr<T>(), v_cache.ptr<T>(), k_cache.stride,
                     b.query_start.ptr<int32_t>(), b.seq_lens.ptr<int32_t>(), b.block_tables.ptr<int32_t>(),
                     b.block_tables.stride, b.num_seqs, group, b.block_size, b.scale, b.softcap, head_chunks,
                     single_row_only, partials);
    }
  });
  if (partitions > 1) {
    launch_chained("merge_partitions", merge_partitions_kernel<T, HeadDim>,
                   dim3(static_cast<unsigned>(q.rows), b.num_heads), dim3(std::min(HeadDim, 128)), stream,
                   out.ptr<T>(), out.stride, b.query_start.ptr<int32_t>(), b.seq_lens.ptr<int32_t>(), b.num_seqs,
                   single_row_only, partials);
  }
}

}  // namespace

void paged_attention(const Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                     const AttentionBatch& batch, const AttentionScratch& scratch, cudaStream_t stream) {
  if (q.rows == 0) return;
  // Sequences with several new rows go to the tensor-core kernel where it applies; this kernel
  // then serves only the single-row (decode) sequences of the step.
  const bool prefill_on_tensor_cores = prefill_attention_applies(q, batch);
  if (prefill_on_tensor_cores) prefill_attention(out, q, k_cache, v_cache, batch, stream);
  const bool s = prefill_on_tensor_cores;
  dispatch_float(q.dtype, "paged_attention", [&](auto t) {
    using T = decltype(t);
    switch (batch.head_dim) {
      case 8: launch<T, 8>(out, q, k_cache, v_cache, batch, scratch, s, stream); break;
      case 16: launch<T, 16>(out, q, k_cache, v_cache, batch, scratch, s, stream); break;
      case 32: launch<T, 32>(out, q, k_cache, v_cache, batch, scratch, s, stream); break;
      case 64: launch<T, 64>(out, q, k_cache, v_cache, batch, scratch, s, stream); break;
      case 128: launch<T, 128>(out, q, k_cache, v_cache, batch, scratch, s, stream); break;
      case 256: launch<T, 256>(out, q, k_cache, v_cache, batch, scratch, s, stream); break;
      default: fail("paged_attention: head_dim ", batch.head_dim, " is not supported (8, 16, 32, 64, 128, 256)");
    }
  });
}

}  // namespace nodellm::kernels
