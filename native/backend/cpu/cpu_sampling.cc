// Sampling on the CPU, one row per sequence, following vLLM's order: logit biases (logit_bias and
// the min_tokens mask), penalties (repetition, then frequency and presence), then greedy argmax,
// or temperature, min_p, top_k, top_p and a draw from the filtered distribution. Logprobs are the
// raw model's (before any of this), as vLLM reports them by default.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/sampling_rng.h"

namespace nodellm {
namespace {

// vLLM treats temperatures below this as greedy.
constexpr float kGreedyTemperature = 1e-5f;

struct RowLogprobs {
  double log_sum_exp;
  std::vector<int32_t> top;  // ids of the k largest logits, largest first, ties by lower id
};

RowLogprobs raw_logprobs(const float* logits, int64_t vocab, int k) {
  float max_logit = *std::max_element(logits, logits + vocab);
  double sum = 0.0;
  for (int64_t i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(logits[i] - max_logit));
  RowLogprobs result{max_logit + std::log(sum), {}};
  if (k > 0) {
    std::vector<int32_t> ids(vocab);
    std::iota(ids.begin(), ids.end(), 0);
    k = static_cast<int>(std::min<int64_t>(k, vocab));
    std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int32_t a, int32_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    ids.resize(k);
    result.top = std::move(ids);
  }
  return result;
}

void write_logprobs(const float* logits, const RowLogprobs& lp, int32_t* top_ids,
                    float* top_logprobs, int columns) {
  for (int j = 0; j < columns; ++j) {
    bool have = j < static_cast<int>(lp.top.size());
    top_ids[j] = have ? lp.top[j] : -1;
    top_logprobs[j] = have ? static_cast<float>(logits[lp.top[j]] - lp.log_sum_exp) : -INFINITY;
  }
}

// Per-thread scratch: token counts over the vocabulary, reset through the list of touched ids.
struct Scratch {
  std::vector<int32_t> output_count;
  std::vector<uint8_t> seen;
  std::vector<int32_t> touched;
  std::vector<float> raw;
  std::vector<int32_t> order;
};

void apply_penalties(float* logits, const int32_t* history, int prompt_len, int total,
                     float repetition, float frequency, float presence, Scratch& s) {
  for (int i = 0; i < total; ++i) {
    int32_t token = history[i];
    if (!s.seen[token]) s.touched.push_back(token);
    s.seen[token] = 1;
    if (i >= prompt_len) ++s.output_count[token];
  }
  for (int32_t token : s.touched) {
    float& l = logits[token];
    if (repetition != 1.0f) l = l > 0 ? l / repetition : l * repetition;
    int count = s.output_count[token];
    if (count > 0) l -= frequency * static_cast<float>(count) + presence;
    s.seen[token] = 0;
    s.output_count[token] = 0;
  }
  s.touched.clear();
}

int32_t argmax(const float* logits, int64_t vocab) {
  return static_cast<int32_t>(std::max_element(logits, logits + vocab) - logits);
}

// Temperature, min_p, top_k and top_p, then one draw from what is left.
int32_t draw(float* logits, int64_t vocab, float temperature, int top_k, float top_p,
             float min_p, uint64_t seed, uint32_t position, Scratch& s) {
  for (int64_t i = 0; i < vocab; ++i) logits[i] /= temperature;
  const float max_logit = *std::max_element(logits, logits + vocab);
  if (min_p > 0.0f) {
    // p_i >= min_p * p_max  <=>  logit_i >= max_logit + log(min_p)
    const float threshold = max_logit + std::log(min_p);
    for (int64_t i = 0; i < vocab; ++i)
      if (logits[i] < threshold) logits[i] = -INFINITY;
  }
  if (top_k > 0 && top_k < vocab) {
    s.raw.assign(logits, logits + vocab);
    std::nth_element(s.raw.begin(), s.raw.begin() + (top_k - 1), s.raw.end(), std::greater<float>());
    const float kth = s.raw[top_k - 1];  // ties with the k-th value are kept, as in vLLM
    for (int64_t i = 0; i < vocab; ++i)
      if (logits[i] < kth) logits[i] = -INFINITY;
  }
  if (top_p < 1.0f) {
    // Keep the most probable tokens whose preceding mass is below top_p.
    s.order.clear();
    double total = 0.0;
    for (int64_t i = 0; i < vocab; ++i) {
      if (logits[i] == -INFINITY) continue;
      s.order.push_back(static_cast<int32_t>(i));
      total += std::exp(static_cast<double>(logits[i] - max_logit));
    }
    std::sort(s.order.begin(), s.order.end(), [&](int32_t a, int32_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    double before = 0.0;
    for (int32_t token : s.order) {
      if (before >= top_p * total) logits[token] = -INFINITY;
      before += std::exp(static_cast<double>(logits[token] - max_logit));
    }
  }
  // One Gumbel-max draw over the kept tokens (ties to the lower id).
  int32_t token = -1;
  double best = -INFINITY;
  for (int64_t i = 0; i < vocab; ++i) {
    if (logits[i] == -INFINITY) continue;
    const double score = static_cast<double>(logits[i]) + gumbel_noise(seed, position, static_cast<uint32_t>(i));
    if (score > best) {
      best = score;
      token = static_cast<int32_t>(i);
    }
  }
  return token >= 0 ? token : argmax(logits, vocab);
}

}  // namespace

void CpuBackend::sample(const Tensor& logits, const SamplingBatch& b, const SamplerOutput& out) {
  const int64_t vocab = logits.cols;
  pool_.parallel_for(b.num_rows, 1, [&](int64_t begin, int64_t end) {
    Scratch s;
    for (int64_t r = begin; r < end; ++r) {
      float* row = logits.row<float>(r);
      const int num_logprobs = b.num_logprobs.ptr<int32_t>()[r];
      // Logprobs are reported on the raw logits, so keep them before processing.
      std::vector<float> raw_copy;
      if (num_logprobs >= 0) raw_copy.assign(row, row + vocab);

      if (b.any_bias) {
        const int32_t* start = b.bias_start.ptr<int32_t>();
        for (int32_t i = start[r]; i < start[r + 1]; ++i)
          row[b.bias_token.ptr<int32_t>()[i]] += b.bias_value.ptr<float>()[i];
      }
      if (b.any_penalties) {
        const float rep = b.repetition_penalty.ptr<float>()[r];
        const float freq = b.frequency_penalty.ptr<float>()[r];
        const float pres = b.presence_penalty.ptr<float>()[r];
        if (rep != 1.0f || freq != 0.0f || pres != 0.0f) {
          if (s.seen.empty()) {
            s.seen.assign(vocab, 0);
            s.output_count.assign(vocab, 0);
          }
          const int32_t* start = b.history_start.ptr<int32_t>();
          apply_penalties(row, b.history.ptr<int32_t>() + start[r], b.prompt_len.ptr<int32_t>()[r],
                          start[r + 1] - start[r], rep, freq, pres, s);
        }
      }

      const float temperature = b.temperature.ptr<float>()[r];
      int32_t token;
      if (temperature < kGreedyTemperature) {
        token = argmax(row, vocab);
      } else {
        token = draw(row, vocab, temperature, b.top_k.ptr<int32_t>()[r], b.top_p.ptr<float>()[r],
                     b.min_p.ptr<float>()[r], static_cast<uint64_t>(b.seed.ptr<int64_t>()[r]),
                     static_cast<uint32_t>(b.output_pos.ptr<int32_t>()[r]), s);
      }
      out.tokens.ptr<int32_t>()[r] = token;

      if (num_logprobs >= 0) {
        RowLogprobs lp = raw_logprobs(raw_copy.data(), vocab, num_logprobs);
        out.logprobs.ptr<float>()[r] = static_cast<float>(raw_copy[token] - lp.log_sum_exp);
        write_logprobs(raw_copy.data(), lp, out.top_ids.row<int32_t>(r),
                       out.top_logprobs.row<float>(r), b.max_logprobs);
      }
    }
  });
}

void CpuBackend::logprobs(const Tensor& logits, const Tensor& targets, int k,
                          const Tensor& target_logprobs, const Tensor& top_ids,
                          const Tensor& top_logprobs) {
  pool_.parallel_for(logits.rows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* row = logits.row<float>(r);
      RowLogprobs lp = raw_logprobs(row, logits.cols, k);
      int32_t target = targets.ptr<int32_t>()[r];
      target_logprobs.ptr<float>()[r] = static_cast<float>(row[target] - lp.log_sum_exp);
      if (k > 0) write_logprobs(row, lp, top_ids.row<int32_t>(r), top_logprobs.row<float>(r), k);
    }
  });
}

}  // namespace nodellm
