// Rotary-embedding angles, computed once at load: a [max_positions, head_dim] float32 table whose
// row p holds cos(p * inv_freq) then sin(p * inv_freq), with rope_scaling applied to inv_freq as
// transformers does (linear: inv_freq / factor; llama3: the smoothed per-frequency scaling).
#pragma once
#include <vector>

#include "model/model_config.h"

namespace nodellm {

std::vector<double> rope_inv_freq(const ModelConfig& config);
std::vector<float> rope_cos_sin_table(const ModelConfig& config, int max_positions);

}  // namespace nodellm
