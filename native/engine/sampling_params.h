// A request's sampling parameters as the native core uses them: already validated and given
// their defaults by lib/engine/sampling-params.ts.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace nodellm {

struct SamplingParams {
  float temperature = 1.0f;  // 0 means greedy
  float top_p = 1.0f;
  int top_k = 0;  // 0 or -1: off
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  std::vector<std::pair<int32_t, float>> logit_bias;
  bool has_seed = false;
  uint64_t seed = 0;
  int max_tokens = 16;
  int min_tokens = 0;
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;
  int logprobs = -1;         // -1: none; 0: the sampled token; k: and the top k
  int prompt_logprobs = -1;  // -1: none; 0: the prompt token; k: and the top k

  bool has_penalties() const {
    return repetition_penalty != 1.0f || frequency_penalty != 0.0f || presence_penalty != 0.0f;
  }
};

}  // namespace nodellm
