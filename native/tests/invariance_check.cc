// Batch invariance of the CUDA backend: with batch_invariant (--batch-invariant), a row's linear
// layers and decode attention give the same bits whatever else shares the call (1 to 2048 rows,
// 64 sequences, a prefill beside it). The default backend runs the same cases: it trades
// invariance for speed, so it must differ somewhere in each check, which shows the check can see
// a difference (a bf16 output hides most reorderings of a sum, so a weak check would pass anyway).
// Built only with the CUDA backend: build/Release/invariance_check. Exit status 1 if a
// batch-invariant case differs.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "tests/linear_timing.h"

using namespace nodellm;

namespace {

int failures = 0;

std::vector<uint8_t> bytes_of(Backend& b, const Tensor& t) {
  std::vector<uint8_t> out(static_cast<size_t>(t.rows * t.cols) * dtype_size(t.dtype));
  b.download(out.data(), t);
  return out;
}

// Records which cases differ from the row computed alone; prints one line per check.
struct Verdict {
  std::vector<std::string> differing;
  void compare(Backend& b, const Tensor& alone, const Tensor& in_batch, const std::string& where) {
    if (bytes_of(b, alone) != bytes_of(b, in_batch)) differing.push_back(where);
  }
  void report(const std::string& name, bool invariant_backend) {
    std::string list;
    for (const std::string& d : differing) list += (list.empty() ? "" : ", ") + d;
    std::string verdict;
    if (invariant_backend)
      verdict = differing.empty() ? "same bits in every batch ok" : "differs with " + list + " FAIL";
    else
      verdict = differing.empty() ? "same bits in every batch: this check cannot see a difference FAIL"
                                  : "differs with " + list + " (expected) ok";
    if (verdict.ends_with("FAIL")) ++failures;
    std::printf("%-15s %-62s %s\n", invariant_backend ? "batch-invariant" : "default", name.c_str(), verdict.c_str());
  }
};

// Row 0 and the last row of x[0:rows] against each computed alone, for each row count.
void check_linear(Backend& gpu, bool invariant, int64_t k, int64_t n, DType out_dtype, const std::vector<int>& row_counts) {
  const int max_rows = *std::max_element(row_counts.begin(), row_counts.end());
  Tensor x = gpu.alloc(DType::BF16, max_rows, k), w = gpu.alloc(DType::BF16, n, k);
  gpu.fill_random(x, 11, 1.0f, 0.0f);
  gpu.fill_random(w, 12, 1.0f / std::sqrt(static_cast<float>(k)), 0.0f);
  const LinearWeight lw = gpu.prepare_linear(w);
  // The row alone is copied into its own allocation, as the engine's inputs are (aligned).
  Tensor x_one = gpu.alloc(DType::BF16, 1, k), pick = gpu.alloc(DType::I32, 1, 1);
  Tensor one = gpu.alloc(out_dtype, 1, n), out = gpu.alloc(out_dtype, max_rows, n);
  Verdict v;
  for (int rows : row_counts) {
    gpu.linear(out.row_slice(0, rows), x.row_slice(0, rows), lw, nullptr);
    for (int r : {0, rows - 1}) {
      gpu.upload(pick, &r, DType::I32);
      gpu.gather_rows(x_one, x, pick);
      gpu.linear(one, x_one, lw, nullptr);
      v.compare(gpu, one, out.row_slice(r, 1), std::to_string(rows) + " rows");
      if (rows == 1) break;
    }
  }
  v.differing.erase(std::unique(v.differing.begin(), v.differing.end()), v.differing.end());
  v.report("linear " + std::to_string(k) + " -> " + std::to_string(n) + " (" + dtype_name(out_dtype) + " out)",
           invariant);
  for (const Tensor& t : {x, w, x_one, pick, one, out}) gpu.release(t);
}

// Sequences over one paged cache of random K/V, queried by random q; block tables scattered.
struct AttentionCase {
  int heads, kv_heads, head_dim, block_size = 16;
  std::vector<int> context, new_tokens;  // per sequence
};

// The last output row of each sequence in a call with the given sequences, by sequence. Every
// call uses the same cache, q rows and block table for each sequence id, so only the company
// differs.
std::map<int, std::vector<uint8_t>> attention_rows(Backend& gpu, const AttentionCase& c, const std::vector<int>& seqs,
                                                   const Tensor& kc, const Tensor& vc, const Tensor& q_all,
                                                   const std::vector<int>& q_first, const std::vector<int32_t>& tables,
                                                   int max_blocks) {
  std::vector<int32_t> query_start{0}, seq_lens, table_rows, q_rows;
  std::map<int, int> last_row;
  for (int s : seqs) {
    last_row[s] = static_cast<int>(q_rows.size()) + c.new_tokens[s] - 1;
    for (int i = 0; i < c.new_tokens[s]; ++i) q_rows.push_back(q_first[s] + i);
    query_start.push_back(static_cast<int32_t>(q_rows.size()));
    seq_lens.push_back(c.context[s]);
    table_rows.insert(table_rows.end(), tables.begin() + s * max_blocks, tables.begin() + (s + 1) * max_blocks);
  }
  const int rows = static_cast<int>(q_rows.size()), q_dim = c.heads * c.head_dim;
  Tensor rows_t = gpu.alloc(DType::I32, rows, 1), q = gpu.alloc(DType::BF16, rows, q_dim);
  Tensor out = gpu.alloc(DType::BF16, rows, q_dim);
  Tensor qs = gpu.alloc(DType::I32, static_cast<int64_t>(seqs.size()) + 1, 1);
  Tensor sl = gpu.alloc(DType::I32, static_cast<int64_t>(seqs.size()), 1);
  Tensor bt = gpu.alloc(DType::I32, static_cast<int64_t>(seqs.size()), max_blocks);
  gpu.upload(rows_t, q_rows.data(), DType::I32);
  gpu.gather_rows(q, q_all, rows_t);
  gpu.upload(qs, query_start.data(), DType::I32);
  gpu.upload(sl, seq_lens.data(), DType::I32);
  gpu.upload(bt, table_rows.data(), DType::I32);
  int max_query = 0, max_context = 0;
  for (int s : seqs) max_query = std::max(max_query, c.new_tokens[s]), max_context = std::max(max_context, c.context[s]);
  const AttentionBatch ab{qs, sl, bt, static_cast<int>(seqs.size()), max_query, max_context, c.block_size,
                          c.heads, c.kv_heads, c.head_dim, 1.0f / std::sqrt(static_cast<float>(c.head_dim))};
  gpu.paged_attention(out, q, kc, vc, ab);
  std::map<int, std::vector<uint8_t>> result;
  for (const auto& [seq, row] : last_row) result[seq] = bytes_of(gpu, out.row_slice(row, 1));
  for (const Tensor& t : {rows_t, q, out, qs, sl, bt}) gpu.release(t);
  return result;
}

// 64 sequences decode one row each (sequence 0 at 3999 tokens of context, the others at random
// lengths); each row alone is compared with the same row among all 64, and beside a prefill chunk
// or one other decode. The same cases in both modes: the generator is seeded here.
void check_attention(Backend& gpu, bool invariant, int heads, int kv_heads, int head_dim) {
  std::mt19937 rng(4321 + head_dim);
  AttentionCase c{heads, kv_heads, head_dim, 16, {}, {}};
  std::uniform_int_distribution<int> length(1, 4096);
  c.context = {3999};
  c.new_tokens = {1};
  for (int s = 1; s < 64; ++s) c.context.push_back(length(rng)), c.new_tokens.push_back(1);
  c.context.push_back(700);  // sequence 64: a 300-token chunk of a prompt after 400 cached tokens
  c.new_tokens.push_back(300);
  const int seqs = static_cast<int>(c.context.size());
  const int max_blocks = (*std::max_element(c.context.begin(), c.context.end()) + c.block_size - 1) / c.block_size;
  std::vector<int32_t> tables(static_cast<size_t>(seqs) * max_blocks);
  std::iota(tables.begin(), tables.end(), 0);
  std::shuffle(tables.begin(), tables.end(), rng);
  std::vector<int> q_first;
  int q_rows = 0;
  for (int s = 0; s < seqs; ++s) q_first.push_back(q_rows), q_rows += c.new_tokens[s];
  const int64_t cache_rows = static_cast<int64_t>(tables.size()) * c.block_size;
  Tensor kc = gpu.alloc(DType::BF16, cache_rows, kv_heads * head_dim), vc = gpu.alloc(DType::BF16, cache_rows, kv_heads * head_dim);
  Tensor q_all = gpu.alloc(DType::BF16, q_rows, heads * head_dim);
  gpu.fill_random(kc, 21, 1.0f, 0.0f);
  gpu.fill_random(vc, 22, 1.0f, 0.0f);
  gpu.fill_random(q_all, 23, 1.0f, 0.0f);
  auto rows_of = [&](const std::vector<int>& company) {
    return attention_rows(gpu, c, company, kc, vc, q_all, q_first, tables, max_blocks);
  };
  std::map<int, std::vector<uint8_t>> alone;
  for (int s = 0; s < 64; ++s) alone[s] = rows_of({s})[s];
  // True when every decode row of the call equals its row computed alone.
  auto same_as_alone = [&](const std::vector<int>& company) {
    const std::map<int, std::vector<uint8_t>> got = rows_of(company);
    for (const auto& [seq, row] : got)
      if (c.new_tokens[seq] == 1 && row != alone.at(seq)) return false;
    return true;
  };
  std::vector<int> all_decodes(64);
  std::iota(all_decodes.begin(), all_decodes.end(), 0);
  std::rotate(all_decodes.begin(), all_decodes.begin() + 5, all_decodes.end());  // sequence 0 is not first
  Verdict v;
  if (!same_as_alone(all_decodes)) v.differing.push_back("the 64 decodes together");
  if (!same_as_alone({64, 0})) v.differing.push_back("a prefill chunk");
  if (!same_as_alone({0, 3})) v.differing.push_back("one other decode");
  char name[96];
  std::snprintf(name, sizeof name, "decode attention h%d/kv%d d%d, 64 rows", heads, kv_heads, head_dim);
  v.report(name, invariant);
  for (const Tensor& t : {kc, vc, q_all}) gpu.release(t);
}

// linear() at one row and at 64 and 2048 (a prefill): what the one-row GEMV and the per-row-count
// algorithms save over the batch-invariant ones.
void time_linear(Backend& gpu, const char* mode, int rows, int64_t k, int64_t n, DType out_dtype, const char* label) {
  const double median = median_linear_us(gpu, rows, k, n, out_dtype);
  if (rows == 1)
    std::printf("time %-15s linear 1 x %-30s %8.1f us  %6.0f GB/s of weights\n", mode, label, median,
                2.0 * n * k / median / 1e3);
  else
    std::printf("time %-15s linear %d x %-27s %8.1f us  %6.0f TFLOP/s\n", mode, rows, label, median,
                2.0 * rows * n * k / median / 1e6);
}

}  // namespace

int main() {
  std::string reason;
  if (!cuda_available(&reason)) {
    std::printf("no GPU: %s\n", reason.c_str());
    return 1;
  }
  const std::vector<int> rows{1, 2, 3, 8, 17, 64, 300, 2048}, logit_rows{1, 2, 5, 64, 300};
  for (bool invariant : {true, false}) {
    CudaBackend gpu(0, invariant);
    // Llama-3-8B's projections and logits, and the default model's (hidden 256, head_dim 32).
    check_linear(gpu, invariant, 4096, 6144, DType::BF16, rows);
    check_linear(gpu, invariant, 4096, 28672, DType::BF16, rows);
    check_linear(gpu, invariant, 14336, 4096, DType::BF16, rows);
    check_linear(gpu, invariant, 4096, 128256, DType::F32, logit_rows);
    check_linear(gpu, invariant, 256, 384, DType::BF16, rows);
    check_linear(gpu, invariant, 704, 256, DType::BF16, rows);
    check_linear(gpu, invariant, 256, 4096, DType::F32, rows);
    check_attention(gpu, invariant, 32, 8, 128);
    check_attention(gpu, invariant, 8, 2, 32);
    check_attention(gpu, invariant, 8, 8, 64);
  }
  for (bool invariant : {true, false}) {
    CudaBackend gpu(0, invariant);
    const char* mode = invariant ? "batch-invariant" : "default";
    for (int rows : {1, 64, 2048}) {
      time_linear(gpu, mode, rows, 4096, 6144, DType::BF16, "4096 -> 6144 (qkv)");
      time_linear(gpu, mode, rows, 4096, 4096, DType::BF16, "4096 -> 4096 (o)");
      time_linear(gpu, mode, rows, 4096, 28672, DType::BF16, "4096 -> 28672 (gate_up)");
      time_linear(gpu, mode, rows, 14336, 4096, DType::BF16, "14336 -> 4096 (down)");
      if (rows < 2048) time_linear(gpu, mode, rows, 4096, 128256, DType::F32, "4096 -> 128256 (lm_head, f32)");
    }
  }
  std::printf("%s: %d failing case(s)\n", failures ? "FAIL" : "PASS", failures);
  return failures ? 1 : 0;
}
