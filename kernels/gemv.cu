// Linear layers of a few rows (decode at small batch): out[m, n] = sum_k x[m, k] * W[n, k] for
// up to 8 rows, on CUDA cores; the backend sends it one-row layers (gemv_max_rows()), where it
// beats cuBLASLt on every Llama-3-8B shape (kernels/README.md). At one row a linear layer is a
// read of its weights, and what counts is keeping the memory busy: one warp computes one output
// feature (four warps share a long row), its lanes read the weight row in batches of kLoads
// 16-byte streaming loads, and the next batch is in flight while the current one is multiplied.
// Launches are chained (kernels/chain.cuh), and since no kernel writes weights, a warp issues its
// first batch before it waits for the kernels before it: the weight stream starts while they
// finish. Products are summed in float32, per lane in order along k, then across the warp (and
// the warps of a row in a fixed order).
#include <cstdlib>

#include "kernels/chain.cuh"
#include "kernels/common.cuh"
#include "kernels/dispatch.cuh"
#include "kernels/launch.h"

namespace nodellm::kernels {
namespace {

constexpr int kWarps = 4;
constexpr int kLoads = 8;  // 16-byte weight loads per lane in one batch
constexpr int kMaxRows = 8;

template <typename T>
__device__ __forceinline__ void to_floats(const uint4& v, float (&f)[8]) {
  const T* h = reinterpret_cast<const T*>(&v);
#pragma unroll
  for (int e = 0; e < 8; ++e) f[e] = to_float(h[e]);
}

// One batch of a lane's weight chunks: base, base + 32, ... (zeros past the row's end). Weights
// are read once per step: stream them past the caches (evict first).
__device__ __forceinline__ void load_batch(uint4 (&wv)[kLoads], const uint4* row, int base, int chunks) {
#pragma unroll
  for (int u = 0; u < kLoads; ++u) {
    const int c = base + u * 32;
    wv[u] = c < chunks ? __ldcs(row + c) : make_uint4(0, 0, 0, 0);
  }
}

// A block of kWarps warps computes kWarps / warps_per_row output features; the warps of one
// feature split its row into equal parts (long rows, e.g. a down projection's 14336, take 4 so
// no warp runs long enough to leave the GPU waiting on a last wave of slow blocks).
template <typename T, typename Out, int Rows>
__global__ void __launch_bounds__(kWarps * 32)
gemv_kernel(Out* out, int64_t out_stride, const T* x, int64_t x_stride, const T* w, int64_t w_stride, int n_out,
            int chunks, int warps_per_row) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int n = blockIdx.x * (kWarps / warps_per_row) + warp / warps_per_row;
  const int part = warp % warps_per_row, part_chunks = (chunks + warps_per_row - 1) / warps_per_row;
  const int begin = part * part_chunks, end = min(chunks, begin + part_chunks);
  const bool active = n < n_out;
  const uint4* wr = reinterpret_cast<const uint4*>(w + static_cast<int64_t>(active ? n : 0) * w_stride);
  constexpr int kStep = 32 * kLoads;
  uint4 current[kLoads], next[kLoads];
  if (active) load_batch(current, wr, begin + lane, end);
  begin_chained_kernel();  // x is written by the kernels before this one

  float acc[Rows];
#pragma unroll
  for (int r = 0; r < Rows; ++r) acc[r] = 0.0f;
  for (int base = begin + lane; active && base < end; base += kStep) {
    if (base + kStep < end) load_batch(next, wr, base + kStep, end);  // the batch after this one
#pragma unroll
    for (int r = 0; r < Rows; ++r) {
      const uint4* xr = reinterpret_cast<const uint4*>(x + r * x_stride);
      uint4 xv[kLoads];
#pragma unroll
      for (int u = 0; u < kLoads; ++u) xv[u] = base + u * 32 < end ? __ldg(xr + base + u * 32) : make_uint4(0, 0, 0, 0);
#pragma unroll
      for (int u = 0; u < kLoads; ++u) {
        float wf[8], xf[8];
        to_floats<T>(current[u], wf);
        to_floats<T>(xv[u], xf);
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[r] = fmaf(wf[e], xf[e], acc[r]);
      }
    }
#pragma unroll
    for (int u = 0; u < kLoads; ++u) current[u] = next[u];
  }
#pragma unroll
  for (int r = 0; r < Rows; ++r) acc[r] = warp_sum(acc[r]);
  if (warps_per_row == 1) {
#pragma unroll
    for (int r = 0; r < Rows; ++r)
      if (active && lane == r) out[r * out_stride + n] = from_float<Out>(acc[r]);
    return;
  }
  // The parts of a row add up in a fixed order (part 0, 1, ...).
  __shared__ float partial[kWarps][Rows];
  if (lane == 0)
#pragma unroll
    for (int r = 0; r < Rows; ++r) partial[warp][r] = acc[r];
  __syncthreads();
  if (active && part == 0 && lane < Rows) {
    float total = 0.0f;
    for (int p = 0; p < warps_per_row; ++p) total += partial[warp + p][lane];
    out[lane * out_stride + n] = from_float<Out>(total);
  }
}

template <typename T, typename Out>
void launch(const Tensor& out, const Tensor& x, const Tensor& w, cudaStream_t stream) {
  const int n = static_cast<int>(w.rows), chunks = static_cast<int>(x.cols / 8);
  // Up to 512 chunks (8 KB of bf16 weights) per warp: two batches of loads.
  const int warps_per_row = chunks > 1024 ? 4 : chunks > 512 ? 2 : 1;
  const int features_per_block = kWarps / warps_per_row;
  const dim3 grid((n + features_per_block - 1) / features_per_block);
  auto run = [&](auto rows) {
    launch_chained("gemv", gemv_kernel<T, Out, decltype(rows)::value>, grid, dim3(kWarps * 32), stream, out.ptr<Out>(),
                   out.stride, x.ptr<T>(), x.stride, w.ptr<T>(), w.stride, n, chunks, warps_per_row);
  };
  switch (x.rows) {
    case 1: run(std::integral_constant<int, 1>{}); break;
    case 2: run(std::integral_constant<int, 2>{}); break;
    case 3: run(std::integral_constant<int, 3>{}); break;
    case 4: run(std::integral_constant<int, 4>{}); break;
    case 5: run(std::integral_constant<int, 5>{}); break;
    case 6: run(std::integral_constant<int, 6>{}); break;
    case 7: run(std::integral_constant<int, 7>{}); break;
    default: run(std::integral_constant<int, 8>{}); break;
  }
}

}  // namespace

int gemv_max_rows() {
  // NODELLM_GEMV_MAX_ROWS (0 to 8) moves the switch to cuBLASLt, for comparisons; read once.
  static const int rows = [] {
    const char* v = std::getenv("NODELLM_GEMV_MAX_ROWS");
    return v ? std::max(0, std::min(kMaxRows, std::atoi(v))) : kDefaultGemvMaxRows;
  }();
  return rows;
}

bool gemv_applies(const Tensor& out, const Tensor& x, const Tensor& w) {
  const bool sixteen_bit = x.dtype == DType::BF16 || x.dtype == DType::F16;
  return x.rows >= 1 && x.rows <= gemv_max_rows() && sixteen_bit && w.dtype == x.dtype &&
         (out.dtype == x.dtype || out.dtype == DType::F32) && x.cols % 8 == 0 && x.stride % 8 == 0 &&
         w.stride % 8 == 0 && aligned16(x.data) && aligned16(w.data) && w.rows < (1ll << 31);
}

void gemv(const Tensor& out, const Tensor& x, const Tensor& w, cudaStream_t stream) {
  dispatch_float(x.dtype, "gemv", [&](auto t) {
    using T = decltype(t);
    if constexpr (!std::is_same_v<T, float>) {
      if (out.dtype == DType::F32) launch<T, float>(out, x, w, stream);
      else launch<T, T>(out, x, w, stream);
    }
  });
}

}  // namespace nodellm::kernels
