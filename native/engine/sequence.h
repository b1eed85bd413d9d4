// One sequence being generated: its tokens (prompt then output), how many of them have K/V in
// the cache, and the cache blocks that hold them.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/sampling_params.h"

namespace nodellm {

enum class FinishReason : uint8_t { None = 0, Stop = 1, Length = 2, Abort = 3 };

struct Sequence {
  int64_t id = 0;
  int64_t group = 0;  // the caller's request it belongs to; the scheduler shares slots fairly between groups
  std::vector<int32_t> tokens;
  int prompt_len = 0;
  int num_computed = 0;        // tokens whose K/V are in the cache
  std::vector<int32_t> blocks;  // block table: KV block of each block-sized span of tokens
  SamplingParams params;
  uint64_t seed = 0;           // the request's seed, or a random one
  std::vector<int32_t> stop_ids;  // stop_token_ids, plus the model's EOS ids unless ignore_eos
  int prompt_logprobs_done = 0;  // prompt positions already reported (kept across preemption)
  int num_preemptions = 0;

  int num_tokens() const { return static_cast<int>(tokens.size()); }
  int num_output() const { return num_tokens() - prompt_len; }
};

}  // namespace nodellm
