// Collects the sampling parameters of a step's rows on the host and uploads them into backend
// tensors (allocated once for max_rows) as a SamplingBatch; then runs the sampler and brings the
// results back. The model runner uses it for every step and the addon's testing hook for
// sampling given logits.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "backend/backend.h"

namespace nodellm {

struct SamplingRow {
  float temperature = 1.0f;
  int top_k = 0;
  float top_p = 1.0f;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  uint64_t seed = 0;
  int output_pos = 0;
  int num_logprobs = -1;
  // Seen tokens (prompt then output), read only when a penalty is on.
  const int32_t* history = nullptr;
  int history_len = 0;
  int prompt_len = 0;
  const std::vector<std::pair<int32_t, float>>* logit_bias = nullptr;
  const std::vector<int32_t>* masked = nullptr;  // tokens that may not be drawn (min_tokens)
};

struct SamplingResult {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;  // NaN for rows that asked for none
  int top_k = 0;
  std::vector<int32_t> top_ids;
  std::vector<float> top_logprobs;
};

class SamplingInputs {
 public:
  SamplingInputs(Backend& backend, int max_rows, int max_logprobs);
  ~SamplingInputs();
  SamplingInputs(const SamplingInputs&) = delete;
  SamplingInputs& operator=(const SamplingInputs&) = delete;

  void clear();
  void add(const SamplingRow& row);
  int rows() const { return static_cast<int>(temperature_.size()); }
  // Samples logits [rows(), vocab] (modified in place) and returns the results on the host.
  SamplingResult sample(const Tensor& logits);
  // The same in two halves: launch() queues the sampler and the copies back; collect() waits for
  // them and returns the results. Between the two the host is free (and the rows may be cleared).
  void launch(const Tensor& logits);
  SamplingResult collect();

 private:
  SamplingBatch upload();

  Backend& backend_;
  int max_rows_;
  // Host lists, one entry per row (or per history token / bias).
  std::vector<float> temperature_, top_p_, min_p_, repetition_, frequency_, presence_, bias_value_;
  std::vector<int32_t> top_k_, output_pos_, num_logprobs_, history_start_, prompt_len_, history_,
      bias_start_, bias_token_;
  std::vector<int64_t> seed_;
  bool any_penalties_ = false;
  int max_logprobs_seen_ = 0;
  bool launched_ = false;                 // launch() ran and collect() has not
  SamplingResult pending_;                // launch()'s results, filled by the backend's synchronize()
  std::vector<int32_t> pending_num_logprobs_;  // per pending row: the logprobs it asked for (-1: none)
  // Backend tensors.
  Tensor t_temperature_, t_top_k_, t_top_p_, t_min_p_, t_repetition_, t_frequency_, t_presence_,
      t_seed_, t_output_pos_, t_num_logprobs_, t_history_start_, t_prompt_len_, t_history_,
      t_bias_start_, t_bias_token_, t_bias_value_, t_tokens_, t_logprobs_, t_top_ids_,
      t_top_logprobs_;
};

// Uploads a host list into the front of a backend tensor and returns that view.
template <typename T>
Tensor upload_front(Backend& backend, const Tensor& slot, const std::vector<T>& host, DType dtype) {
  Tensor view = slot.first_rows(static_cast<int64_t>(host.size()) / slot.cols);
  if (!host.empty()) backend.upload(view, host.data(), dtype);
  return view;
}

}  // namespace nodellm
