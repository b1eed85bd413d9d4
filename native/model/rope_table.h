// Rotary-embedding tables, computed once at load: a [max_positions, rotary_dim] float32 table
// whose row p holds cos(p * inv_freq) then sin(p * inv_freq), both times the attention factor
// (transformers multiplies cos and sin by it for YaRN and LongRoPE).
#pragma once
#include <vector>

#include "model/model_config.h"

namespace nodellm {

std::vector<float> rope_cos_sin_table(const RopeFrequencies& rope, int rotary_dim, int max_positions);

}  // namespace nodellm
