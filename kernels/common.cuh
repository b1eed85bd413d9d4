// Shared device helpers: float conversion of the 16-bit types, warp and block reductions.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cstdint>

namespace nodellm::kernels {

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }

template <typename T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) { return x; }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16(x); }
template <>
__device__ __forceinline__ __half from_float<__half>(float x) { return __float2half(x); }

// silu(g) * u, the gated MLP's activation (silu_mul, and gate_up's one-row GEMV epilogue).
__device__ __forceinline__ float silu_mul_value(float g, float u) { return g / (1.0f + __expf(-g)) * u; }

// tanh to a few ulp. The build's --use_fast_math turns tanhf() into tanh.approx.f32, whose
// relative error of about 2^-11 is too coarse for soft-capped logits and attention scores (with
// a cap of 30 or 50 it moves a score by hundredths); expm1f is not approximated. Past |x| = 9,
// tanh is 1 in float32 (and expm1f(2x) would overflow by 44); a NaN stays NaN.
__device__ __forceinline__ float tanh_precise(float x) {
  const float a = fabsf(x);
  const float e = expm1f(2.0f * (a > 9.0f ? 9.0f : a));
  return copysignf(e / (e + 2.0f), x);
}

// gelu_tanh(g) * u (gelu_pytorch_tanh, Gemma's GeGLU): 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3))).
__device__ __forceinline__ float gelu_tanh_mul_value(float g, float u) {
  const float inner = 0.7978845608028654f * (g + 0.044715f * g * g * g);
  return 0.5f * g * (1.0f + tanh_precise(inner)) * u;
}

// cap * tanh(s / cap): Gemma 2's soft-capping of attention scores and final logits.
__device__ __forceinline__ float softcap_value(float s, float cap, float inv_cap) {
  return cap * tanh_precise(s * inv_cap);
}

// RoPE of one pair (x1 from the first half of a head, x2 from the second, neox style), its
// roundings spelled out so that every kernel that rotates gets the same bits (rope.cu and the
// qkv GEMV's epilogue); left to itself the compiler contracts the two products differently in
// different kernels.
__device__ __forceinline__ void rotate_pair(float x1, float x2, float c, float s, float& r1, float& r2) {
  r1 = __fmaf_rn(x1, c, -__fmul_rn(x2, s));
  r2 = __fmaf_rn(x2, c, __fmul_rn(x1, s));
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // partial[] may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < warps ? partial[lane] : 0.0f;
  return warp_sum(v);
}

__device__ __forceinline__ float block_max(float v) {
  __shared__ float partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < warps ? partial[lane] : -INFINITY;
  return warp_max(v);
}

__device__ __forceinline__ double block_sum_double(double v) {
  __shared__ double partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  __syncthreads();
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < warps ? partial[lane] : 0.0;
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

}  // namespace nodellm::kernels
