// Linear layers of a few rows (decode at small batch): out[m, n] = sum_k x[m, k] * W[n, k] for
// up to 8 rows, on CUDA cores; the backend sends it one-row layers (gemv_max_rows()), where it
// beats cuBLASLt on every Llama-3-8B shape (kernels/README.md). At one row a linear layer is a
// read of its weights, and what counts is keeping the memory busy: two warps compute one output
// feature (four share a long row), its lanes read the weight row in batches of 16-byte
// streaming loads (4 a lane at one row, 8 at more; kernels/gemv.cuh), and the next batch is in
// flight while the current one is multiplied.
// Launches are chained (kernels/chain.cuh), and since no kernel writes weights, a warp issues its
// first batch before it waits for the kernels before it: the weight stream starts while they
// finish. Products are summed in float32, per lane in order along k, then across the warp (and
// the warps of a row in a fixed order).
#include <cstdlib>

#include "common/switches.h"
#include "kernels/chain.cuh"
#include "kernels/common.cuh"
#include "kernels/dispatch.cuh"
#include "kernels/gemv.cuh"
#include "kernels/launch.h"

namespace nodellm::kernels {
namespace {

using namespace gemv_detail;
constexpr int kMaxRows = 8;

// A block of kWarps warps computes kWarps / warps_per_row output features; the warps of one
// feature split its row into equal parts.
template <typename T, typename Out, int Rows, int Loads>
__global__ void __launch_bounds__(kWarps * 32, min_blocks_for(Loads))
gemv_kernel(Out* out, int64_t out_stride, const T* x, int64_t x_stride, const T* w, int64_t w_stride, int n_out,
            int chunks, int warps_per_row) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int n = blockIdx.x * (kWarps / warps_per_row) + warp / warps_per_row;
  const int part = warp % warps_per_row, part_chunks = (chunks + warps_per_row - 1) / warps_per_row;
  const int begin = part * part_chunks, end = min(chunks, begin + part_chunks);
  const bool active = n < n_out;
  const uint4* wr = reinterpret_cast<const uint4*>(w + static_cast<int64_t>(active ? n : 0) * w_stride);
  uint4 current[Loads];
  if (active) load_batch(current, wr, begin + lane, end);
  begin_chained_kernel();  // x is written by the kernels before this one

  float acc[Rows];
  accumulate<T, Rows, Loads>(acc, current, wr, begin, end, lane, active,
                      [&](int r) { return reinterpret_cast<const uint4*>(x + r * x_stride); });
  if (warps_per_row == 1) {
#pragma unroll
    for (int r = 0; r < Rows; ++r)
      if (active && lane == r) out[r * out_stride + n] = from_float<Out>(acc[r]);
    return;
  }
  __shared__ float partial[Rows][kWarps];
  if (lane == 0)
#pragma unroll
    for (int r = 0; r < Rows; ++r) partial[r][warp] = acc[r];
  __syncthreads();
  if (active && part == 0 && lane < Rows)
    out[lane * out_stride + n] = from_float<Out>(parts_total(partial[lane], warp, warps_per_row));
}

template <typename T, typename Out>
void launch(const Tensor& out, const Tensor& x, const Tensor& w, cudaStream_t stream) {
  const int n = static_cast<int>(w.rows), chunks = static_cast<int>(x.cols / 8);
  const int parts = warps_per_row(chunks), features_per_block = kWarps / parts;
  const dim3 grid((n + features_per_block - 1) / features_per_block);
  auto run = [&](auto rows) {
    launch_chained("gemv", gemv_kernel<T, Out, decltype(rows)::value, kLoads>, grid, dim3(kWarps * 32), stream,
                   out.ptr<Out>(), out.stride, x.ptr<T>(), x.stride, w.ptr<T>(), w.stride, n, chunks, parts);
  };
  switch (x.rows) {
    case 1:
      with_one_row_loads([&](auto loads) {
        launch_chained("gemv", gemv_kernel<T, Out, 1, decltype(loads)::value>, grid, dim3(kWarps * 32), stream,
                       out.ptr<Out>(), out.stride, x.ptr<T>(), x.stride, w.ptr<T>(), w.stride, n, chunks, parts);
      });
      break;
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

int gemv_detail::one_row_loads() {
  const int n = switches().gemv_loads;
  return n != 0 ? n : kOneRowLoads;
}

int gemv_detail::min_warps_per_row() {
  return switches().gemv_warps_per_row;
}

int gemv_max_rows() {
  // NODELLM_GEMV_MAX_ROWS (0 to 8) moves the switch to cuBLASLt, for comparisons; read once.
  const int rows = switches().gemv_max_rows;
  return rows >= 0 ? std::min(kMaxRows, rows) : kDefaultGemvMaxRows;
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
