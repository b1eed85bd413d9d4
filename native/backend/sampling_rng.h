// The random stream of a sampled sequence, from a counter-based hash (splitmix64's finaliser):
// a token's draw depends only on its request's seed, its index in the output and the token ids,
// never on the batch, the step or the backend; the same header compiles for CUDA so both
// backends draw the same numbers.
#pragma once
#include <cmath>
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

// The Gumbel noise of one candidate token of one draw: argmax over the kept tokens of
// (logit / temperature + noise) is a draw from their softmax (the Gumbel-max trick, which is
// vLLM's exponential race written in logs). Each token has its own noise, so logits that differ
// in the last bits (another batch shape, another GEMM algorithm) change the draw only where the
// winner and the runner-up are that close, where an inverse CDF moves with every token's error.
NODELLM_HOST_DEVICE inline double gumbel_noise(uint64_t seed, uint32_t position, uint32_t token) {
  const uint64_t stream = mix64(mix64(seed) ^ (static_cast<uint64_t>(position) * 0xd1b54a32d192ed03ull));
  const uint64_t bits = mix64(stream ^ (static_cast<uint64_t>(token) * 0x8cb92ba72f3d8dd7ull));
  const double u = (static_cast<double>(bits >> 11) + 0.5) * (1.0 / 9007199254740992.0);  // in (0, 1)
  return -log(-log(u));
}

}  // namespace nodellm
