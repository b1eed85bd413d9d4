// Would one persistent kernel stream a batch-1 layer's weights faster than the chain of one-row
// GEMV kernels? A probe for the batch-1 decode target (kernels/README.md, "What comes next"),
// run on the GPU machine from the project root:
//   nvcc -std=c++17 -O3 -arch=sm_90a -I native -I . -o /tmp/pgemv scripts/persistent_gemv_probe.cu \
//     kernels/gemv.cu kernels/gemv_epilogues.cu kernels/elementwise.cu native/backend/dtype.cc && /tmp/pgemv
// The four projections of a Llama-3-8B layer at one row (qkv, o, gate_up with SiLU·mul, down),
// four layers with their own weights (1.7 GB, so nothing stays in L2), each projection's input
// the previous one's output; norms, RoPE and attention left out. Timed (medians of 20):
//   - chain: the backend's kernels (gemv, gemv_silu_mul), chained launches, as a decode step runs;
//   - persistent: one cooperative kernel, a block of 16 or 32 warps per multiprocessor, each warp
//     taking whole weight rows (row w, w + warps, ...) read as one stream of batches, so the next
//     row's first loads are in flight while the current row is summed; a grid-wide barrier between
//     projections; with or without the next projection's first batch requested before each
//     barrier, and (16 warps) with batches of 8 loads a lane instead of 4;
//   - barriers only: the same kernel with no rows, i.e. what 15 grid-wide barriers cost.
// This version has not run yet (the fifth session's device time ran out). The first version read
// each row on its own (a pause between rows) and, before each barrier, copied the start of the
// next projection's first row into shared memory (cp.async): 142 to 154 us a layer against 109
// to 110 for the chain, staged or not, with 16 or 32 warps an SM, and 1.7 to 1.9 us a barrier
// (bench/results/persistent-gemv-probe-h200.txt).
#include <cooperative_groups.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "kernels/common.cuh"
#include "kernels/launch.h"
#include "scripts/probe_check.cuh"

namespace cg = cooperative_groups;
using bf16 = __nv_bfloat16;
using nodellm::DType;
using nodellm::Tensor;

constexpr int kHidden = 4096, kQkv = 6144, kInter = 14336, kLayers = 4;

struct Phase {
  const bf16* w;
  const bf16* x;
  bf16* out;
  int rows;       // output features (pairs for SiLU·mul)
  int k;          // input length
  int up_offset;  // SiLU·mul: the up row of feature r is r + up_offset; 0: a plain projection
};

__device__ __forceinline__ float dot8(const uint4& w, const uint4& x) {
  const bf16* a = reinterpret_cast<const bf16*>(&w);
  const bf16* b = reinterpret_cast<const bf16*>(&x);
  float s = 0.0f;
#pragma unroll
  for (int e = 0; e < 8; ++e) s = fmaf(__bfloat162float(a[e]), __bfloat162float(b[e]), s);
  return s;
}


// Batch i of a warp's phase p: its rows, in order, form one stream of batches (for SiLU·mul a
// feature's gate row then its up row), so the next row's first loads are in flight while the
// current row's last batch is multiplied and summed; no warp pauses between rows.
struct Cursor {
  const uint4* row;
  int base;        // first chunk of the batch (lane 0's)
  bool row_end;    // the last batch of its row
  int feature;     // output feature of the row
  bool up;         // the up row of a SiLU·mul pair
};

template <int kLoads>
__device__ __forceinline__ Cursor cursor(const Phase& p, int global_warp, int warps, int i, int batches_per_row) {
  const int rows_per_feature = p.up_offset ? 2 : 1;
  const int row_in_stream = i / batches_per_row, b = i % batches_per_row;
  Cursor c;
  c.feature = global_warp + (row_in_stream / rows_per_feature) * warps;
  c.up = p.up_offset && row_in_stream % 2 == 1;
  const int row = c.feature + (c.up ? p.up_offset : 0);
  c.row = reinterpret_cast<const uint4*>(p.w + static_cast<size_t>(row) * p.k);
  c.base = b * 32 * kLoads;
  c.row_end = b == batches_per_row - 1;
  return c;
}

template <int kLoads>
__device__ __forceinline__ void load(uint4 (&v)[kLoads], const Cursor& c, int lane, int chunks) {
#pragma unroll
  for (int u = 0; u < kLoads; ++u) {
    const int at = c.base + lane + u * 32;
    v[u] = at < chunks ? __ldcs(c.row + at) : make_uint4(0, 0, 0, 0);
  }
}

// The batches of phase p this warp reads (0 when it has no rows there).
__device__ __forceinline__ int stream_length(const Phase& p, int global_warp, int warps, int batches_per_row) {
  const int features = global_warp < p.rows ? (p.rows - global_warp + warps - 1) / warps : 0;
  return features * (p.up_offset ? 2 : 1) * batches_per_row;
}

template <int kLoads>
__device__ __forceinline__ int batches_per_row(const Phase& p) { return (p.k / 8 + 32 * kLoads - 1) / (32 * kLoads); }

// kLoads: 16-byte loads a lane in one batch (two batches in flight). kAhead: before waiting at a barrier, a warp requests the first batch of the next projection's
// weights (which depend on nothing), so the memory streams while the grid waits.
template <int kWarps, bool kAhead, int kLoads>
__global__ void __launch_bounds__(kWarps * 32, 1) persistent_kernel(const Phase* phases, int count) {
  cg::grid_group grid = cg::this_grid();
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int global_warp = blockIdx.x * kWarps + warp, warps = gridDim.x * kWarps;
  uint4 cur[kLoads], nxt[kLoads];
  Cursor c{};
  bool loaded = false;  // cur and c hold this phase's first batch already
  for (int p = 0; p < count; ++p) {
    const Phase ph = phases[p];
    const int chunks = ph.k / 8, per_row = batches_per_row<kLoads>(ph);
    const int total = stream_length(ph, global_warp, warps, per_row);
    const uint4* x = reinterpret_cast<const uint4*>(ph.x);
    if (total > 0 && !loaded) {
      c = cursor<kLoads>(ph, global_warp, warps, 0, per_row);
      load(cur, c, lane, chunks);
    }
    loaded = false;
    float acc = 0.0f, gate = 0.0f;
    for (int i = 0; i < total; ++i) {
      Cursor n{};
      if (i + 1 < total) {
        n = cursor<kLoads>(ph, global_warp, warps, i + 1, per_row);
        load(nxt, n, lane, chunks);
      }
#pragma unroll
      for (int u = 0; u < kLoads; ++u) {
        const int at = c.base + lane + u * 32;
        if (at < chunks) acc += dot8(cur[u], __ldg(x + at));
      }
      if (c.row_end) {
        const float sum = nodellm::kernels::warp_sum(acc);
        acc = 0.0f;
        if (!ph.up_offset) {
          if (lane == 0) ph.out[c.feature] = __float2bfloat16(sum);
        } else if (!c.up) {
          gate = sum;
        } else if (lane == 0) {
          ph.out[c.feature] = __float2bfloat16(gate / (1.0f + __expf(-gate)) * sum);
        }
      }
#pragma unroll
      for (int u = 0; u < kLoads; ++u) cur[u] = nxt[u];
      c = n;
    }
    if (p + 1 < count) {
      if constexpr (kAhead) {
        const Phase next = phases[p + 1];
        const int next_per_row = batches_per_row<kLoads>(next);
        if (stream_length(next, global_warp, warps, next_per_row) > 0) {
          c = cursor<kLoads>(next, global_warp, warps, 0, next_per_row);
          load(cur, c, lane, next.k / 8);
          loaded = true;
        }
      }
      grid.sync();
    }
  }
}

__global__ void fill_kernel(bf16* p, size_t n, unsigned seed) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    unsigned h = static_cast<unsigned>(i) * 2654435761u ^ seed;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    p[i] = __float2bfloat16((static_cast<float>(h & 0xffff) / 65535.0f - 0.5f) * 0.05f);
  }
}

int main() {
  int sms = 0;
  CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  cudaStream_t stream;
  CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  const size_t layer_elems = static_cast<size_t>(kQkv) * kHidden + static_cast<size_t>(kHidden) * kHidden +
                             2ull * kInter * kHidden + static_cast<size_t>(kHidden) * kInter;
  bf16* weights;
  CHECK(cudaMalloc(&weights, layer_elems * kLayers * sizeof(bf16)));
  fill_kernel<<<1024, 256>>>(weights, layer_elems * kLayers, 7u);
  // Activations: x[l] is layer l's input, x[kLayers] the output.
  bf16 *x, *qkv, *o, *act;
  CHECK(cudaMalloc(&x, (kLayers + 1) * kHidden * sizeof(bf16)));
  CHECK(cudaMalloc(&qkv, kQkv * sizeof(bf16)));
  CHECK(cudaMalloc(&o, kHidden * sizeof(bf16)));
  CHECK(cudaMalloc(&act, kInter * sizeof(bf16)));
  fill_kernel<<<16, 256>>>(x, kHidden, 11u);
  CHECK(cudaDeviceSynchronize());

  std::vector<Phase> phases;
  for (int l = 0; l < kLayers; ++l) {
    const bf16* w = weights + l * layer_elems;
    const bf16* wqkv = w;
    const bf16* wo = wqkv + static_cast<size_t>(kQkv) * kHidden;
    const bf16* wgu = wo + static_cast<size_t>(kHidden) * kHidden;
    const bf16* wdown = wgu + 2ull * kInter * kHidden;
    phases.push_back({wqkv, x + l * kHidden, qkv, kQkv, kHidden, 0});
    phases.push_back({wo, qkv, o, kHidden, kHidden, 0});  // o reads q's 4096 columns (attention left out)
    phases.push_back({wgu, o, act, kInter, kHidden, kInter});
    phases.push_back({wdown, act, x + (l + 1) * kHidden, kHidden, kInter, 0});
  }
  Phase* d_phases;
  CHECK(cudaMalloc(&d_phases, phases.size() * sizeof(Phase)));
  CHECK(cudaMemcpy(d_phases, phases.data(), phases.size() * sizeof(Phase), cudaMemcpyHostToDevice));
  std::vector<Phase> empty = phases;
  for (Phase& p : empty) p.rows = 0;
  Phase* d_empty;
  CHECK(cudaMalloc(&d_empty, empty.size() * sizeof(Phase)));
  CHECK(cudaMemcpy(d_empty, empty.data(), empty.size() * sizeof(Phase), cudaMemcpyHostToDevice));

  const size_t smem = 0;
  int per_sm16 = 0, per_sm32 = 0;
  CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm16, persistent_kernel<16, true, 8>, 16 * 32, smem));
  CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm32, persistent_kernel<32, true, 4>, 32 * 32, smem));
  std::printf("%d SMs, persistent blocks an SM: %d of 16 warps, %d of 32 warps\n", sms, per_sm16, per_sm32);

  auto chain = [&] {
    for (int l = 0; l < kLayers; ++l) {
      const Phase* p = &phases[4 * l];
      Tensor xin(const_cast<bf16*>(p[0].x), DType::BF16, 1, kHidden);
      Tensor wq(const_cast<bf16*>(p[0].w), DType::BF16, kQkv, kHidden), tq(qkv, DType::BF16, 1, kQkv);
      nodellm::kernels::gemv(tq, xin, wq, stream);
      Tensor wo(const_cast<bf16*>(p[1].w), DType::BF16, kHidden, kHidden), tattn(qkv, DType::BF16, 1, kHidden),
          to(o, DType::BF16, 1, kHidden);
      nodellm::kernels::gemv(to, tattn, wo, stream);
      Tensor wgu(const_cast<bf16*>(p[2].w), DType::BF16, 2 * kInter, kHidden), tact(act, DType::BF16, 1, kInter);
      nodellm::kernels::gemv_silu_mul(tact, to, wgu, nullptr, stream);
      Tensor wd(const_cast<bf16*>(p[3].w), DType::BF16, kHidden, kInter), tout(p[3].out, DType::BF16, 1, kHidden);
      nodellm::kernels::gemv(tout, tact, wd, stream);
    }
  };
  // A variant: warps an SM, loads a lane in a batch, and whether the next projection's first batch
  // is requested before each barrier.
  struct Variant {
    const char* name;
    void* kernel;
    int warps;
  };
  const Variant variants[] = {
      {"persistent, 16 warps an SM", reinterpret_cast<void*>(persistent_kernel<16, false, 4>), 16},
      {"persistent, 16 warps, next batch before barrier", reinterpret_cast<void*>(persistent_kernel<16, true, 4>), 16},
      {"persistent, 16 warps, batches of 8, next before", reinterpret_cast<void*>(persistent_kernel<16, true, 8>), 16},
      {"persistent, 32 warps an SM", reinterpret_cast<void*>(persistent_kernel<32, false, 4>), 32},
      {"persistent, 32 warps, next batch before barrier", reinterpret_cast<void*>(persistent_kernel<32, true, 4>), 32}};
  constexpr int kVariants = sizeof(variants) / sizeof(variants[0]);
  auto persistent = [&](const Phase* d, const Variant& v) {
    int count = static_cast<int>(phases.size());
    void* args[] = {&d, &count};
    CHECK(cudaLaunchCooperativeKernel(v.kernel, dim3(sms), dim3(v.warps * 32), args, smem, stream));
  };
  auto output = [&] {
    std::vector<bf16> h(kHidden);
    CHECK(cudaMemcpy(h.data(), x + kLayers * kHidden, kHidden * sizeof(bf16), cudaMemcpyDeviceToHost));
    std::vector<float> f(kHidden);
    for (int i = 0; i < kHidden; ++i) f[i] = __bfloat162float(h[i]);
    return f;
  };
  cudaEvent_t a, b;
  CHECK(cudaEventCreate(&a));
  CHECK(cudaEventCreate(&b));
  auto time_us = [&](auto&& run) {
    std::vector<float> t;
    for (int rep = 0; rep < 21; ++rep) {
      CHECK(cudaEventRecord(a, stream));
      run();
      CHECK(cudaEventRecord(b, stream));
      CHECK(cudaEventSynchronize(b));
      float ms = 0;
      CHECK(cudaEventElapsedTime(&ms, a, b));
      if (rep > 0) t.push_back(ms * 1000.0f / kLayers);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
  };

  const double layer_mb = layer_elems * 2.0 / 1e6;
  chain();
  CHECK(cudaStreamSynchronize(stream));
  const std::vector<float> reference = output();
  float worst = 0, largest = 0;
  for (const Variant& v : variants) {
    CHECK(cudaMemset(x + kLayers * kHidden, 0, kHidden * sizeof(bf16)));
    persistent(d_phases, v);
    CHECK(cudaStreamSynchronize(stream));
    const std::vector<float> mine = output();
    for (int i = 0; i < kHidden; ++i) {
      worst = std::max(worst, std::fabs(mine[i] - reference[i]));
      largest = std::max(largest, std::fabs(reference[i]));
    }
  }
  std::printf("persistent against chain, layer %d's output: max |diff| / max |chain| = %.2e\n", kLayers,
              worst / largest);
  float rounds[2][kVariants + 1];
  for (int r = 0; r < 2; ++r) {
    rounds[r][0] = time_us(chain);
    for (int v = 0; v < kVariants; ++v) rounds[r][v + 1] = time_us([&] { persistent(d_phases, variants[v]); });
  }
  const float barriers = time_us([&] { persistent(d_empty, variants[3]); });
  std::printf("%-50s %10s %10s\n", "per layer (436 MB of weights)", "round 1", "round 2");
  for (int v = 0; v <= kVariants; ++v)
    std::printf("%-50s %7.1f us %7.1f us  (%.0f / %.0f GB/s)\n",
                v == 0 ? "chain of one-row kernels (gemv, gemv_silu_mul)" : variants[v - 1].name, rounds[0][v],
                rounds[1][v], layer_mb / rounds[0][v] * 1e3, layer_mb / rounds[1][v] * 1e3);
  std::printf("%-50s %7.1f us a layer (15 barriers over %d layers)\n", "barriers only (32 warps)", barriers, kLayers);
  return 0;
}
