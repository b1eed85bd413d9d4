// One-row projections that go on to their layer's next step, for decode at batch 1, where the
// small kernel after a projection costs more in launch and ramp than in work:
//   - gate_up then SiLU·mul: a block computes the gate and the up rows of the same features and
//     writes silu(gate) * up;
//   - qkv then RoPE + KV write: a block computes the two halves of the same head dimensions
//     (j and j + rotary_dim / 2 for j < rotary_dim / 2; with partial rotary, the dims past
//     rotary_dim pair up too and pass through), rotates q and k, and writes k and v into the
//     paged cache.
// Each warp's product is the plain GEMV's (kernels/gemv.cuh), rounded as linear() would write it,
// and the epilogue computes what silu_mul and rope_kv_write compute from that: the same bits as
// the unfused kernels (backend_check holds them to it). Whole-row weights only pair within a
// block, so a row may be split over at most 2 warps.
#include <cstdlib>
#include <cstring>

#include "common/switches.h"
#include "kernels/chain.cuh"
#include "kernels/common.cuh"
#include "kernels/dispatch.cuh"
#include "kernels/gemv.cuh"
#include "kernels/launch.h"

namespace nodellm::kernels {
namespace {

using namespace gemv_detail;

enum class Epilogue { kSiluMul, kRopeKvWrite };

template <typename T>
struct PairArgs {
  T* out;  // kSiluMul: the product row; kRopeKvWrite: the qkv row
  const T* x;
  const T* w;
  int64_t w_stride;
  const T* bias;  // or nullptr
  int pairs;      // pairs of weight rows
  int chunks;     // input chunks of 8 values
  int parts;      // warps per weight row
  // kSiluMul: pair p is gate row p and up row pairs + p.
  // kRopeKvWrite: pair p is head h = p / half (half = head_dim / 2), j = p % half: for j <
  // rot_half (rotary_dim / 2), dims j and j + rot_half, which rotate; past it, dims rot_half + j
  // and rot_half + j + (half - rot_half), which pass through (partial rotary). With rotary_dim ==
  // head_dim that is dims j and j + half. Heads [0, q_heads) are q, then kv_heads of k, then
  // kv_heads of v.
  int head_dim, rot_half, q_heads, kv_heads;
  const int32_t* positions;
  const float* cos_sin;  // [max_pos, rotary_dim] (row stride table_stride): cos | sin
  int64_t table_stride;
  T* k_cache;
  T* v_cache;
  int64_t cache_stride;
  const int32_t* slots;
};

// kRopeKvWrite: the dim within its head of pair j's first or second value (see PairArgs).
template <typename T>
__device__ __forceinline__ int head_offset(const PairArgs<T>& a, int j, bool second) {
  return j < a.rot_half ? j + (second ? a.rot_half : 0) : a.rot_half + j + (second ? a.head_dim / 2 - a.rot_half : 0);
}

template <Epilogue E, typename T>
__device__ __forceinline__ int pair_row(const PairArgs<T>& a, int pair, bool second) {
  if constexpr (E == Epilogue::kSiluMul) {
    return pair + (second ? a.pairs : 0);
  } else {
    return (pair / (a.head_dim / 2)) * a.head_dim + head_offset(a, pair % (a.head_dim / 2), second);
  }
}

// At a batch of 8, 6 blocks an SM, as many as the plain GEMV gets at one row (74 registers); left
// alone the compiler takes 96 here.
template <typename T, Epilogue E, int Loads>
__global__ void __launch_bounds__(kWarps * 32, Loads >= 8 ? 6 : min_blocks_for(Loads))
gemv_pairs_kernel(PairArgs<T> a) {
  __shared__ float partial[kWarps], slot_value[kWarps];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  // The block's slots (a weight row each, over `parts` warps): the first half take the first
  // rows of per_block pairs, the second half their partners.
  const int slots = kWarps / a.parts, per_block = slots / 2, slot = warp / a.parts, part = warp % a.parts;
  const int pair = blockIdx.x * per_block + slot % per_block;
  const bool active = pair < a.pairs;
  const int row = active ? pair_row<E>(a, pair, slot >= per_block) : 0;
  const int part_chunks = (a.chunks + a.parts - 1) / a.parts;
  const int begin = part * part_chunks, end = min(a.chunks, begin + part_chunks);
  const uint4* wr = reinterpret_cast<const uint4*>(a.w + static_cast<int64_t>(row) * a.w_stride);
  uint4 current[Loads];
  if (active) load_batch(current, wr, begin + lane, end);  // weights: no kernel writes them
  begin_chained_kernel();
  // The epilogue's threads fetch what RoPE and the cache write need now, so those loads (position,
  // then its angles) are done by the time the products are.
  const int p = blockIdx.x * per_block + threadIdx.x;
  const bool finisher = threadIdx.x < per_block && p < a.pairs;
  float cos_j = 0.0f, sin_j = 0.0f;
  int64_t cache_row = 0;
  if constexpr (E == Epilogue::kRopeKvWrite) {
    if (finisher) {
      const int j = p % (a.head_dim / 2);
      if (j < a.rot_half) {
        const float* t = a.cos_sin + static_cast<int64_t>(a.positions[0]) * a.table_stride;
        cos_j = t[j];
        sin_j = t[a.rot_half + j];
      }
      cache_row = a.slots[0];
    }
  }

  float acc[1];
  accumulate<T, 1, Loads>(acc, current, wr, begin, end, lane, active,
                          [&](int) { return reinterpret_cast<const uint4*>(a.x); });
  float total = acc[0];
  if (a.parts > 1) {  // the plain GEMV's order
    if (lane == 0) partial[warp] = acc[0];
    __syncthreads();
    total = parts_total(partial, slot * a.parts, a.parts);
  }
  // The product as linear() leaves it: rounded to T, then the bias added and rounded again.
  float value = to_float(from_float<T>(total));
  if (a.bias != nullptr && active) value = to_float(from_float<T>(value + to_float(a.bias[row])));
  if (part == 0 && lane == 0) slot_value[slot] = value;
  __syncthreads();
  if (!finisher) return;
  const float first = slot_value[threadIdx.x], second = slot_value[threadIdx.x + per_block];
  if constexpr (E == Epilogue::kSiluMul) {
    a.out[p] = from_float<T>(silu_mul_value(first, second));
  } else {
    const int half = a.head_dim / 2, head = p / half, j = p % half;
    const int d_lo = head_offset(a, j, false), d_hi = head_offset(a, j, true);
    const int at = head * a.head_dim;
    T lo = from_float<T>(first), hi = from_float<T>(second);
    if (head < a.q_heads + a.kv_heads && j < a.rot_half) {  // q or k, rotary dims: rotated
      float r1, r2;
      rotate_pair(first, second, cos_j, sin_j, r1, r2);
      lo = from_float<T>(r1);
      hi = from_float<T>(r2);
    }
    a.out[at + d_lo] = lo;
    a.out[at + d_hi] = hi;
    if (head >= a.q_heads) {  // k or v: into the cache
      const bool is_k = head < a.q_heads + a.kv_heads;
      const int cache_at = (head - a.q_heads - (is_k ? 0 : a.kv_heads)) * a.head_dim;
      T* cache = (is_k ? a.k_cache : a.v_cache) + cache_row * a.cache_stride;
      cache[cache_at + d_lo] = lo;
      cache[cache_at + d_hi] = hi;
    }
  }
}

template <typename T, Epilogue E>
void launch(const char* name, const PairArgs<T>& a, cudaStream_t stream) {
  const int per_block = kWarps / a.parts / 2;
  const dim3 grid((a.pairs + per_block - 1) / per_block), block(kWarps * 32);
  with_one_row_loads(
      [&](auto loads) { launch_chained(name, gemv_pairs_kernel<T, E, decltype(loads)::value>, grid, block, stream, a); });
}

// What both epilogues need: one 16-bit row (x and out) against weights of its dtype that the
// GEMV serves, with each weight row over at most 2 warps so that a block holds a pair.
bool one_row_pairs_fit(const Tensor& out, const Tensor& x, const Tensor& w, const Tensor* bias) {
  // NODELLM_GEMV_EPILOGUES=0: the unfused kernels, for comparisons.
  return switches().gemv_epilogues && x.rows == 1 && out.rows == 1 && out.dtype == x.dtype && gemv_applies(out, x, w) &&
         w.cols == x.cols && warps_per_row(static_cast<int>(x.cols / 8)) <= 2 &&
         (bias == nullptr || bias->dtype == w.dtype);
}

template <typename T>
PairArgs<T> pair_args(const Tensor& out, const Tensor& x, const Tensor& w, const Tensor* bias, int pairs) {
  PairArgs<T> a{};
  a.out = out.ptr<T>();
  a.x = x.ptr<T>();
  a.w = w.ptr<T>();
  a.w_stride = w.stride;
  a.bias = bias ? bias->ptr<T>() : nullptr;
  a.pairs = pairs;
  a.chunks = static_cast<int>(x.cols / 8);
  a.parts = warps_per_row(a.chunks);
  return a;
}

}  // namespace

bool gemv_silu_mul_applies(const Tensor& act, const Tensor& x, const Tensor& w, const Tensor* bias) {
  return one_row_pairs_fit(act, x, w, bias) && w.rows % 2 == 0 && act.cols == w.rows / 2;
}

void gemv_silu_mul(const Tensor& act, const Tensor& x, const Tensor& w, const Tensor* bias, cudaStream_t stream) {
  dispatch_float(x.dtype, "gemv_silu_mul", [&](auto t) {
    using T = decltype(t);
    if constexpr (!std::is_same_v<T, float>) {
      launch<T, Epilogue::kSiluMul>("gemv_silu_mul", pair_args<T>(act, x, w, bias, static_cast<int>(act.cols)), stream);
    }
  });
}

bool gemv_rope_kv_write_applies(const Tensor& qkv, const Tensor& x, const Tensor& w, const Tensor* bias,
                                const RopeKvWrite& r) {
  const int64_t kv_cols = static_cast<int64_t>(r.kv_heads) * r.head_dim;
  const int64_t rotary_dim = r.cos_sin.cols;
  return one_row_pairs_fit(qkv, x, w, bias) && r.head_dim % 2 == 0 && rotary_dim > 0 && rotary_dim % 2 == 0 &&
         rotary_dim <= r.head_dim && r.cos_sin.dtype == DType::F32 && qkv.cols == w.rows &&
         w.rows == static_cast<int64_t>(r.q_heads + 2 * r.kv_heads) * r.head_dim && r.k_cache.dtype == qkv.dtype &&
         r.v_cache.dtype == qkv.dtype && r.k_cache.cols == kv_cols && r.v_cache.cols == kv_cols &&
         r.k_cache.stride == r.v_cache.stride;
}

void gemv_rope_kv_write(const Tensor& qkv, const Tensor& x, const Tensor& w, const Tensor* bias, const RopeKvWrite& r,
                        cudaStream_t stream) {
  dispatch_float(x.dtype, "gemv_rope_kv_write", [&](auto t) {
    using T = decltype(t);
    if constexpr (!std::is_same_v<T, float>) {
      PairArgs<T> a = pair_args<T>(qkv, x, w, bias, static_cast<int>(w.rows / 2));
      a.head_dim = r.head_dim;
      a.rot_half = static_cast<int>(r.cos_sin.cols / 2);
      a.table_stride = r.cos_sin.stride;
      a.q_heads = r.q_heads;
      a.kv_heads = r.kv_heads;
      a.positions = r.positions.ptr<int32_t>();
      a.cos_sin = r.cos_sin.ptr<float>();
      a.k_cache = r.k_cache.ptr<T>();
      a.v_cache = r.v_cache.ptr<T>();
      a.cache_stride = r.k_cache.stride;
      a.slots = r.slot_mapping.ptr<int32_t>();
      launch<T, Epilogue::kRopeKvWrite>("gemv_rope_kv_write", a, stream);
    }
  });
}

}  // namespace nodellm::kernels
