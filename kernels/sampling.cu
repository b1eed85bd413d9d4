// Sampling, one block of 1024 threads per row of logits, in the CPU sampler's order (see
// native/backend/cpu/cpu_sampling.cc): raw logprobs first, then on a working copy the logit
// biases, the penalties, and either greedy argmax or temperature, min_p, top_k, top_p and one
// Gumbel-max draw with per-token noise from the row's (seed, position) stream. top_k and top_p find
// their cut-off value by a bitwise binary search over the ordered float keys, so no sort is needed.
// This is the correct general version; a faster fused pass is future work (kernels/README.md).
#include <cfloat>

#include "backend/sampling_rng.h"
#include "kernels/chain.cuh"
#include "kernels/common.cuh"
#include "kernels/launch.h"

namespace nodellm::kernels {
namespace {

constexpr int kThreads = 1024;
constexpr float kGreedyTemperature = 1e-5f;

// Maps a float to an unsigned key with the same order (for the bitwise searches).
__device__ __forceinline__ uint32_t order_key(float f) {
  const uint32_t u = __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ float from_order_key(uint32_t k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

// A candidate token and its value (a logit, or a Gumbel-max score in double).
template <typename V>
struct Ranked {
  V value;
  int id;
};
using Best = Ranked<float>;
using BestScore = Ranked<double>;
// a before b: larger value, then lower id.
template <typename V>
__device__ __forceinline__ bool better(Ranked<V> a, Ranked<V> b) {
  return a.value > b.value || (a.value == b.value && a.id < b.id);
}
template <typename V>
__device__ Ranked<V> block_best(Ranked<V> v) {
  __shared__ Ranked<V> partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  for (int offset = 16; offset > 0; offset >>= 1) {
    Ranked<V> o{__shfl_xor_sync(0xffffffffu, v.value, offset), __shfl_xor_sync(0xffffffffu, v.id, offset)};
    if (better(o, v)) v = o;
  }
  __syncthreads();
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < warps ? partial[lane] : Ranked<V>{-INFINITY, INT_MAX};
  for (int offset = 16; offset > 0; offset >>= 1) {
    Ranked<V> o{__shfl_xor_sync(0xffffffffu, v.value, offset), __shfl_xor_sync(0xffffffffu, v.id, offset)};
    if (better(o, v)) v = o;
  }
  return v;
}

__device__ int block_count(int v) { return static_cast<int>(block_sum(static_cast<float>(v))); }

// The row's raw log-sum-exp and its k best tokens (ties to the lower id), written as logprobs.
__device__ float raw_logprobs(const float* row, int vocab, int k, int columns, int32_t* top_ids, float* top_lp) {
  float mx = -INFINITY;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) mx = fmaxf(mx, row[i]);
  mx = block_max(mx);
  double sum = 0.0;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) sum += exp(static_cast<double>(row[i] - mx));
  const float lse = mx + static_cast<float>(log(block_sum_double(sum)));
  Best prev{INFINITY, -1};
  for (int j = 0; j < columns; ++j) {
    Best best{-INFINITY, INT_MAX};
    if (j < k) {
      for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        const Best c{row[i], i};
        if (better(prev, c) && better(c, best)) best = c;
      }
      best = block_best(best);
      prev = best;
    }
    if (threadIdx.x == 0) {
      const bool have = j < k && best.id < vocab;
      top_ids[j] = have ? best.id : -1;
      top_lp[j] = have ? best.value - lse : -INFINITY;
    }
  }
  return lse;
}

struct RowArgs {
  const float* temperature; const int32_t* top_k; const float* top_p; const float* min_p;
  const float* repetition; const float* frequency; const float* presence;
  const int64_t* seed; const int32_t* output_pos; const int32_t* num_logprobs;
  const int32_t* history_start; const int32_t* prompt_len; const int32_t* history;
  const int32_t* bias_start; const int32_t* bias_token; const float* bias_value;
  int32_t* out_tokens; float* out_logprobs; int32_t* out_top_ids; float* out_top_lp; int64_t out_top_stride;
  int max_logprobs; bool any_penalties; bool any_bias;
};

__global__ void sample_kernel(const float* logits, int64_t logits_stride, float* work, int vocab, RowArgs a,
                              int32_t* counts) {
  begin_chained_kernel();
  const int row = blockIdx.x;
  const float* raw = logits + row * logits_stride;
  float* w = work + static_cast<int64_t>(row) * vocab;
  const int nlp = a.num_logprobs[row];
  float lse = 0.0f;
  if (nlp >= 0)
    lse = raw_logprobs(raw, vocab, nlp, a.max_logprobs, a.out_top_ids + row * a.out_top_stride,
                       a.out_top_lp + row * a.out_top_stride);

  const float rep = a.repetition[row], freq = a.frequency[row], pres = a.presence[row];
  const bool row_bias = a.any_bias && a.bias_start[row + 1] > a.bias_start[row];
  const bool row_penalties = a.any_penalties && (rep != 1.0f || freq != 0.0f || pres != 0.0f);
  const float temperature = a.temperature[row];
  if (temperature < kGreedyTemperature && !row_bias && !row_penalties) {
    // Plain greedy (the common case): the argmax of the raw logits, without the working copy.
    Best best{-INFINITY, INT_MAX};
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
      const Best c{raw[i], i};
      if (better(c, best)) best = c;
    }
    const int token = block_best(best).id;
    if (threadIdx.x == 0) {
      a.out_tokens[row] = token;
      if (nlp >= 0) a.out_logprobs[row] = raw[token] - lse;
    }
    return;
  }

  for (int i = threadIdx.x; i < vocab; i += blockDim.x) w[i] = raw[i];
  __syncthreads();
  if (a.any_bias) {
    for (int i = a.bias_start[row] + threadIdx.x; i < a.bias_start[row + 1]; i += blockDim.x)
      atomicAdd(&w[a.bias_token[i]], a.bias_value[i]);
    __syncthreads();
  }
  if (row_penalties) {
    // counts[] holds, per token, output occurrences in the low bits and a prompt flag in bit 30;
    // the thread that takes a token's count back to zero applies its penalty, once per token.
    int32_t* c = counts + static_cast<int64_t>(row) * vocab;
    const int32_t* h = a.history + a.history_start[row];
    const int n = a.history_start[row + 1] - a.history_start[row], prompt = a.prompt_len[row];
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
      if (i < prompt) atomicOr(&c[h[i]], 1 << 30);
      else atomicAdd(&c[h[i]], 1);
    }
    __syncthreads();
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
      const int token = h[i];
      const int32_t seen = atomicExch(&c[token], 0);
      if (seen == 0) continue;
      float l = w[token];
      if (rep != 1.0f) l = l > 0.0f ? l / rep : l * rep;
      const int out_count = seen & ((1 << 30) - 1);
      if (out_count > 0) l -= freq * static_cast<float>(out_count) + pres;
      w[token] = l;
    }
    __syncthreads();
  }

  int token;
  if (temperature < kGreedyTemperature) {
    Best best{-INFINITY, INT_MAX};
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
      const Best c{w[i], i};
      if (better(c, best)) best = c;
    }
    token = block_best(best).id;
  } else {
    float mx = -INFINITY;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
      w[i] /= temperature;
      mx = fmaxf(mx, w[i]);
    }
    mx = block_max(mx);
    const float min_p = a.min_p[row];
    if (min_p > 0.0f) {
      const float threshold = mx + logf(min_p);
      for (int i = threadIdx.x; i < vocab; i += blockDim.x)
        if (w[i] < threshold) w[i] = -INFINITY;
      __syncthreads();
    }
    const int top_k = a.top_k[row];
    if (top_k > 0 && top_k < vocab) {
      // The largest key K with at least top_k values >= K is the k-th largest value.
      uint32_t key = 0;
      for (int bit = 31; bit >= 0; --bit) {
        const uint32_t trial = key | (1u << bit);
        int count = 0;
        for (int i = threadIdx.x; i < vocab; i += blockDim.x) count += order_key(w[i]) >= trial;
        if (block_count(count) >= top_k) key = trial;
      }
      const float kth = from_order_key(key);
      for (int i = threadIdx.x; i < vocab; i += blockDim.x)
        if (w[i] < kth) w[i] = -INFINITY;
      __syncthreads();
    }
    const float top_p = a.top_p[row];
    if (top_p < 1.0f) {
      double total = 0.0;
      for (int i = threadIdx.x; i < vocab; i += blockDim.x) total += exp(static_cast<double>(w[i] - mx));
      total = block_sum_double(total);
      // The largest cut-off whose kept mass still reaches top_p: keeps the most probable tokens up
      // to and including the one whose mass crosses top_p.
      uint32_t key = 0;
      for (int bit = 31; bit >= 0; --bit) {
        const uint32_t trial = key | (1u << bit);
        double mass = 0.0;
        for (int i = threadIdx.x; i < vocab; i += blockDim.x)
          if (order_key(w[i]) >= trial) mass += exp(static_cast<double>(w[i] - mx));
        if (block_sum_double(mass) >= top_p * total) key = trial;
      }
      const float cut = from_order_key(key);
      for (int i = threadIdx.x; i < vocab; i += blockDim.x)
        if (w[i] < cut) w[i] = -INFINITY;
      __syncthreads();
    }
    // One Gumbel-max draw over the kept tokens (ties to the lower id), as the CPU sampler does.
    const uint64_t seed = static_cast<uint64_t>(a.seed[row]);
    const uint32_t position = static_cast<uint32_t>(a.output_pos[row]);
    BestScore best{-INFINITY, INT_MAX};
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
      if (w[i] == -INFINITY) continue;
      const BestScore c{static_cast<double>(w[i]) + gumbel_noise(seed, position, static_cast<uint32_t>(i)), i};
      if (better(c, best)) best = c;
    }
    best = block_best(best);
    token = best.id < vocab ? best.id : 0;
  }
  if (threadIdx.x == 0) {
    a.out_tokens[row] = token;
    if (nlp >= 0) a.out_logprobs[row] = raw[token] - lse;
  }
}

__global__ void logprobs_kernel(const float* logits, int64_t stride, int vocab, const int32_t* targets, int k,
                                float* target_lp, int32_t* top_ids, float* top_lp, int64_t top_stride) {
  begin_chained_kernel();
  const int row = blockIdx.x;
  const float* r = logits + row * stride;
  const float lse = raw_logprobs(r, vocab, k, k, top_ids + row * top_stride, top_lp + row * top_stride);
  if (threadIdx.x == 0) target_lp[row] = r[targets[row]] - lse;
}

}  // namespace

void sample(const Tensor& logits, const SamplingBatch& b, const SamplerOutput& out, int32_t* counts,
            float* work, cudaStream_t stream) {
  if (b.num_rows == 0) return;
  RowArgs a{b.temperature.ptr<float>(), b.top_k.ptr<int32_t>(), b.top_p.ptr<float>(), b.min_p.ptr<float>(),
            b.repetition_penalty.ptr<float>(), b.frequency_penalty.ptr<float>(), b.presence_penalty.ptr<float>(),
            b.seed.ptr<int64_t>(), b.output_pos.ptr<int32_t>(), b.num_logprobs.ptr<int32_t>(),
            b.history_start.ptr<int32_t>(), b.prompt_len.ptr<int32_t>(), b.history.ptr<int32_t>(),
            b.bias_start.ptr<int32_t>(), b.bias_token.ptr<int32_t>(), b.bias_value.ptr<float>(),
            out.tokens.ptr<int32_t>(), out.logprobs.ptr<float>(), out.top_ids.ptr<int32_t>(),
            out.top_logprobs.ptr<float>(), out.top_ids.stride, b.max_logprobs, b.any_penalties, b.any_bias};
  launch_chained("sample", sample_kernel, dim3(b.num_rows), dim3(kThreads), stream, logits.ptr<float>(), logits.stride,
                 work, static_cast<int>(logits.cols), a, counts);
}

void logprobs(const Tensor& logits, const Tensor& targets, int k, const Tensor& target_logprobs,
              const Tensor& top_ids, const Tensor& top_logprobs, cudaStream_t stream) {
  if (logits.rows == 0) return;
  launch_chained("logprobs", logprobs_kernel, dim3(logits.rows), dim3(kThreads), stream, logits.ptr<float>(),
                 logits.stride, static_cast<int>(logits.cols), targets.ptr<int32_t>(), k, target_logprobs.ptr<float>(),
                 top_ids.ptr<int32_t>(), top_logprobs.ptr<float>(), top_ids.stride);
}

}  // namespace nodellm::kernels
