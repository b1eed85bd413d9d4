// Checks every CUDA kernel against the CPU reference backend on fresh random inputs at several
// sizes, in float32 (tight tolerance) and bfloat16 (bf16 rounding), and prints one line per case.
// Built only with the CUDA backend: build/Release/backend_check. Exit status 1 if any case fails.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <tuple>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/half.h"
#include "engine/sampling_inputs.h"
#include "tests/linear_timing.h"

using namespace nodellm;

namespace {

std::mt19937 rng(1234);
int failures = 0;

std::vector<float> randn(size_t n, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// A host tensor mirrored on both backends.
struct Pair {
  Tensor cpu, gpu;
};

Pair make(Backend& cpu, Backend& gpu, DType gpu_dtype, int64_t rows, int64_t cols, const std::vector<float>& data) {
  Pair p{cpu.alloc(DType::F32, rows, cols), gpu.alloc(gpu_dtype, rows, cols)};
  cpu.upload(p.cpu, data.data(), DType::F32);
  gpu.upload(p.gpu, data.data(), DType::F32);
  return p;
}

Pair make_i32(Backend& cpu, Backend& gpu, int64_t rows, int64_t cols, const std::vector<int32_t>& data) {
  Pair p{cpu.alloc(DType::I32, rows, cols), gpu.alloc(DType::I32, rows, cols)};
  cpu.upload(p.cpu, data.data(), DType::I32);
  gpu.upload(p.gpu, data.data(), DType::I32);
  return p;
}

std::vector<float> read(Backend& b, const Tensor& t) {
  std::vector<float> out(t.rows * t.cols);
  if (t.dtype == DType::F32) {
    b.download(out.data(), t);
  } else {
    std::vector<uint16_t> half(t.rows * t.cols);
    b.download(half.data(), t);
    for (size_t i = 0; i < half.size(); ++i) out[i] = t.dtype == DType::BF16 ? bf16_to_f32(half[i]) : f16_to_f32(half[i]);
  }
  return out;
}

// max |a - b| / max |b|
double rel_error(const std::vector<float>& got, const std::vector<float>& want) {
  double diff = 0, ref = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    diff = std::max(diff, static_cast<double>(std::fabs(got[i] - want[i])));
    ref = std::max(ref, static_cast<double>(std::fabs(want[i])));
  }
  return ref > 0 ? diff / ref : diff;
}

void report(const std::string& name, DType dtype, double err) {
  const double tol = dtype == DType::F32 ? 1e-4 : 2e-2;  // 16-bit types: their rounding
  const bool ok = err <= tol && std::isfinite(err);
  if (!ok) ++failures;
  std::printf("%-58s %-8s rel err %.2e (tol %.0e) %s\n", name.c_str(), dtype_name(dtype), err, tol, ok ? "ok" : "FAIL");
}

void check_linear(Backend& cpu, Backend& gpu, DType dt, int64_t tokens, int64_t k, int64_t n) {
  auto x = make(cpu, gpu, dt, tokens, k, randn(tokens * k));
  auto w = make(cpu, gpu, dt, n, k, randn(n * k, 1.0f / std::sqrt(static_cast<float>(k))));
  Pair out{cpu.alloc(DType::F32, tokens, n), gpu.alloc(dt, tokens, n)};
  LinearWeight wc = cpu.prepare_linear(w.cpu), wg = gpu.prepare_linear(w.gpu);
  // The reference multiplies the values the GPU sees (rounded to its dtype).
  cpu.upload(x.cpu, read(gpu, x.gpu).data(), DType::F32);
  std::vector<float> wr = read(gpu, w.gpu);
  Tensor wcpu = cpu.alloc(DType::F32, n, k);
  cpu.upload(wcpu, wr.data(), DType::F32);
  wc = cpu.prepare_linear(wcpu);
  cpu.linear(out.cpu, x.cpu, wc, nullptr);
  gpu.linear(out.gpu, x.gpu, wg, nullptr);
  report("linear " + std::to_string(tokens) + "x" + std::to_string(k) + " @ " + std::to_string(n), dt,
         rel_error(read(gpu, out.gpu), read(cpu, out.cpu)));
}

// weight_offset 1: Gemma's (1 + w) norms (weights near 0, as Gemma's checkpoints hold them).
void check_norms(Backend& cpu, Backend& gpu, DType dt, int64_t rows, int64_t cols, float weight_offset = 0.0f) {
  auto residual = make(cpu, gpu, DType::F32, rows, cols, randn(rows * cols));
  auto y = make(cpu, gpu, dt, rows, cols, randn(rows * cols));
  auto w = make(cpu, gpu, dt, 1, cols, randn(cols, 0.1f));
  cpu.upload(y.cpu, read(gpu, y.gpu).data(), DType::F32);
  cpu.upload(w.cpu, read(gpu, w.gpu).data(), DType::F32);
  Pair out{cpu.alloc(DType::F32, rows, cols), gpu.alloc(dt, rows, cols)};
  const std::string shape = std::to_string(rows) + "x" + std::to_string(cols) + (weight_offset != 0.0f ? " (1 + w)" : "");
  cpu.rmsnorm(out.cpu, residual.cpu, w.cpu, 1e-5f, weight_offset);
  gpu.rmsnorm(out.gpu, residual.gpu, w.gpu, 1e-5f, weight_offset);
  report("rmsnorm " + shape, dt, rel_error(read(gpu, out.gpu), read(cpu, out.cpu)));
  cpu.add_rmsnorm(residual.cpu, y.cpu, out.cpu, w.cpu, 1e-5f, weight_offset);
  gpu.add_rmsnorm(residual.gpu, y.gpu, out.gpu, w.gpu, 1e-5f, weight_offset);
  report("add_rmsnorm (output) " + shape, dt, rel_error(read(gpu, out.gpu), read(cpu, out.cpu)));
  report("add_rmsnorm (residual) " + shape, DType::F32, rel_error(read(gpu, residual.gpu), read(cpu, residual.cpu)));
}

// rmsnorm of an activation (not the float32 residual) into a column slice of a wider buffer:
// Gemma 2/3's sandwich norms of a sublayer's output, (1 + w).
void check_rmsnorm_activation(Backend& cpu, Backend& gpu, DType dt, int64_t rows, int64_t cols) {
  auto x = make(cpu, gpu, dt, rows, cols, randn(rows * cols, 4.0f));
  auto w = make(cpu, gpu, dt, 1, cols, randn(cols, 0.1f));
  for (const Pair* p : {&x, &w}) cpu.upload(p->cpu, read(gpu, p->gpu).data(), DType::F32);
  Pair wide{cpu.alloc(DType::F32, rows, 3 * cols), gpu.alloc(dt, rows, 3 * cols)};
  cpu.rmsnorm(wide.cpu.col_slice(0, cols), x.cpu, w.cpu, 1e-6f, 1.0f);
  gpu.rmsnorm(wide.gpu.col_slice(0, cols), x.gpu, w.gpu, 1e-6f, 1.0f);
  report("rmsnorm of an activation into a slice " + std::to_string(rows) + "x" + std::to_string(cols) + " (1 + w)", dt,
         rel_error(read(gpu, wide.gpu.col_slice(0, cols)), read(cpu, wide.cpu.col_slice(0, cols))));
}

// head_rmsnorm in place on the q and k column slices of a fused qkv row (row stride wider than
// the slice): the q_norm / k_norm of Qwen 3 (offset 0) and Gemma 3 (offset 1). v must stay as it was.
void check_head_rmsnorm(Backend& cpu, Backend& gpu, DType dt, int64_t rows, int q_heads, int kv_heads, int head_dim,
                        float weight_offset) {
  const int64_t q_cols = int64_t{q_heads} * head_dim, kv_cols = int64_t{kv_heads} * head_dim, n = q_cols + 2 * kv_cols;
  auto qkv = make(cpu, gpu, dt, rows, n, randn(rows * n, 3.0f));
  auto qw = make(cpu, gpu, dt, 1, head_dim, randn(head_dim, 0.5f));
  auto kw = make(cpu, gpu, dt, 1, head_dim, randn(head_dim, 0.5f));
  for (const Pair* p : {&qkv, &qw, &kw}) cpu.upload(p->cpu, read(gpu, p->gpu).data(), DType::F32);
  for (Backend* b : {&cpu, &gpu}) {
    const bool on_gpu = b == &gpu;
    const Tensor& t = on_gpu ? qkv.gpu : qkv.cpu;
    b->head_rmsnorm(t.col_slice(0, q_cols), on_gpu ? qw.gpu : qw.cpu, head_dim, 1e-6f, weight_offset);
    b->head_rmsnorm(t.col_slice(q_cols, kv_cols), on_gpu ? kw.gpu : kw.cpu, head_dim, 1e-6f, weight_offset);
  }
  char name[120];
  std::snprintf(name, sizeof name, "head_rmsnorm %lldx(%dq+%dkv+%dv) x %d%s", static_cast<long long>(rows), q_heads,
                kv_heads, kv_heads, head_dim, weight_offset != 0.0f ? " (1 + w)" : "");
  report(name, dt, rel_error(read(gpu, qkv.gpu), read(cpu, qkv.cpu)));
}

// Soft-capping of float32 logits in place (Gemma 2's final_logit_softcapping), on logits well
// past the cap and a column slice.
void check_softcap(Backend& cpu, Backend& gpu, int64_t rows, int64_t vocab, float cap) {
  auto logits = make(cpu, gpu, DType::F32, rows, vocab, randn(rows * vocab, 2.0f * cap));
  cpu.softcap(logits.cpu.col_slice(1, vocab - 2), cap);
  gpu.softcap(logits.gpu.col_slice(1, vocab - 2), cap);
  report("softcap " + std::to_string(rows) + "x" + std::to_string(vocab) + " cap " + std::to_string(static_cast<int>(cap)),
         DType::F32, rel_error(read(gpu, logits.gpu), read(cpu, logits.cpu)));
}

// The cos|sin table of positions [0, max_pos): rotary_dim columns (cos of the rotary_dim / 2
// angles, then their sin).
std::vector<float> rope_table(int max_pos, int rotary_dim) {
  std::vector<float> table(static_cast<size_t>(max_pos) * rotary_dim);
  for (int p = 0; p < max_pos; ++p)
    for (int i = 0; i < rotary_dim / 2; ++i) {
      const double a = p / std::pow(10000.0, 2.0 * i / rotary_dim);
      table[static_cast<size_t>(p) * rotary_dim + i] = static_cast<float>(std::cos(a));
      table[static_cast<size_t>(p) * rotary_dim + rotary_dim / 2 + i] = static_cast<float>(std::sin(a));
    }
  return table;
}

// rope() and rope_kv_write() on the q, k, v slices of a fused qkv, with a table of rotary_dim <=
// head_dim columns (partial rotary: the dims past rotary_dim pass through): q and k, and the
// cache rows written.
void check_rope(Backend& cpu, Backend& gpu, DType dt, int rows, int q_heads, int kv_heads, int head_dim, int rotary_dim) {
  const int64_t q_cols = int64_t{q_heads} * head_dim, kv_cols = int64_t{kv_heads} * head_dim, n = q_cols + 2 * kv_cols;
  const int max_pos = 2048, cache_rows = rows + 13;
  std::vector<int32_t> positions(rows), slots(rows);
  for (int r = 0; r < rows; ++r) {
    positions[r] = static_cast<int32_t>(rng() % max_pos);
    slots[r] = (r * 7 + 3) % cache_rows;  // distinct slots
  }
  auto table = make(cpu, gpu, DType::F32, max_pos, rotary_dim, rope_table(max_pos, rotary_dim));
  auto pos = make_i32(cpu, gpu, rows, 1, positions);
  auto slot = make_i32(cpu, gpu, rows, 1, slots);
  const std::vector<float> start = randn(rows * n), cache_start = randn(static_cast<size_t>(cache_rows) * kv_cols);
  char name[120];
  std::snprintf(name, sizeof name, "%dx(%dq+%dkv) x %d, rotary %d", rows, q_heads, kv_heads, head_dim, rotary_dim);
  {
    auto qkv = make(cpu, gpu, dt, rows, n, start);
    cpu.upload(qkv.cpu, read(gpu, qkv.gpu).data(), DType::F32);
    cpu.rope(qkv.cpu.col_slice(0, q_cols), qkv.cpu.col_slice(q_cols, kv_cols), pos.cpu, table.cpu, head_dim);
    gpu.rope(qkv.gpu.col_slice(0, q_cols), qkv.gpu.col_slice(q_cols, kv_cols), pos.gpu, table.gpu, head_dim);
    report(std::string("rope ") + name, dt, rel_error(read(gpu, qkv.gpu), read(cpu, qkv.cpu)));
  }
  auto qkv = make(cpu, gpu, dt, rows, n, start);
  cpu.upload(qkv.cpu, read(gpu, qkv.gpu).data(), DType::F32);
  auto kc = make(cpu, gpu, dt, cache_rows, kv_cols, cache_start);
  auto vc = make(cpu, gpu, dt, cache_rows, kv_cols, cache_start);
  for (const Pair* p : {&kc, &vc}) cpu.upload(p->cpu, read(gpu, p->gpu).data(), DType::F32);
  for (Backend* b : {&cpu, &gpu}) {
    const bool on_gpu = b == &gpu;
    const Tensor& t = on_gpu ? qkv.gpu : qkv.cpu;
    b->rope_kv_write(t.col_slice(0, q_cols), t.col_slice(q_cols, kv_cols), t.col_slice(q_cols + kv_cols, kv_cols),
                     on_gpu ? pos.gpu : pos.cpu, on_gpu ? table.gpu : table.cpu, head_dim, on_gpu ? kc.gpu : kc.cpu,
                     on_gpu ? vc.gpu : vc.cpu, on_gpu ? slot.gpu : slot.cpu);
  }
  report(std::string("rope_kv_write (qkv) ") + name, dt, rel_error(read(gpu, qkv.gpu), read(cpu, qkv.cpu)));
  report(std::string("rope_kv_write (k cache) ") + name, dt, rel_error(read(gpu, kc.gpu), read(cpu, kc.cpu)));
  report(std::string("rope_kv_write (v cache) ") + name, dt, rel_error(read(gpu, vc.gpu), read(cpu, vc.cpu)));
}

void check_elementwise(Backend& cpu, Backend& gpu, DType dt, int64_t rows, int64_t cols, int vocab) {
  // embedding
  auto table = make(cpu, gpu, dt, vocab, cols, randn(vocab * cols));
  cpu.upload(table.cpu, read(gpu, table.gpu).data(), DType::F32);
  std::vector<int32_t> ids(rows);
  for (auto& id : ids) id = static_cast<int32_t>(rng() % vocab);
  auto id_t = make_i32(cpu, gpu, rows, 1, ids);
  Pair emb{cpu.alloc(DType::F32, rows, cols), gpu.alloc(DType::F32, rows, cols)};
  cpu.embedding(emb.cpu, table.cpu, id_t.cpu, 1.0f);
  gpu.embedding(emb.gpu, table.gpu, id_t.gpu, 1.0f);
  report("embedding " + std::to_string(rows) + " of " + std::to_string(vocab) + "x" + std::to_string(cols), dt,
         rel_error(read(gpu, emb.gpu), read(cpu, emb.cpu)));
  // Scaled by sqrt(hidden_size), as Gemma's embeddings are.
  const float embed_scale = std::sqrt(static_cast<float>(cols));
  cpu.embedding(emb.cpu, table.cpu, id_t.cpu, embed_scale);
  gpu.embedding(emb.gpu, table.gpu, id_t.gpu, embed_scale);
  report("embedding x sqrt(cols) " + std::to_string(rows) + " of " + std::to_string(vocab) + "x" + std::to_string(cols),
         dt, rel_error(read(gpu, emb.gpu), read(cpu, emb.cpu)));
  // silu_mul
  auto gu = make(cpu, gpu, dt, rows, 2 * cols, randn(rows * 2 * cols, 2.0f));
  cpu.upload(gu.cpu, read(gpu, gu.gpu).data(), DType::F32);
  Pair act{cpu.alloc(DType::F32, rows, cols), gpu.alloc(dt, rows, cols)};
  cpu.silu_mul(act.cpu, gu.cpu);
  gpu.silu_mul(act.gpu, gu.gpu);
  report("silu_mul " + std::to_string(rows) + "x" + std::to_string(cols), dt, rel_error(read(gpu, act.gpu), read(cpu, act.cpu)));
  // gelu_tanh_mul (Gemma's GeGLU) on the same inputs: a fresh output, so silu_mul's stays for the gather below.
  Pair gelu{cpu.alloc(DType::F32, rows, cols), gpu.alloc(dt, rows, cols)};
  cpu.gelu_tanh_mul(gelu.cpu, gu.cpu);
  gpu.gelu_tanh_mul(gelu.gpu, gu.gpu);
  report("gelu_tanh_mul " + std::to_string(rows) + "x" + std::to_string(cols), dt,
         rel_error(read(gpu, gelu.gpu), read(cpu, gelu.cpu)));
  // gather_rows
  std::vector<int32_t> rows_idx(rows / 2 + 1);
  for (auto& r : rows_idx) r = static_cast<int32_t>(rng() % rows);
  auto ri = make_i32(cpu, gpu, rows_idx.size(), 1, rows_idx);
  Pair g{cpu.alloc(DType::F32, rows_idx.size(), cols), gpu.alloc(dt, rows_idx.size(), cols)};
  cpu.gather_rows(g.cpu, act.cpu, ri.cpu);
  gpu.gather_rows(g.gpu, act.gpu, ri.gpu);
  report("gather_rows " + std::to_string(rows_idx.size()) + "x" + std::to_string(cols), dt, rel_error(read(gpu, g.gpu), read(cpu, g.cpu)));
}

// The one-row GEMV epilogues (kernels/gemv_epilogues.cu) against the unfused kernels on the same
// GPU, which the checks above hold to the CPU reference: the bits must be equal.
bool same_bits(Backend& gpu, const Tensor& a, const Tensor& b) {
  const std::vector<float> x = read(gpu, a), y = read(gpu, b);
  return std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

void report_same(const std::string& name, DType dtype, bool same) {
  if (!same) ++failures;
  std::printf("%-58s %-8s %s\n", name.c_str(), dtype_name(dtype), same ? "same bits as unfused ok" : "differs from unfused FAIL");
}

Tensor upload_randn(Backend& gpu, DType dt, int64_t rows, int64_t cols, float scale) {
  Tensor t = gpu.alloc(dt, rows, cols);
  const std::vector<float> v = randn(rows * cols, scale);
  gpu.upload(t, v.data(), DType::F32);
  return t;
}

void check_gemv_silu_mul(Backend& gpu, DType dt, int64_t k, int64_t n, bool with_bias) {
  const Tensor x = upload_randn(gpu, dt, 1, k, 1.0f), bias = upload_randn(gpu, dt, 1, 2 * n, 0.5f);
  const LinearWeight w = gpu.prepare_linear(upload_randn(gpu, dt, 2 * n, k, 1.0f / std::sqrt(static_cast<float>(k))));
  const Tensor gate_up = gpu.alloc(dt, 1, 2 * n), want = gpu.alloc(dt, 1, n), got = gpu.alloc(dt, 1, n);
  const Tensor* b = with_bias ? &bias : nullptr;
  gpu.linear(gate_up, x, w, b);
  gpu.silu_mul(want, gate_up);
  gpu.linear_silu_mul(got, x, w, b, gate_up);
  report_same("linear_silu_mul " + std::to_string(k) + " -> 2x" + std::to_string(n) + (with_bias ? " +bias" : ""), dt,
              same_bits(gpu, got, want));
}

// rotary_dim: the cos|sin table's columns (0: head_dim; less: partial rotary).
void check_gemv_rope_kv_write(Backend& gpu, DType dt, int64_t k, int q_heads, int kv_heads, int head_dim, bool with_bias,
                              int rotary_dim = 0) {
  if (rotary_dim == 0) rotary_dim = head_dim;
  const int64_t q_cols = int64_t{q_heads} * head_dim, kv_cols = int64_t{kv_heads} * head_dim, n = q_cols + 2 * kv_cols;
  const int64_t slots = 48, max_pos = 64;
  const Tensor x = upload_randn(gpu, dt, 1, k, 1.0f), bias = upload_randn(gpu, dt, 1, n, 0.5f);
  const LinearWeight w = gpu.prepare_linear(upload_randn(gpu, dt, n, k, 1.0f / std::sqrt(static_cast<float>(k))));
  const Tensor* b = with_bias ? &bias : nullptr;
  const Tensor table = upload_randn(gpu, DType::F32, max_pos, rotary_dim, 1.0f);
  const std::vector<int32_t> position{37}, slot{29};
  const Tensor pos = gpu.alloc(DType::I32, 1, 1), slot_t = gpu.alloc(DType::I32, 1, 1);
  gpu.upload(pos, position.data(), DType::I32);
  gpu.upload(slot_t, slot.data(), DType::I32);
  const std::vector<float> k_start = randn(slots * kv_cols), v_start = randn(slots * kv_cols);
  struct Side { Tensor qkv, k_cache, v_cache; } want, got;
  for (Side* side : {&want, &got}) {
    side->qkv = gpu.alloc(dt, 1, n);
    side->k_cache = gpu.alloc(dt, slots, kv_cols);
    side->v_cache = gpu.alloc(dt, slots, kv_cols);
    gpu.upload(side->k_cache, k_start.data(), DType::F32);
    gpu.upload(side->v_cache, v_start.data(), DType::F32);
  }
  auto views = [&](const Tensor& qkv) {
    return std::tuple{qkv.col_slice(0, q_cols), qkv.col_slice(q_cols, kv_cols), qkv.col_slice(q_cols + kv_cols, kv_cols)};
  };
  {
    auto [q, kk, v] = views(want.qkv);
    gpu.linear(want.qkv, x, w, b);
    gpu.rope_kv_write(q, kk, v, pos, table, head_dim, want.k_cache, want.v_cache, slot_t);
  }
  {
    auto [q, kk, v] = views(got.qkv);
    const RopeKvWrite r{pos, table, head_dim, q_heads, kv_heads, got.k_cache, got.v_cache, slot_t};
    gpu.linear_rope_kv_write(got.qkv, x, w, b, q, kk, v, r);
  }
  const bool same = same_bits(gpu, got.qkv, want.qkv) && same_bits(gpu, got.k_cache, want.k_cache) &&
                    same_bits(gpu, got.v_cache, want.v_cache);
  report_same("linear_rope_kv_write " + std::to_string(k) + " -> " + std::to_string(q_heads) + "q " +
                  std::to_string(kv_heads) + "kv x " + std::to_string(head_dim) + (with_bias ? " +bias" : "") +
                  (rotary_dim < head_dim ? " rotary " + std::to_string(rotary_dim) : ""),
              dt, same);
}

// Times a batch-1 layer's projections with and without their epilogues on Llama-3-8B's shapes:
// qkv then RoPE + KV write, o, gate_up then SiLU·mul, down, cycling over enough weight copies to
// leave L2 (the norms and attention are left out).
void time_layer_epilogues(Backend& gpu) {
  const int64_t hidden = 4096, inter = 14336, head_dim = 128, q_heads = 32, kv_heads = 8;
  const int64_t n_qkv = (q_heads + 2 * kv_heads) * head_dim, kv_cols = kv_heads * head_dim;
  const int copies = 4;
  auto weight = [&](int64_t rows, int64_t cols, int seed) {
    Tensor t = gpu.alloc(DType::BF16, rows, cols);
    gpu.fill_random(t, seed, 0.02f, 0.0f);
    return gpu.prepare_linear(t);
  };
  struct Layer { LinearWeight qkv, o, gate_up, down; };
  std::vector<Layer> layers;
  for (int c = 0; c < copies; ++c)
    layers.push_back({weight(n_qkv, hidden, 100 + c), weight(hidden, hidden, 200 + c), weight(2 * inter, hidden, 300 + c),
                      weight(hidden, inter, 400 + c)});
  const Tensor x = gpu.alloc(DType::BF16, 1, hidden), qkv = gpu.alloc(DType::BF16, 1, n_qkv),
               proj = gpu.alloc(DType::BF16, 1, hidden), gate_up = gpu.alloc(DType::BF16, 1, 2 * inter),
               act = gpu.alloc(DType::BF16, 1, inter), table = gpu.alloc(DType::F32, 64, head_dim),
               k_cache = gpu.alloc(DType::BF16, 64, kv_cols), v_cache = gpu.alloc(DType::BF16, 64, kv_cols),
               pos = gpu.alloc(DType::I32, 1, 1), slot = gpu.alloc(DType::I32, 1, 1);
  gpu.fill_random(x, 8, 1.0f, 0.0f);
  gpu.fill_random(act, 9, 1.0f, 0.0f);
  gpu.fill_random(table, 10, 1.0f, 0.0f);
  const int32_t three = 3;
  gpu.upload(pos, &three, DType::I32);
  gpu.upload(slot, &three, DType::I32);
  const Tensor q = qkv.col_slice(0, q_heads * head_dim), k = qkv.col_slice(q_heads * head_dim, kv_cols),
               v = qkv.col_slice(q_heads * head_dim + kv_cols, kv_cols);
  const RopeKvWrite r{pos, table, static_cast<int>(head_dim), static_cast<int>(q_heads), static_cast<int>(kv_heads),
                      k_cache, v_cache, slot};
  for (bool fused : {false, true}) {
    std::vector<double> us;
    for (int i = 0; i < 9; ++i) {
      gpu.synchronize();
      const auto t0 = std::chrono::steady_clock::now();
      for (const Layer& l : layers) {
        if (fused) {
          gpu.linear_rope_kv_write(qkv, x, l.qkv, nullptr, q, k, v, r);
          gpu.linear(proj, x, l.o, nullptr);
          gpu.linear_silu_mul(act, x, l.gate_up, nullptr, gate_up);
        } else {
          gpu.linear(qkv, x, l.qkv, nullptr);
          gpu.rope_kv_write(q, k, v, pos, table, static_cast<int>(head_dim), k_cache, v_cache, slot);
          gpu.linear(proj, x, l.o, nullptr);
          gpu.linear(gate_up, x, l.gate_up, nullptr);
          gpu.silu_mul(act, gate_up);
        }
        gpu.linear(proj, act, l.down, nullptr);
      }
      gpu.synchronize();
      us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / copies);
    }
    std::sort(us.begin(), us.end());
    const double bytes = 2.0 * hidden * (n_qkv + hidden + 3 * inter), median = us[us.size() / 2];
    std::printf("time batch-1 layer projections, %-24s %8.1f us  %6.0f GB/s of weights\n",
                fused ? "with epilogues" : "then rope, silu kernels", median, bytes / median / 1e3);
  }
}

// What a model family adds to a layer's attention: a partial rotary table (rotary_dim columns, 0:
// head_dim), a sliding window (0: none), soft-capped scores (0: none), and a scale other than
// head_dim^-0.5 (scale_mult times it: large scores for the soft cap to bite on).
struct AttentionOptions {
  int rotary_dim = 0;
  int window = 0;
  float softcap = 0.0f;
  float scale_mult = 1.0f;
};

// RoPE, KV write and paged attention over a scattered block table, for several sequences mixing
// decode rows and prefill chunks.
void check_attention(Backend& cpu, Backend& gpu, DType dt, int heads, int kv_heads, int head_dim, int block_size,
                     const std::vector<int>& context, const std::vector<int>& new_tokens,
                     const AttentionOptions& opt = {}) {
  const int rotary_dim = opt.rotary_dim > 0 ? opt.rotary_dim : head_dim;
  const int seqs = static_cast<int>(context.size());
  const int max_blocks = 1 + *std::max_element(context.begin(), context.end()) / block_size;
  const int num_blocks = seqs * max_blocks + 7;
  std::vector<int32_t> free_blocks(num_blocks);
  for (int i = 0; i < num_blocks; ++i) free_blocks[i] = i;
  std::shuffle(free_blocks.begin(), free_blocks.end(), rng);  // scattered blocks
  std::vector<int32_t> tables(seqs * max_blocks, 0), query_start{0}, seq_lens, positions, slots;
  int next = 0;
  for (int s = 0; s < seqs; ++s) {
    for (int b = 0; b * block_size < context[s]; ++b) tables[s * max_blocks + b] = free_blocks[next++];
    for (int p = context[s] - new_tokens[s]; p < context[s]; ++p) {
      positions.push_back(p);
      slots.push_back(tables[s * max_blocks + p / block_size] * block_size + p % block_size);
    }
    query_start.push_back(static_cast<int32_t>(positions.size()));
    seq_lens.push_back(context[s]);
  }
  const int rows = static_cast<int>(positions.size()), kv_dim = kv_heads * head_dim, q_dim = heads * head_dim;
  const int cache_rows = num_blocks * block_size;
  // Fill the whole cache with random K/V (the earlier tokens), then write the new rows over it.
  auto kc = make(cpu, gpu, dt, cache_rows, kv_dim, randn(static_cast<size_t>(cache_rows) * kv_dim));
  auto vc = make(cpu, gpu, dt, cache_rows, kv_dim, randn(static_cast<size_t>(cache_rows) * kv_dim));
  cpu.upload(kc.cpu, read(gpu, kc.gpu).data(), DType::F32);
  cpu.upload(vc.cpu, read(gpu, vc.gpu).data(), DType::F32);
  auto qkv = make(cpu, gpu, dt, rows, q_dim + 2 * kv_dim, randn(static_cast<size_t>(rows) * (q_dim + 2 * kv_dim)));
  cpu.upload(qkv.cpu, read(gpu, qkv.gpu).data(), DType::F32);
  auto rope_t = make(cpu, gpu, DType::F32, 4096, rotary_dim, rope_table(4096, rotary_dim));
  auto pos = make_i32(cpu, gpu, rows, 1, positions);
  auto slot = make_i32(cpu, gpu, rows, 1, slots);
  auto qs = make_i32(cpu, gpu, seqs + 1, 1, query_start);
  auto sl = make_i32(cpu, gpu, seqs, 1, seq_lens);
  auto bt = make_i32(cpu, gpu, seqs, max_blocks, tables);
  auto run = [&](Backend& b, const Tensor& qkv_t, const Tensor& k_cache, const Tensor& v_cache, const Tensor& out,
                 const Tensor& p, const Tensor& s, const Tensor& q_start, const Tensor& lens, const Tensor& tbl,
                 const Tensor& rt) {
    Tensor q = qkv_t.col_slice(0, q_dim), k = qkv_t.col_slice(q_dim, kv_dim), v = qkv_t.col_slice(q_dim + kv_dim, kv_dim);
    b.rope_kv_write(q, k, v, p, rt, head_dim, k_cache, v_cache, s);  // the CPU's is rope + kv_write
    AttentionBatch ab{q_start, lens, tbl, seqs, *std::max_element(new_tokens.begin(), new_tokens.end()),
                      *std::max_element(context.begin(), context.end()), block_size,
                      heads, kv_heads, head_dim, opt.scale_mult / std::sqrt(static_cast<float>(head_dim))};
    ab.sliding_window = opt.window;
    ab.softcap = opt.softcap;
    b.paged_attention(out, q, k_cache, v_cache, ab);
  };
  Pair out{cpu.alloc(DType::F32, rows, q_dim), gpu.alloc(dt, rows, q_dim)};
  run(cpu, qkv.cpu, kc.cpu, vc.cpu, out.cpu, pos.cpu, slot.cpu, qs.cpu, sl.cpu, bt.cpu, rope_t.cpu);
  run(gpu, qkv.gpu, kc.gpu, vc.gpu, out.gpu, pos.gpu, slot.gpu, qs.gpu, sl.gpu, bt.gpu, rope_t.gpu);
  char name[160];
  std::snprintf(name, sizeof name, "rope+kv_write+attention h%d/kv%d d%d bs%d rows %d ctx<=%d", heads, kv_heads,
                head_dim, block_size, rows, *std::max_element(context.begin(), context.end()));
  std::string label = name;
  if (rotary_dim < head_dim) label += " rot" + std::to_string(rotary_dim);
  if (opt.window > 0) label += " win" + std::to_string(opt.window);
  if (opt.softcap > 0.0f) {
    std::snprintf(name, sizeof name, " cap%g x%g", opt.softcap, opt.scale_mult);
    label += name;
  }
  report(label + " (q)", dt, rel_error(read(gpu, qkv.gpu), read(cpu, qkv.cpu)));
  report(label + " (out)", dt, rel_error(read(gpu, out.gpu), read(cpu, out.cpu)));
}

// The sampler on the same logits and parameters on both backends: greedy rows must pick the same
// token; seeded rows the same token (the top_p cut-off sums in a different order and the noise's
// logs may differ in the last bit, so a rare boundary case may differ); raw logprobs and top-k
// agree. And on the GPU each row sampled alone gives exactly the token it gave in the batch.
void check_sampling(Backend& cpu, Backend& gpu, int rows, int vocab) {
  std::vector<float> logits = randn(static_cast<size_t>(rows) * vocab, 3.0f);
  std::vector<std::vector<int32_t>> history(rows);
  std::vector<std::vector<std::pair<int32_t, float>>> bias(rows);
  std::vector<std::vector<int32_t>> masked(rows);
  auto add_row = [&](SamplingInputs& in, int r) {
    SamplingRow row;
    row.temperature = r % 4 == 0 ? 0.0f : 0.5f + 0.25f * (r % 5);
    row.top_k = r % 3 == 0 ? 50 : 0;
    row.top_p = r % 5 == 0 ? 0.9f : 1.0f;
    row.min_p = r % 7 == 0 ? 0.05f : 0.0f;
    row.repetition_penalty = r % 6 == 0 ? 1.3f : 1.0f;
    row.frequency_penalty = r % 6 == 1 ? 0.5f : 0.0f;
    row.presence_penalty = r % 6 == 2 ? 0.7f : 0.0f;
    row.seed = 1000 + r;
    row.output_pos = r * 3;
    row.num_logprobs = r % 2 == 0 ? 5 : -1;
    if (history[r].empty()) {
      for (int i = 0; i < 40; ++i) history[r].push_back(static_cast<int32_t>(rng() % vocab));
      // Rows 4, 12, 20, ... have no bias: greedy ones without penalties take the plain-argmax path.
      if (r % 8 != 4) bias[r] = {{static_cast<int32_t>(rng() % vocab), 5.0f}};
      if (r % 8 == 3) masked[r] = {static_cast<int32_t>(rng() % vocab)};
    }
    row.history = history[r].data();
    row.history_len = static_cast<int>(history[r].size());
    row.prompt_len = 20;
    row.logit_bias = &bias[r];
    row.masked = &masked[r];
    in.add(row);
  };
  auto add_rows = [&](SamplingInputs& in) {
    for (int r = 0; r < rows; ++r) add_row(in, r);
  };
  SamplingInputs cin(cpu, rows, 20), gin(gpu, rows, 20);
  add_rows(cin);
  add_rows(gin);
  Tensor lc = cpu.alloc(DType::F32, rows, vocab), lg = gpu.alloc(DType::F32, rows, vocab);
  cpu.upload(lc, logits.data(), DType::F32);
  gpu.upload(lg, logits.data(), DType::F32);
  SamplingResult rc = cin.sample(lc), rg = gin.sample(lg);
  int greedy_same = 0, greedy = 0, sampled_same = 0, sampled = 0;
  double lp_err = 0;
  for (int r = 0; r < rows; ++r) {
    const bool is_greedy = r % 4 == 0;
    (is_greedy ? greedy : sampled)++;
    if (rc.tokens[r] == rg.tokens[r]) (is_greedy ? greedy_same : sampled_same)++;
    if (r % 2 == 0) {
      lp_err = std::max(lp_err, static_cast<double>(std::fabs(rc.logprobs[r] - rg.logprobs[r])));
      for (int j = 0; j < 5; ++j) {
        if (rc.top_ids[r * rc.top_k + j] != rg.top_ids[r * rg.top_k + j]) lp_err = 1e9;
        lp_err = std::max(lp_err, static_cast<double>(std::fabs(rc.top_logprobs[r * rc.top_k + j] - rg.top_logprobs[r * rg.top_k + j])));
      }
    }
  }
  // Each row again on its own, on the GPU: a seeded row's stream must not depend on its batch.
  int alone_same = 0;
  for (int r = 0; r < rows; ++r) {
    SamplingInputs one(gpu, 1, 20);
    add_row(one, r);
    Tensor l1 = gpu.alloc(DType::F32, 1, vocab);
    gpu.upload(l1, logits.data() + static_cast<size_t>(r) * vocab, DType::F32);
    alone_same += one.sample(l1).tokens[0] == rg.tokens[r];
    gpu.release(l1);
  }
  const bool ok = greedy_same == greedy && sampled_same >= sampled - 1 && lp_err < 1e-3 && alone_same == rows;
  if (!ok) ++failures;
  std::printf("%-58s greedy %d/%d, seeded %d/%d same token, logprob err %.1e, alone = in batch %d/%d %s\n",
              ("sample " + std::to_string(rows) + " rows x " + std::to_string(vocab)).c_str(), greedy_same, greedy,
              sampled_same, sampled, lp_err, alone_same, rows, ok ? "ok" : "FAIL");
}

}  // namespace

// Times paged attention alone on the GPU (no reference): seqs sequences of `context` tokens with
// `new_tokens` new rows each, 32 query / 8 KV heads of 128 (Llama-3-8B; head_dim 256: 16 / 8),
// bf16, scattered blocks. Prints the median time and the rate against the roofline: bytes of K/V
// read for decode rows, FLOPs for prefill rows (with a sliding window, of the keys it covers).
void time_attention(Backend& gpu, int seqs, int context, int new_tokens, const char* label, int head_dim = 128,
                    int window = 0) {
  const int heads = head_dim == 256 ? 16 : 32, kv_heads = 8, block_size = 16;
  const int max_blocks = (context + block_size - 1) / block_size;
  const int num_blocks = seqs * max_blocks;
  std::vector<int32_t> order(num_blocks);
  for (int i = 0; i < num_blocks; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<int32_t> query_start{0}, seq_lens(seqs, context);
  for (int s = 0; s < seqs; ++s) query_start.push_back((s + 1) * new_tokens);
  const int rows = seqs * new_tokens;
  Tensor q = gpu.alloc(DType::BF16, rows, heads * head_dim), out = gpu.alloc(DType::BF16, rows, heads * head_dim);
  Tensor kc = gpu.alloc(DType::BF16, static_cast<int64_t>(num_blocks) * block_size, kv_heads * head_dim);
  Tensor vc = gpu.alloc(DType::BF16, static_cast<int64_t>(num_blocks) * block_size, kv_heads * head_dim);
  gpu.fill_random(q, 1, 1.0f, 0.0f);
  gpu.fill_random(kc, 2, 1.0f, 0.0f);
  gpu.fill_random(vc, 3, 1.0f, 0.0f);
  Tensor qs = gpu.alloc(DType::I32, seqs + 1, 1), sl = gpu.alloc(DType::I32, seqs, 1), bt = gpu.alloc(DType::I32, seqs, max_blocks);
  gpu.upload(qs, query_start.data(), DType::I32);
  gpu.upload(sl, seq_lens.data(), DType::I32);
  gpu.upload(bt, order.data(), DType::I32);
  AttentionBatch ab{qs, sl, bt, seqs, new_tokens, context, block_size, heads, kv_heads, head_dim,
                    1.0f / std::sqrt(static_cast<float>(head_dim))};
  ab.sliding_window = window;
  const int seen = window > 0 ? std::min(window, context) : context;  // keys a decode row reads
  std::vector<double> ms;
  for (int i = 0; i < 25; ++i) {
    gpu.synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    gpu.paged_attention(out, q, kc, vc, ab);
    gpu.synchronize();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2];
  if (new_tokens == 1) {
    const double bytes = 2.0 * seqs * seen * kv_heads * head_dim * 2;
    std::printf("time %-48s %8.3f ms  %6.0f GB/s of K/V (%.0f%% of 3.02 TB/s)\n", label, median,
                bytes / median / 1e6, 100.0 * bytes / median / 1e6 / 3020.0);
  } else {
    // Causal: row i of a prompt sees context - new_tokens + i + 1 keys; QK^T and PV, 2 FLOPs a MAC.
    double keys = 0;
    for (int i = 0; i < new_tokens; ++i) {
      const int position = context - new_tokens + i;
      keys += window > 0 ? std::min(window, position + 1) : position + 1;
    }
    const double flops = 4.0 * seqs * keys * heads * head_dim;
    std::printf("time %-48s %8.3f ms  %6.1f TFLOP/s\n", label, median, flops / median / 1e9);
  }
  for (const Tensor& t : {q, out, kc, vc, qs, sl, bt}) gpu.release(t);
}

// Times linear() alone at one to eight rows on Llama-3-8B's shapes, bf16 (weights cycling through
// more than L2); prints the rate at which weights are read.
void time_linear(Backend& gpu, int rows, int64_t k, int64_t n, DType out_dtype, const char* label) {
  const double median = median_linear_us(gpu, rows, k, n, out_dtype);
  std::printf("time linear %-42s %8.1f us  %6.0f GB/s of weights\n",
              (std::to_string(rows) + " x " + label).c_str(), median, 2.0 * n * k / median / 1e3);
}

int main(int argc, char** argv) {
  const bool time_only = argc > 1 && std::strcmp(argv[1], "--time-only") == 0;
  std::string reason;
  if (!cuda_available(&reason)) {
    std::printf("no GPU: %s\n", reason.c_str());
    return 1;
  }
  auto cpu = make_cpu_backend(8);
  CudaBackend gpu(0);
  for (DType dt : {DType::F32, DType::BF16}) {
    if (time_only) break;
    // Rows 1 to 8 take the CUDA-core GEMV (kernels/gemv.cu) in 16-bit, more take cuBLASLt.
    for (auto [t, k, n] : std::vector<std::tuple<int, int, int>>{
             {1, 4096, 4096}, {1, 14336, 1000}, {1, 6000, 300}, {2, 1000, 200}, {3, 14336, 520}, {4, 4096, 6144}, {7, 4096, 14336}, {8, 2048, 1000},
             {64, 1024, 3000}, {300, 512, 128256}}) {
      if (dt == DType::F32 && n == 14336) continue;
      check_linear(*cpu, gpu, dt, t, k, n);
    }
    for (auto [r, c] : std::vector<std::pair<int, int>>{{1, 4096}, {37, 4096}, {300, 64}, {3, 12288}, {2, 100}}) check_norms(*cpu, gpu, dt, r, c);
    for (auto [r, c] : std::vector<std::pair<int, int>>{{1, 2304}, {37, 3584}, {2, 100}}) check_norms(*cpu, gpu, dt, r, c, 1.0f);
    for (auto [r, c] : std::vector<std::pair<int, int>>{{1, 2304}, {37, 3584}}) check_rmsnorm_activation(*cpu, gpu, dt, r, c);
    // Per-head q/k norms on qkv's strided slices: Qwen 3 (128, offset 0), Gemma 3 (256, offset 1), odd sizes.
    check_head_rmsnorm(*cpu, gpu, dt, 1, 32, 8, 128, 0.0f);
    check_head_rmsnorm(*cpu, gpu, dt, 37, 16, 8, 128, 0.0f);
    check_head_rmsnorm(*cpu, gpu, dt, 5, 8, 4, 256, 1.0f);
    check_head_rmsnorm(*cpu, gpu, dt, 3, 6, 2, 80, 1.0f);
    // Partial rotary (Phi-4-mini 128 / 96, Phi-style 96 / 64, 64 / 24 off the 16-wide chunks) and full.
    check_rope(*cpu, gpu, dt, 37, 24, 8, 128, 96);
    check_rope(*cpu, gpu, dt, 5, 32, 32, 96, 64);
    check_rope(*cpu, gpu, dt, 3, 8, 2, 64, 24);
    check_rope(*cpu, gpu, dt, 9, 8, 4, 256, 256);
    check_elementwise(*cpu, gpu, dt, 37, 4096, 1000);
    check_elementwise(*cpu, gpu, dt, 300, 64, 128256);
    check_elementwise(*cpu, gpu, dt, 5, 100, 1000);  // silu_mul off 16-byte chunks: the per-element kernel
    if (dt == DType::F32) {  // logits are float32 whatever the activations
      check_softcap(*cpu, gpu, 3, 256000, 30.0f);
      check_softcap(*cpu, gpu, 64, 1000, 2.0f);
    }
    for (auto [h, kv, d] : std::vector<std::tuple<int, int, int>>{{32, 8, 128}, {8, 8, 64}, {8, 1, 128}, {4, 2, 16}, {16, 4, 256}, {64, 8, 128}}) {
      for (int bs : {8, 16, 32}) {
        check_attention(*cpu, gpu, dt, h, kv, d, bs, {1, 17, 100, 513}, {1, 17, 3, 1});
      }
    }
    check_attention(*cpu, gpu, dt, 32, 8, 128, 16, {2048, 4096, 1000}, {1, 1, 1});
    check_attention(*cpu, gpu, dt, 32, 8, 128, 16, {3999}, {1});  // one decode row: a many-way split
    check_attention(*cpu, gpu, dt, 8, 2, 64, 16, {300, 40}, {300, 1});  // a prefill with a decode beside it
    // Prefill rows on the tensor-core kernel: a whole 2048-token prompt, a later chunk of a chunked
    // prefill (its keys partly from earlier chunks), lengths off the 64-row tiles, GQA 1/4/8.
    check_attention(*cpu, gpu, dt, 32, 8, 128, 16, {2048, 1000, 5}, {2048, 200, 1});
    check_attention(*cpu, gpu, dt, 8, 8, 64, 8, {65, 130, 7}, {65, 64, 2});
    check_attention(*cpu, gpu, dt, 8, 1, 128, 32, {77, 300}, {77, 129});
    // head_dim 256 (Gemma) on the prefill tensor-core kernel (32-key tiles): a whole prompt, a later
    // chunk, rows off the tiles, with decode rows beside them on the lane kernel.
    check_attention(*cpu, gpu, dt, 8, 4, 256, 16, {1000, 130, 700}, {1000, 65, 1});
    check_attention(*cpu, gpu, dt, 16, 2, 256, 32, {97, 300}, {97, 3});
    // Partial rotary (Phi-4-mini: 128, rotary 96) through attention.
    check_attention(*cpu, gpu, dt, 24, 8, 128, 16, {300, 700}, {300, 1}, {96});
    // Sliding windows: decode rows whose contexts run far past the window (only its blocks are
    // read), a window smaller than a block, a single row split many ways over a window, prefill
    // rows of several sequences and a later chunk of a chunked prefill, GQA 4 and 8, head_dim 64,
    // 128 and 256.
    check_attention(*cpu, gpu, dt, 32, 8, 128, 16, {1000, 1500, 4000, 30}, {1, 1, 1, 1}, {0, 64});
    check_attention(*cpu, gpu, dt, 32, 8, 128, 16, {1000, 3, 17, 1200}, {1, 1, 1, 1}, {0, 5});
    check_attention(*cpu, gpu, dt, 32, 8, 128, 16, {3999}, {1}, {0, 1000});
    check_attention(*cpu, gpu, dt, 8, 2, 128, 16, {1000, 300, 77, 1200}, {1000, 100, 1, 200}, {0, 64});
    check_attention(*cpu, gpu, dt, 16, 2, 128, 8, {200, 150, 1030}, {200, 50, 1}, {0, 5});
    check_attention(*cpu, gpu, dt, 8, 8, 64, 16, {600, 257}, {600, 129}, {0, 100});
    check_attention(*cpu, gpu, dt, 8, 4, 256, 16, {1100, 700, 300}, {1, 300, 1}, {0, 64});
    check_attention(*cpu, gpu, dt, 8, 4, 256, 16, {1000, 40}, {200, 40}, {0, 5});
    // Soft-capped scores (Gemma 2: 50; here 2 on scores 4x the usual, so most are capped), alone,
    // with a window, at head_dim 128 (tensor cores) and 256 (lanes), decode and prefill.
    check_attention(*cpu, gpu, dt, 16, 4, 128, 16, {500, 1000, 40}, {500, 1, 1}, {0, 0, 2.0f, 4.0f});
    check_attention(*cpu, gpu, dt, 8, 4, 256, 16, {500, 1000, 40}, {300, 1, 1}, {0, 0, 2.0f, 4.0f});
    check_attention(*cpu, gpu, dt, 8, 4, 256, 16, {1200, 1500, 700}, {1, 1, 700}, {0, 64, 2.0f, 4.0f});
    check_attention(*cpu, gpu, dt, 32, 8, 128, 16, {4000, 1300}, {1, 300}, {0, 1000, 50.0f, 1.0f});
  }
  if (!time_only) {
    // One-row GEMV epilogues: Llama-3-8B's shapes, rows over 2 warps (8192 columns), odd sizes,
    // biases, fp16, and a row over 4 warps (14336 columns), which takes the unfused kernels.
    for (auto [k, n, b] : std::vector<std::tuple<int, int, bool>>{
             {4096, 14336, false}, {8192, 1000, true}, {2056, 300, true}, {16, 24, false}, {14336, 512, false}}) {
      check_gemv_silu_mul(gpu, DType::BF16, k, n, b);
    }
    check_gemv_silu_mul(gpu, DType::F16, 4096, 1000, true);
    check_gemv_rope_kv_write(gpu, DType::BF16, 4096, 32, 8, 128, false);
    check_gemv_rope_kv_write(gpu, DType::BF16, 2048, 16, 2, 64, true);
    check_gemv_rope_kv_write(gpu, DType::BF16, 8192, 8, 8, 128, false);
    check_gemv_rope_kv_write(gpu, DType::BF16, 256, 4, 1, 256, true);
    check_gemv_rope_kv_write(gpu, DType::BF16, 14336, 8, 2, 128, false);
    check_gemv_rope_kv_write(gpu, DType::F16, 4096, 32, 8, 128, true);
    // Partial rotary in the epilogue: Phi-4-mini's shape (128, rotary 96), 96 / 32, 64 / 24.
    check_gemv_rope_kv_write(gpu, DType::BF16, 3072, 24, 8, 128, false, 96);
    check_gemv_rope_kv_write(gpu, DType::BF16, 2048, 8, 2, 96, true, 32);
    check_gemv_rope_kv_write(gpu, DType::F16, 1024, 4, 4, 64, true, 24);
    // Gemma 2's attention in fp16: window and soft cap, head_dim 256, prefill and decode.
    check_attention(*cpu, gpu, DType::F16, 8, 4, 256, 16, {600, 1300, 40}, {600, 1, 1}, {0, 128, 50.0f, 1.0f});
    check_attention(*cpu, gpu, DType::F16, 32, 8, 128, 16, {600, 90, 40}, {600, 33, 1});
    check_attention(*cpu, gpu, DType::F16, 8, 2, 64, 8, {100}, {100});
    check_attention(*cpu, gpu, DType::F16, 48, 8, 128, 16, {700, 33}, {1, 1});  // GQA 6: a partial pass
    check_linear(*cpu, gpu, DType::F16, 1, 4096, 4096);
    check_linear(*cpu, gpu, DType::F16, 5, 2048, 3000);
  }
  for (int rows : {1, 2, 4}) {
    time_linear(gpu, rows, 4096, 6144, DType::BF16, "4096 -> 6144 (qkv)");
    time_linear(gpu, rows, 4096, 4096, DType::BF16, "4096 -> 4096 (o)");
    time_linear(gpu, rows, 4096, 28672, DType::BF16, "4096 -> 28672 (gate_up)");
    time_linear(gpu, rows, 14336, 4096, DType::BF16, "14336 -> 4096 (down)");
    time_linear(gpu, rows, 4096, 128256, DType::F32, "4096 -> 128256 (lm_head, f32)");
  }
  time_layer_epilogues(gpu);
  time_attention(gpu, 64, 4096, 1, "decode 64 seqs x 4096 context");
  time_attention(gpu, 1, 4096, 1, "decode 1 seq x 4096 context");
  time_attention(gpu, 4, 2048, 2048, "prefill 4 x 2048 (one layer)");
  time_attention(gpu, 1, 4096, 2048, "prefill chunk 2048 after 2048 (one layer)");
  // A sliding window of 512 over 4096-token contexts: decode reads the window's keys only.
  time_attention(gpu, 64, 4096, 1, "decode 64 seqs x 4096 context, window 512", 128, 512);
  time_attention(gpu, 64, 512, 1, "decode 64 seqs x 512 context", 128);
  time_attention(gpu, 4, 2048, 2048, "prefill 4 x 2048, window 512", 128, 512);
  time_attention(gpu, 64, 4096, 1, "decode 64 seqs x 4096 context, d256", 256);
  time_attention(gpu, 4, 2048, 2048, "prefill 4 x 2048, d256 (one layer)", 256);
  if (!time_only) {
    check_sampling(*cpu, gpu, 64, 128256);
    check_sampling(*cpu, gpu, 8, 1000);
  }
  std::printf("%s: %d failing case(s)\n", failures ? "FAIL" : "PASS", failures);
  return failures ? 1 : 0;
}
