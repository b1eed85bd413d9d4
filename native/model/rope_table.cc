#include "model/rope_table.h"

#include <cmath>

namespace nodellm {

std::vector<float> rope_cos_sin_table(const RopeFrequencies& rope, int rotary_dim, int max_positions) {
  const int half = rotary_dim / 2;
  std::vector<double> inv_freq = rope.inv_freq;
  if (inv_freq.empty()) {
    for (int i = 0; i < half; ++i) inv_freq.push_back(1.0 / std::pow(rope.theta, (2.0 * i) / rotary_dim));
  }
  std::vector<float> table(static_cast<size_t>(max_positions) * rotary_dim);
  for (int p = 0; p < max_positions; ++p) {
    float* row = table.data() + static_cast<size_t>(p) * rotary_dim;
    for (int i = 0; i < half; ++i) {
      const double angle = p * inv_freq[i];
      row[i] = static_cast<float>(std::cos(angle) * rope.attention_factor);
      row[half + i] = static_cast<float>(std::sin(angle) * rope.attention_factor);
    }
  }
  return table;
}

}  // namespace nodellm
