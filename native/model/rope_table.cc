#include "model/rope_table.h"

#include <cmath>

namespace nodellm {

std::vector<double> rope_inv_freq(const ModelConfig& c) {
  const int half = c.head_dim / 2;
  std::vector<double> inv_freq(half);
  for (int i = 0; i < half; ++i)
    inv_freq[i] = 1.0 / std::pow(c.rope_theta, (2.0 * i) / c.head_dim);

  const RopeScaling& s = c.rope_scaling;
  if (s.type == RopeScaling::Type::Linear) {
    for (double& f : inv_freq) f /= s.factor;
  } else if (s.type == RopeScaling::Type::Llama3) {
    // transformers' _compute_llama3_parameters: long wavelengths are scaled down by `factor`,
    // short ones kept, and the band between interpolated smoothly.
    const double old_len = s.original_max_position_embeddings;
    const double low_freq_wavelen = old_len / s.low_freq_factor;
    const double high_freq_wavelen = old_len / s.high_freq_factor;
    for (double& f : inv_freq) {
      const double wavelen = 2.0 * M_PI / f;
      if (wavelen > low_freq_wavelen) {
        f = f / s.factor;
      } else if (wavelen >= high_freq_wavelen) {
        const double smooth =
            (old_len / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        f = (1.0 - smooth) * f / s.factor + smooth * f;
      }
    }
  }
  return inv_freq;
}

std::vector<float> rope_cos_sin_table(const ModelConfig& c, int max_positions) {
  const std::vector<double> inv_freq = rope_inv_freq(c);
  const int half = c.head_dim / 2;
  std::vector<float> table(static_cast<size_t>(max_positions) * c.head_dim);
  for (int p = 0; p < max_positions; ++p) {
    float* row = table.data() + static_cast<size_t>(p) * c.head_dim;
    for (int i = 0; i < half; ++i) {
      const double angle = p * inv_freq[i];
      row[i] = static_cast<float>(std::cos(angle));
      row[half + i] = static_cast<float>(std::sin(angle));
    }
  }
  return table;
}

}  // namespace nodellm
