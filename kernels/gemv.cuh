// The pieces of the CUDA-core GEMV shared by the plain kernel (gemv.cu) and the one-row kernels
// that go on to their layer's next step (gemv_epilogues.cu): the warps of one output feature (2,
// or 4 for a long row) split its row, their lanes read it in batches of 16-byte streaming loads,
// and the next batch is in flight while the current one is multiplied. Both kernels sum in the
// same order, so an epilogue sees the bits the plain GEMV would have written.
#pragma once
#include <type_traits>

#include "kernels/common.cuh"

namespace nodellm::kernels::gemv_detail {

constexpr int kWarps = 4;
// 16-byte weight loads per lane in one batch. Several rows take 8. One row takes 4 by default
// (NODELLM_GEMV_LOADS=8 or 2 for comparisons) with at least 8 blocks an SM, so more of a small
// layer's blocks are resident at once and its last wave is shorter: on an H200, batch-1 decode of
// the Llama-3-8B shape went from 219.3 to 227.6 tok/s (medians of three interleaved runs), the
// 4096 x 4096 projection from 11.8 to 10.0 us.
constexpr int kLoads = 8;
constexpr int kOneRowLoads = 4;

// Blocks an SM that a kernel with a batch of `loads` asks the compiler to fit (0: no minimum).
constexpr int min_blocks_for(int loads) { return loads >= 8 ? 0 : loads == 4 ? 8 : 12; }

// The batch size of one-row launches: kOneRowLoads unless NODELLM_GEMV_LOADS says 2 or 8; read once.
int one_row_loads();

// Calls f(std::integral_constant<int, loads>) for the one-row batch size in use.
template <typename F>
void with_one_row_loads(F&& f) {
  switch (one_row_loads()) {
    case 2: f(std::integral_constant<int, 2>{}); break;
    case 8: f(std::integral_constant<int, 8>{}); break;
    default: f(std::integral_constant<int, kOneRowLoads>{}); break;
  }
}

template <typename T>
__device__ __forceinline__ void to_floats(const uint4& v, float (&f)[8]) {
  const T* h = reinterpret_cast<const T*>(&v);
#pragma unroll
  for (int e = 0; e < 8; ++e) f[e] = to_float(h[e]);
}

// One batch of a lane's weight chunks: base, base + 32, ... (zeros past the row's end). Weights
// are read once per step: stream them past the caches (evict first).
template <int Loads>
__device__ __forceinline__ void load_batch(uint4 (&wv)[Loads], const uint4* row, int base, int chunks) {
#pragma unroll
  for (int u = 0; u < Loads; ++u) {
    const int c = base + u * 32;
    wv[u] = c < chunks ? __ldcs(row + c) : make_uint4(0, 0, 0, 0);
  }
}

// The fewest warps per output feature: 2 (NODELLM_GEMV_WARPS_PER_ROW=1 or 4 for comparisons); read once.
int min_warps_per_row();

// Warps per output feature: at least 2, and up to 512 chunks (8 KB of 16-bit weights) per warp;
// long rows (a down projection's 14336) take 4, so no warp runs long enough to leave the GPU
// waiting on a last wave of slow blocks. A 4096-wide row over 2 warps rather than 1 (each lane
// then reads 2 batches of loads instead of 4) shortens the small projections' ramp: batch-1 decode
// of the Llama-3-8B shape on an H200, interleaved, 243.1 / 242.8 -> 246.3 / 246.0 tok/s in one run
// and 240.4 / 239.9 -> 241.2 / 240.7 in another (4 warps: 240.4 / 239.4, slower).
inline int warps_per_row(int chunks) {
  const int warps = chunks > 1024 ? 4 : chunks > 512 ? 2 : 1;
  return warps > min_warps_per_row() ? warps : min_warps_per_row();
}

// This lane's part of the dot products of Rows input rows with one weight row, over chunks
// [begin, end) of 8 values, the lane taking begin + lane, + 32, ...; `current` holds the first
// batch of weights, already loaded. x_row(r) points at input row r's chunks, read through the
// read-only cache (every warp reads all of x).
template <typename T, int Rows, int Loads, typename XRow>
__device__ __forceinline__ void accumulate(float (&acc)[Rows], uint4 (&current)[Loads], const uint4* wr, int begin,
                                           int end, int lane, bool active, XRow x_row) {
  constexpr int kStep = 32 * Loads;
  uint4 next[Loads];
#pragma unroll
  for (int r = 0; r < Rows; ++r) acc[r] = 0.0f;
  for (int base = begin + lane; active && base < end; base += kStep) {
    if (base + kStep < end) load_batch(next, wr, base + kStep, end);  // the batch after this one
#pragma unroll
    for (int r = 0; r < Rows; ++r) {
      const uint4* xr = x_row(r);
      uint4 xv[Loads];
#pragma unroll
      for (int u = 0; u < Loads; ++u) xv[u] = base + u * 32 < end ? __ldg(xr + base + u * 32) : make_uint4(0, 0, 0, 0);
#pragma unroll
      for (int u = 0; u < Loads; ++u) {
        float wf[8], xf[8];
        to_floats<T>(current[u], wf);
        to_floats<T>(xv[u], xf);
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[r] = fmaf(wf[e], xf[e], acc[r]);
      }
    }
#pragma unroll
    for (int u = 0; u < Loads; ++u) current[u] = next[u];
  }
#pragma unroll
  for (int r = 0; r < Rows; ++r) acc[r] = warp_sum(acc[r]);
}

// The total of a feature whose row is split over `parts` warps starting at `first_warp`: the
// parts add up in a fixed order (part 0, 1, ...). partial[w] holds warp w's sum.
__device__ __forceinline__ float parts_total(const float* partial, int first_warp, int parts) {
  float total = 0.0f;
  for (int p = 0; p < parts; ++p) total += partial[first_warp + p];
  return total;
}

}  // namespace nodellm::kernels::gemv_detail
