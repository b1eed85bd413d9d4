// Element-wise and matrix operations of the CPU backend, float32.
#include <cmath>
#include <cstring>

#include "backend/cpu/cpu_backend.h"

namespace nodellm {

// Sixteen independent partial sums that the compiler keeps in vector registers; the order of
// additions depends only on n, never on which row or batch the call serves.
float dot_f32(const float* a, const float* b, int64_t n) {
  constexpr int kLanes = 16;
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) acc[j] += a[i + j] * b[i + j];
  }
  for (int j = 0; i < n; ++i, ++j) acc[j] += a[i] * b[i];
  for (int width = kLanes / 2; width > 0; width /= 2) {
    for (int j = 0; j < width; ++j) acc[j] += acc[j + width];
  }
  return acc[0];
}

void CpuBackend::embedding(const Tensor& out, const Tensor& table, const Tensor& ids) {
  const int32_t* id = ids.ptr<int32_t>();
  size_t row_bytes = static_cast<size_t>(out.cols) * sizeof(float);
  for (int64_t t = 0; t < out.rows; ++t) {
    NODELLM_CHECK(id[t] >= 0 && id[t] < table.rows, "token id ", id[t], " outside the vocabulary");
    std::memcpy(out.row<float>(t), table.row<float>(id[t]), row_bytes);
  }
}

static void rmsnorm_row(float* out, const float* x, const float* weight, int64_t n, float eps) {
  float sum_sq = dot_f32(x, x, n);
  float inv = 1.0f / std::sqrt(sum_sq / static_cast<float>(n) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * inv * weight[i];
}

void CpuBackend::rmsnorm(const Tensor& out, const Tensor& x, const Tensor& weight, float eps) {
  pool_.parallel_for(x.rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      rmsnorm_row(out.row<float>(t), x.row<float>(t), weight.ptr<float>(), x.cols, eps);
    }
  });
}

void CpuBackend::add_rmsnorm(const Tensor& residual, const Tensor& x, const Tensor& out,
                             const Tensor& weight, float eps) {
  pool_.parallel_for(x.rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      float* r = residual.row<float>(t);
      const float* in = x.row<float>(t);
      for (int64_t i = 0; i < x.cols; ++i) r[i] += in[i];
      rmsnorm_row(out.row<float>(t), r, weight.ptr<float>(), x.cols, eps);
    }
  });
}

void CpuBackend::linear(const Tensor& out, const Tensor& x, const Tensor& weight,
                        const Tensor* bias) {
  NODELLM_CHECK(x.cols == weight.cols && out.cols == weight.rows && out.rows == x.rows,
                "linear shapes [", x.rows, ",", x.cols, "] x [", weight.rows, ",", weight.cols,
                "]^T -> [", out.rows, ",", out.cols, "]");
  const int64_t tokens = x.rows, k = x.cols;
  const float* b = bias ? bias->ptr<float>() : nullptr;
  // Parallel over output features: each weight row is read once per step and reused for every
  // token while it is in cache.
  pool_.parallel_for(weight.rows, 64, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      const float* w = weight.row<float>(n);
      float add = b ? b[n] : 0.0f;
      for (int64_t t = 0; t < tokens; ++t) out.row<float>(t)[n] = dot_f32(x.row<float>(t), w, k) + add;
    }
  });
}

static void rope_heads(float* row, int64_t cols, const float* cos_sin, int head_dim) {
  const int half = head_dim / 2;
  const float* cos = cos_sin;
  const float* sin = cos_sin + half;
  for (int64_t h = 0; h + head_dim <= cols; h += head_dim) {
    float* x = row + h;
    for (int i = 0; i < half; ++i) {
      float x1 = x[i], x2 = x[i + half];
      x[i] = x1 * cos[i] - x2 * sin[i];
      x[i + half] = x2 * cos[i] + x1 * sin[i];
    }
  }
}

void CpuBackend::rope(const Tensor& q, const Tensor& k, const Tensor& positions,
                      const Tensor& cos_sin, int head_dim) {
  const int32_t* pos = positions.ptr<int32_t>();
  pool_.parallel_for(q.rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      NODELLM_CHECK(pos[t] >= 0 && pos[t] < cos_sin.rows, "position ", pos[t], " beyond the rope table");
      const float* table = cos_sin.row<float>(pos[t]);
      rope_heads(q.row<float>(t), q.cols, table, head_dim);
      rope_heads(k.row<float>(t), k.cols, table, head_dim);
    }
  });
}

void CpuBackend::kv_write(const Tensor& k, const Tensor& v, const Tensor& k_cache,
                          const Tensor& v_cache, const Tensor& slot_mapping) {
  const int32_t* slot = slot_mapping.ptr<int32_t>();
  size_t row_bytes = static_cast<size_t>(k.cols) * sizeof(float);
  for (int64_t t = 0; t < k.rows; ++t) {
    NODELLM_CHECK(slot[t] >= 0 && slot[t] < k_cache.rows, "KV slot ", slot[t], " out of range");
    std::memcpy(k_cache.row<float>(slot[t]), k.row<float>(t), row_bytes);
    std::memcpy(v_cache.row<float>(slot[t]), v.row<float>(t), row_bytes);
  }
}

void CpuBackend::silu_mul(const Tensor& out, const Tensor& gate_up) {
  const int64_t n = out.cols;
  pool_.parallel_for(out.rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const float* gate = gate_up.row<float>(t);
      const float* up = gate + n;
      float* o = out.row<float>(t);
      for (int64_t i = 0; i < n; ++i) o[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
    }
  });
}

void CpuBackend::gather_rows(const Tensor& out, const Tensor& x, const Tensor& rows) {
  const int32_t* index = rows.ptr<int32_t>();
  size_t row_bytes = static_cast<size_t>(x.cols) * dtype_size(x.dtype);
  for (int64_t i = 0; i < out.rows; ++i) {
    NODELLM_CHECK(index[i] >= 0 && index[i] < x.rows, "gather row ", index[i], " out of range");
    std::memcpy(out.row<char>(i), x.row<char>(index[i]), row_bytes);
  }
}

}  // namespace nodellm
