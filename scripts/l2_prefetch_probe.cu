// Can the weights of a decode step's next projection be fetched into L2 while latency-bound
// kernels (attention, RMSNorm) leave the memory idle? A probe, run on the GPU machine:
//   nvcc -O3 -arch=sm_90a -I . -o /tmp/l2probe scripts/l2_prefetch_probe.cu && /tmp/l2probe
// For each way of prefetching and each idle gap, after evicting L2 (a 512 MB memset): the
// prefetch kernel, a one-thread kernel that spins for the gap, then a streaming read of the
// weights like the one-row GEMV's (16-byte evict-first loads). Prints the read's time, the whole
// sequence's, and the prefetch kernel's own (medians of 15).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "scripts/probe_check.cuh"

__global__ void stream_read(const uint4* w, size_t n16, unsigned* sink) {
  unsigned acc = 0;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n16; i += (size_t)gridDim.x * blockDim.x) {
    const uint4 v = __ldcs(w + i);
    acc ^= v.x + v.y + v.z + v.w;
  }
  if (acc == 0x12345678u) sink[0] = acc;  // keeps the loads
}

__global__ void spin(long long cycles) {
  const long long start = clock64();
  while (clock64() - start < cycles) {
  }
}

// Each thread issues bulk L2 prefetches of `chunk` bytes (a multiple of 16), grid-strided.
__global__ void prefetch_bulk(const char* p, size_t bytes, unsigned chunk) {
  const size_t n = bytes / chunk;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(p + i * chunk), "r"(chunk) : "memory");
  }
}

// Each thread issues per-line L2 prefetches (128-byte lines), grid-strided.
__global__ void prefetch_lines(const char* p, size_t bytes) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < bytes / 128; i += (size_t)gridDim.x * blockDim.x) {
    asm volatile("prefetch.global.L2 [%0];" ::"l"(p + i * 128) : "memory");
  }
}

struct Variant {
  const char* name;
  int kind;  // 0 none, 1 bulk, 2 lines
  int blocks, threads;
  unsigned chunk;
};

int main() {
  int clock_khz = 0;
  CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0));
  const size_t flush_bytes = 512u << 20, max_bytes = 64u << 20;
  char *flush, *weights;
  unsigned* sink;
  CHECK(cudaMalloc(&flush, flush_bytes));
  CHECK(cudaMalloc(&weights, max_bytes));
  CHECK(cudaMalloc(&sink, 64));
  CHECK(cudaMemset(weights, 1, max_bytes));
  cudaEvent_t ev[4];
  for (int i = 0; i < 4; ++i) CHECK(cudaEventCreate(&ev[i]));

  const std::vector<Variant> variants = {
      {"none", 0, 0, 0, 0},
      {"bulk 16K x132x32", 1, 132, 32, 16384},
      {"bulk 64K x132x32", 1, 132, 32, 65536},
      {"bulk 4K x132x32", 1, 132, 32, 4096},
      {"bulk 64K x48x32", 1, 48, 32, 65536},
      {"bulk 256K x48x32", 1, 48, 32, 262144},
      {"bulk 64K x8x32", 1, 8, 32, 65536},
      {"bulk 1M x1x32", 1, 1, 32, 1 << 20},
      {"lines x132x256", 2, 132, 256, 0},
      {"lines x264x512", 2, 264, 512, 0},
  };
  const size_t sizes[] = {16u << 20, 32u << 20, 48u << 20};
  const double gaps_us[] = {0, 4, 8, 16};
  std::printf("clock %d MHz\n", clock_khz / 1000);
  std::printf("%-20s %6s %6s %9s %9s %9s\n", "prefetch", "MB", "gap us", "read us", "total us", "pf us");
  for (size_t bytes : sizes) {
    for (const Variant& v : variants) {
      for (double gap : gaps_us) {
        if (v.kind == 0 && gap != 0 && gap != 8) continue;
        std::vector<float> read, total, pf;
        for (int rep = 0; rep < 16; ++rep) {
          CHECK(cudaMemsetAsync(flush, rep, flush_bytes));
          CHECK(cudaEventRecord(ev[0]));
          if (v.kind == 1) prefetch_bulk<<<v.blocks, v.threads>>>(weights, bytes, v.chunk);
          if (v.kind == 2) prefetch_lines<<<v.blocks, v.threads>>>(weights, bytes);
          CHECK(cudaGetLastError());
          CHECK(cudaEventRecord(ev[1]));
          spin<<<1, 1>>>(static_cast<long long>(gap * clock_khz / 1000.0));
          CHECK(cudaEventRecord(ev[2]));
          stream_read<<<1056, 128>>>(reinterpret_cast<const uint4*>(weights), bytes / 16, sink);
          CHECK(cudaGetLastError());
          CHECK(cudaEventRecord(ev[3]));
          CHECK(cudaEventSynchronize(ev[3]));
          if (rep == 0) continue;  // warm-up
          float a, b, c;
          CHECK(cudaEventElapsedTime(&a, ev[2], ev[3]));
          CHECK(cudaEventElapsedTime(&b, ev[0], ev[3]));
          CHECK(cudaEventElapsedTime(&c, ev[0], ev[1]));
          read.push_back(a * 1000), total.push_back(b * 1000), pf.push_back(c * 1000);
        }
        auto median = [](std::vector<float> x) {
          std::sort(x.begin(), x.end());
          return x[x.size() / 2];
        };
        std::printf("%-20s %6zu %6.0f %9.1f %9.1f %9.1f\n", v.name, bytes >> 20, gap, median(read), median(total),
                    median(pf));
      }
    }
  }
  return 0;
}
