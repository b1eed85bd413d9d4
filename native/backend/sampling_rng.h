// The random stream of a sampled sequence: one uniform number per (seed, output position),
// from a counter-based hash (splitmix64's finaliser, twice). A token's draw depends only on its
// request's seed and its index in the output, never on the batch, the step or the backend; the
// same header compiles for CUDA so both backends draw the same numbers.
#pragma once
#include <cstdint>

#ifdef __CUDACC__
#define NODELLM_HOST_DEVICE __host__ __device__
#else
#define NODELLM_HOST_DEVICE
#endif

namespace nodellm {

NODELLM_HOST_DEVICE inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// A uniform double in [0, 1).
NODELLM_HOST_DEVICE inline double uniform_draw(uint64_t seed, uint32_t position) {
  uint64_t bits = mix64(mix64(seed) ^ (static_cast<uint64_t>(position) * 0xd1b54a32d192ed03ull));
  return static_cast<double>(bits >> 11) * (1.0 / 9007199254740992.0);
}

}  // namespace nodellm
