// Causal attention over the paged KV cache, float32. Each (query row, head) pair is one work item
// that walks its sequence's block table in position order, so a query's result does not depend on
// how the batch was formed or on how the prompt was split into chunks. A sliding window starts the
// walk at the window's first position; soft-capping bounds each scaled score with a tanh.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/cpu_backend.h"

namespace nodellm {

void CpuBackend::paged_attention(const Tensor& out, const Tensor& q, const Tensor& k_cache,
                                 const Tensor& v_cache, const AttentionBatch& batch) {
  const int heads = batch.num_heads, kv_heads = batch.num_kv_heads, dim = batch.head_dim;
  const int group = heads / kv_heads;
  const int32_t* query_start = batch.query_start.ptr<int32_t>();
  const int32_t* seq_lens = batch.seq_lens.ptr<int32_t>();
  const int64_t items = q.rows * heads;

  pool_.parallel_for(items, 8, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(batch.max_seq_len);
    std::vector<float> acc(dim);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t row = item / heads;
      const int head = static_cast<int>(item % heads);
      const int kv_head = head / group;
      // The sequence whose new rows contain `row`.
      const int seq = static_cast<int>(
          std::upper_bound(query_start, query_start + batch.num_seqs + 1, row) - query_start - 1);
      const int query_len = query_start[seq + 1] - query_start[seq];
      const int context = seq_lens[seq];
      const int position = context - query_len + static_cast<int>(row - query_start[seq]);
      const int32_t* blocks = batch.block_tables.row<int32_t>(seq);
      const float* qh = q.row<float>(row) + head * dim;

      const int first = batch.sliding_window > 0 ? std::max(0, position - batch.sliding_window + 1) : 0;
      float max_score = -INFINITY;
      for (int j = first; j <= position; ++j) {
        int64_t slot = static_cast<int64_t>(blocks[j / batch.block_size]) * batch.block_size +
                       j % batch.block_size;
        float score = dot_f32(qh, k_cache.row<float>(slot) + kv_head * dim, dim) * batch.scale;
        if (batch.softcap > 0.0f) score = batch.softcap * std::tanh(score / batch.softcap);
        scores[j] = score;
        max_score = std::max(max_score, scores[j]);
      }
      float sum = 0.0f;
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int j = first; j <= position; ++j) {
        float p = std::exp(scores[j] - max_score);
        sum += p;
        int64_t slot = static_cast<int64_t>(blocks[j / batch.block_size]) * batch.block_size +
                       j % batch.block_size;
        const float* vh = v_cache.row<float>(slot) + kv_head * dim;
        for (int d = 0; d < dim; ++d) acc[d] += p * vh[d];
      }
      float* o = out.row<float>(row) + head * dim;
      for (int d = 0; d < dim; ++d) o[d] = acc[d] / sum;
    }
  });
}

}  // namespace nodellm
