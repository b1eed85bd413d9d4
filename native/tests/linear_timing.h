// The median time of one linear() call, for the check binaries' timing lines: bf16 weights of
// [n, k], cycling over enough copies (about 1 GB) that they do not stay in L2, so a call reads its
// weights from memory as decode does.
#pragma once
#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "backend/backend.h"

namespace nodellm {

inline double median_linear_us(Backend& gpu, int rows, int64_t k, int64_t n, DType out_dtype) {
  const double bytes = 2.0 * n * k;
  const int copies = std::max(2, static_cast<int>(std::ceil(1e9 / bytes)));
  std::vector<LinearWeight> weights;
  for (int c = 0; c < copies; ++c) {
    Tensor w = gpu.alloc(DType::BF16, n, k);
    gpu.fill_random(w, 10 + c, 0.02f, 0.0f);
    weights.push_back(gpu.prepare_linear(w));
  }
  Tensor x = gpu.alloc(DType::BF16, rows, k), out = gpu.alloc(out_dtype, rows, n);
  gpu.fill_random(x, 9, 1.0f, 0.0f);
  std::vector<double> us;
  for (int i = 0; i < 7; ++i) {
    gpu.synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    for (const LinearWeight& w : weights) gpu.linear(out, x, w, nullptr);
    gpu.synchronize();
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / copies);
  }
  for (const LinearWeight& w : weights) gpu.release(w.data);
  gpu.release(x);
  gpu.release(out);
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

}  // namespace nodellm
