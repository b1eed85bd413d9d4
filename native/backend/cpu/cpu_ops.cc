// Element-wise and matrix operations of the CPU backend, float32.
#include <algorithm>
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

void CpuBackend::embedding(const Tensor& out, const Tensor& table, const Tensor& ids, float scale) {
  const int32_t* id = ids.ptr<int32_t>();
  for (int64_t t = 0; t < out.rows; ++t) {
    NODELLM_CHECK(id[t] >= 0 && id[t] < table.rows, "token id ", id[t], " outside the vocabulary");
    const float* from = table.row<float>(id[t]);
    float* to = out.row<float>(t);
    for (int64_t i = 0; i < out.cols; ++i) to[i] = from[i] * scale;
  }
}

static void rmsnorm_row(float* out, const float* x, const float* weight, int64_t n, float eps,
                        float weight_offset) {
  float sum_sq = dot_f32(x, x, n);
  float inv = 1.0f / std::sqrt(sum_sq / static_cast<float>(n) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * inv * (weight_offset + weight[i]);
}

void CpuBackend::rmsnorm(const Tensor& out, const Tensor& x, const Tensor& weight, float eps,
                         float weight_offset) {
  pool_.parallel_for(x.rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      rmsnorm_row(out.row<float>(t), x.row<float>(t), weight.ptr<float>(), x.cols, eps, weight_offset);
    }
  });
}

void CpuBackend::add_rmsnorm(const Tensor& residual, const Tensor& x, const Tensor& out,
                             const Tensor& weight, float eps, float weight_offset) {
  pool_.parallel_for(x.rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      float* r = residual.row<float>(t);
      const float* in = x.row<float>(t);
      for (int64_t i = 0; i < x.cols; ++i) r[i] += in[i];
      rmsnorm_row(out.row<float>(t), r, weight.ptr<float>(), x.cols, eps, weight_offset);
    }
  });
}

void CpuBackend::head_rmsnorm(const Tensor& x, const Tensor& weight, int head_dim, float eps,
                              float weight_offset) {
  NODELLM_CHECK(weight.cols == head_dim && x.cols % head_dim == 0, "head_rmsnorm: a weight of ",
                weight.cols, " for heads of ", head_dim, " in rows of ", x.cols);
  pool_.parallel_for(x.rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      for (int64_t h = 0; h < x.cols; h += head_dim) {
        float* head = x.row<float>(t) + h;
        rmsnorm_row(head, head, weight.ptr<float>(), head_dim, eps, weight_offset);
      }
    }
  });
}

// Linear layers multiply by the weight packed in panels of 16 output features: panel p holds, for
// each input feature i, the weights of outputs 16p..16p+15 contiguously ([panels][in][16]), so a
// panel is one sequential read. An output panel is 16 accumulators updated with one broadcast
// value of x per input feature: there are no horizontal sums, and every output element is the same
// chain of multiply-adds in input order, whatever the batch size or tiling (batch invariance).
constexpr int64_t kPanel = 16;

LinearWeight CpuBackend::prepare_linear(const Tensor& w) {
  const int64_t n = w.rows, k = w.cols, panels = (n + kPanel - 1) / kPanel;
  Tensor packed = alloc(DType::F32, panels, k * kPanel);
  pool_.parallel_for(panels, 16, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      float* panel = packed.row<float>(p);
      for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < kPanel; ++j) {
          const int64_t out = p * kPanel + j;
          panel[i * kPanel + j] = out < n ? w.row<float>(out)[i] : 0.0f;
        }
    }
  });
  return LinearWeight{packed, n, k};
}

namespace {

// Sixteen floats as one value: GCC/Clang vector extensions compile it to one AVX-512 register,
// two AVX registers or four SSE registers, with lane-wise IEEE arithmetic.
typedef float Panel __attribute__((vector_size(kPanel * sizeof(float))));

// acc[r] = sum over i of x[r][i] * panel[i], for R tokens at once.
template <int R>
void panel_product(const float* const* x, const float* panel, int64_t k, Panel* acc) {
  for (int r = 0; r < R; ++r) acc[r] = Panel{};
  for (int64_t i = 0; i < k; ++i) {
    Panel w;
    std::memcpy(&w, panel + i * kPanel, sizeof(Panel));
    for (int r = 0; r < R; ++r) acc[r] += x[r][i] * w;
  }
}

}  // namespace

void CpuBackend::linear(const Tensor& out, const Tensor& x, const LinearWeight& weight,
                        const Tensor* bias) {
  NODELLM_CHECK(x.cols == weight.in_features && out.cols == weight.out_features && out.rows == x.rows,
                "linear shapes [", x.rows, ",", x.cols, "] x [", weight.out_features, ",",
                weight.in_features, "]^T -> [", out.rows, ",", out.cols, "]");
  const int64_t tokens = x.rows, k = x.cols, n = weight.out_features;
  const int64_t panels = (n + kPanel - 1) / kPanel;
  const float* b = bias ? bias->ptr<float>() : nullptr;
  constexpr int kTokens = 4;       // tokens per micro-kernel call: 4 x 16 accumulators
  constexpr int64_t kTokenBlock = 64;  // tokens whose inputs stay in cache across panels
  pool_.parallel_for(panels, 4, [&](int64_t begin, int64_t end) {
    Panel acc[kTokens];
    float lanes[kPanel];
    const float* rows[kTokens];
    for (int64_t t0 = 0; t0 < tokens; t0 += kTokenBlock) {
      const int64_t t_end = std::min(tokens, t0 + kTokenBlock);
      for (int64_t p = begin; p < end; ++p) {
        const int64_t n0 = p * kPanel, width = std::min(kPanel, n - n0);
        const float* panel = weight.data.row<float>(p);
        for (int64_t t = t0; t < t_end; t += kTokens) {
          const int r_count = static_cast<int>(std::min<int64_t>(kTokens, t_end - t));
          for (int r = 0; r < r_count; ++r) rows[r] = x.row<float>(t + r);
          switch (r_count) {
            case 4: panel_product<4>(rows, panel, k, acc); break;
            case 3: panel_product<3>(rows, panel, k, acc); break;
            case 2: panel_product<2>(rows, panel, k, acc); break;
            default: panel_product<1>(rows, panel, k, acc); break;
          }
          for (int r = 0; r < r_count; ++r) {
            std::memcpy(lanes, &acc[r], sizeof(Panel));
            float* o = out.row<float>(t + r) + n0;
            for (int64_t j = 0; j < width; ++j) o[j] = lanes[j] + (b ? b[n0 + j] : 0.0f);
          }
        }
      }
    }
  });
}

// Rotates the first rotary_dim dims of each head (pairs i and i + rotary_dim / 2); the rest of a
// head (partial_rotary_factor < 1) passes through.
static void rope_heads(float* row, int64_t cols, const float* cos_sin, int head_dim, int rotary_dim) {
  const int half = rotary_dim / 2;
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
  const int rotary_dim = static_cast<int>(cos_sin.cols);
  NODELLM_CHECK(rotary_dim % 2 == 0 && rotary_dim <= head_dim, "rope: a table of ", rotary_dim,
                " columns for heads of ", head_dim);
  pool_.parallel_for(q.rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      NODELLM_CHECK(pos[t] >= 0 && pos[t] < cos_sin.rows, "position ", pos[t], " beyond the rope table");
      const float* table = cos_sin.row<float>(pos[t]);
      rope_heads(q.row<float>(t), q.cols, table, head_dim, rotary_dim);
      rope_heads(k.row<float>(t), k.cols, table, head_dim, rotary_dim);
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

void CpuBackend::gelu_tanh_mul(const Tensor& out, const Tensor& gate_up) {
  const int64_t n = out.cols;
  const float k = std::sqrt(2.0f / static_cast<float>(M_PI));
  pool_.parallel_for(out.rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const float* gate = gate_up.row<float>(t);
      const float* up = gate + n;
      float* o = out.row<float>(t);
      for (int64_t i = 0; i < n; ++i) {
        const float g = gate[i];
        o[i] = 0.5f * g * (1.0f + std::tanh(k * (g + 0.044715f * g * g * g))) * up[i];
      }
    }
  });
}

void CpuBackend::softcap(const Tensor& x, float cap) {
  pool_.parallel_for(x.rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      float* row = x.row<float>(t);
      for (int64_t i = 0; i < x.cols; ++i) row[i] = cap * std::tanh(row[i] / cap);
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
