#include "engine/sampling_inputs.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace nodellm {

namespace {
// Grows a backend tensor that holds a variable-length list.
void ensure_rows(Backend& backend, Tensor& t, DType dtype, int64_t rows) {
  if (t.data && t.rows >= rows) return;
  const int64_t capacity = std::max<int64_t>(rows, t.rows * 2);
  if (t.data) backend.release(t);
  t = backend.alloc(dtype, capacity, 1);
}
}  // namespace

SamplingInputs::SamplingInputs(Backend& backend, int max_rows, int max_logprobs)
    : backend_(backend), max_rows_(max_rows) {
  auto i32 = [&](int64_t rows, int64_t cols = 1) { return backend.alloc(DType::I32, rows, cols); };
  auto f32 = [&](int64_t rows, int64_t cols = 1) { return backend.alloc(DType::F32, rows, cols); };
  t_temperature_ = f32(max_rows);
  t_top_k_ = i32(max_rows);
  t_top_p_ = f32(max_rows);
  t_min_p_ = f32(max_rows);
  t_repetition_ = f32(max_rows);
  t_frequency_ = f32(max_rows);
  t_presence_ = f32(max_rows);
  t_seed_ = backend.alloc(DType::I64, max_rows, 1);
  t_output_pos_ = i32(max_rows);
  t_num_logprobs_ = i32(max_rows);
  t_history_start_ = i32(max_rows + 1);
  t_prompt_len_ = i32(max_rows);
  t_history_ = i32(1024);
  t_bias_start_ = i32(max_rows + 1);
  t_bias_token_ = i32(256);
  t_bias_value_ = f32(256);
  const int k = std::max(1, max_logprobs);
  t_tokens_ = i32(max_rows);
  t_logprobs_ = f32(max_rows);
  t_top_ids_ = i32(max_rows, k);
  t_top_logprobs_ = f32(max_rows, k);
  clear();
}

SamplingInputs::~SamplingInputs() {
  for (const Tensor* t :
       {&t_temperature_, &t_top_k_, &t_top_p_, &t_min_p_, &t_repetition_, &t_frequency_,
        &t_presence_, &t_seed_, &t_output_pos_, &t_num_logprobs_, &t_history_start_,
        &t_prompt_len_, &t_history_, &t_bias_start_, &t_bias_token_, &t_bias_value_, &t_tokens_,
        &t_logprobs_, &t_top_ids_, &t_top_logprobs_})
    backend_.release(*t);
}

void SamplingInputs::clear() {
  for (auto* v : {&temperature_, &top_p_, &min_p_, &repetition_, &frequency_, &presence_, &bias_value_})
    v->clear();
  for (auto* v : {&top_k_, &output_pos_, &num_logprobs_, &prompt_len_, &history_, &bias_token_})
    v->clear();
  seed_.clear();
  history_start_.assign(1, 0);
  bias_start_.assign(1, 0);
  any_penalties_ = false;
  max_logprobs_seen_ = 0;
}

void SamplingInputs::add(const SamplingRow& r) {
  NODELLM_CHECK(rows() < max_rows_, "more sampling rows than max_num_seqs");
  NODELLM_CHECK(r.num_logprobs <= t_top_ids_.cols, "logprobs ", r.num_logprobs, " above the maximum");
  temperature_.push_back(r.temperature);
  top_k_.push_back(r.top_k);
  top_p_.push_back(r.top_p);
  min_p_.push_back(r.min_p);
  repetition_.push_back(r.repetition_penalty);
  frequency_.push_back(r.frequency_penalty);
  presence_.push_back(r.presence_penalty);
  seed_.push_back(static_cast<int64_t>(r.seed));
  output_pos_.push_back(r.output_pos);
  num_logprobs_.push_back(r.num_logprobs);
  max_logprobs_seen_ = std::max(max_logprobs_seen_, r.num_logprobs);
  prompt_len_.push_back(r.prompt_len);
  const bool penalties =
      r.repetition_penalty != 1.0f || r.frequency_penalty != 0.0f || r.presence_penalty != 0.0f;
  if (penalties && r.history_len > 0) {
    any_penalties_ = true;
    history_.insert(history_.end(), r.history, r.history + r.history_len);
  }
  history_start_.push_back(static_cast<int32_t>(history_.size()));
  if (r.logit_bias) {
    for (const auto& [token, bias] : *r.logit_bias) {
      bias_token_.push_back(token);
      bias_value_.push_back(bias);
    }
  }
  if (r.masked) {
    for (int32_t token : *r.masked) {
      bias_token_.push_back(token);
      bias_value_.push_back(-std::numeric_limits<float>::infinity());
    }
  }
  bias_start_.push_back(static_cast<int32_t>(bias_token_.size()));
}

SamplingBatch SamplingInputs::upload() {
  ensure_rows(backend_, t_history_, DType::I32, std::max<size_t>(history_.size(), 1));
  ensure_rows(backend_, t_bias_token_, DType::I32, std::max<size_t>(bias_token_.size(), 1));
  ensure_rows(backend_, t_bias_value_, DType::F32, std::max<size_t>(bias_value_.size(), 1));
  SamplingBatch b;
  b.num_rows = rows();
  b.temperature = upload_front(backend_, t_temperature_, temperature_, DType::F32);
  b.top_k = upload_front(backend_, t_top_k_, top_k_, DType::I32);
  b.top_p = upload_front(backend_, t_top_p_, top_p_, DType::F32);
  b.min_p = upload_front(backend_, t_min_p_, min_p_, DType::F32);
  b.repetition_penalty = upload_front(backend_, t_repetition_, repetition_, DType::F32);
  b.frequency_penalty = upload_front(backend_, t_frequency_, frequency_, DType::F32);
  b.presence_penalty = upload_front(backend_, t_presence_, presence_, DType::F32);
  b.seed = upload_front(backend_, t_seed_, seed_, DType::I64);
  b.output_pos = upload_front(backend_, t_output_pos_, output_pos_, DType::I32);
  b.num_logprobs = upload_front(backend_, t_num_logprobs_, num_logprobs_, DType::I32);
  b.history_start = upload_front(backend_, t_history_start_, history_start_, DType::I32);
  b.prompt_len = upload_front(backend_, t_prompt_len_, prompt_len_, DType::I32);
  b.history = upload_front(backend_, t_history_, history_, DType::I32);
  b.bias_start = upload_front(backend_, t_bias_start_, bias_start_, DType::I32);
  b.bias_token = upload_front(backend_, t_bias_token_, bias_token_, DType::I32);
  b.bias_value = upload_front(backend_, t_bias_value_, bias_value_, DType::F32);
  b.any_penalties = any_penalties_;
  b.any_bias = !bias_token_.empty();
  b.max_logprobs = max_logprobs_seen_;
  return b;
}

SamplingResult SamplingInputs::sample(const Tensor& logits) {
  launch(logits);
  return collect();
}

void SamplingInputs::launch(const Tensor& logits) {
  const int n = rows();
  NODELLM_CHECK(logits.rows == n, "logits rows ", logits.rows, " for ", n, " sampling rows");
  // The pending results' buffers are the copies' destinations until collect().
  NODELLM_CHECK(!launched_, "sampling launched twice without collecting");
  launched_ = true;
  SamplingBatch batch = upload();
  const int k = max_logprobs_seen_;
  SamplerOutput out{t_tokens_.first_rows(n), t_logprobs_.first_rows(n),
                    t_top_ids_.first_rows(n).col_slice(0, std::max(1, k)),
                    t_top_logprobs_.first_rows(n).col_slice(0, std::max(1, k))};
  backend_.sample(logits, batch, out);

  SamplingResult& result = pending_;
  result = SamplingResult{};
  result.tokens.resize(n);
  backend_.download_async(result.tokens.data(), out.tokens);
  result.logprobs.assign(n, std::numeric_limits<float>::quiet_NaN());
  pending_num_logprobs_ = num_logprobs_;  // the rows may be cleared before collect()
  const bool any_logprobs = std::any_of(num_logprobs_.begin(), num_logprobs_.end(), [](int v) { return v >= 0; });
  if (any_logprobs) {
    backend_.download_async(result.logprobs.data(), out.logprobs);
    result.top_k = k;
    if (k > 0) {
      result.top_ids.resize(static_cast<size_t>(n) * k);
      result.top_logprobs.resize(static_cast<size_t>(n) * k);
      backend_.download_async(result.top_ids.data(), out.top_ids);
      backend_.download_async(result.top_logprobs.data(), out.top_logprobs);
    }
  }
}

SamplingResult SamplingInputs::collect() {
  NODELLM_CHECK(launched_, "nothing to collect: sampling was not launched");
  launched_ = false;
  backend_.synchronize();
  SamplingResult result = std::move(pending_);
  pending_ = SamplingResult{};
  for (size_t r = 0; r < pending_num_logprobs_.size(); ++r)
    if (pending_num_logprobs_[r] < 0) result.logprobs[r] = std::numeric_limits<float>::quiet_NaN();
  return result;
}

}  // namespace nodellm
