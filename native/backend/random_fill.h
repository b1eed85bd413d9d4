// The values of LOAD_FORMAT=dummy weights: element i of a tensor is a uniform of unit variance
// drawn from (seed, i); the CPU and CUDA backends compute the same float from the same formula.
#pragma once
#include <cstdint>

#include "backend/sampling_rng.h"

namespace nodellm {

NODELLM_HOST_DEVICE inline float random_fill_value(uint64_t seed, uint64_t index) {
  const double u = uniform_draw(seed ^ (index >> 32) * 0x9e3779b97f4a7c15ull, static_cast<uint32_t>(index));
  return static_cast<float>((u - 0.5) * 3.4641016151377544);  // uniform on [-sqrt(3), sqrt(3))
}

}  // namespace nodellm
