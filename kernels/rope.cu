// Rotary embedding in place on q and k (neox style: the two halves of each head rotate together),
// from the [max_pos, head_dim] cos|sin table. One block per token; threads over (head, pair).
#include "kernels/common.cuh"
#include "kernels/dispatch.cuh"
#include "kernels/launch.h"

namespace nodellm::kernels {
namespace {

template <typename T>
__device__ void rotate(T* x, int64_t cols, const float* table, int head_dim) {
  const int half = head_dim / 2;
  const int pairs = static_cast<int>(cols / head_dim) * half;
  for (int i = threadIdx.x; i < pairs; i += blockDim.x) {
    const int head = i / half, j = i % half;
    T* h = x + head * head_dim;
    const float c = table[j], s = table[half + j];
    const float x1 = to_float(h[j]), x2 = to_float(h[j + half]);
    h[j] = from_float<T>(x1 * c - x2 * s);
    h[j + half] = from_float<T>(x2 * c + x1 * s);
  }
}

template <typename T>
__global__ void rope_kernel(T* q, int64_t q_stride, int64_t q_cols, T* k, int64_t k_stride, int64_t k_cols,
                            const int32_t* positions, const float* table, int head_dim) {
  const int64_t row = blockIdx.x;
  const float* t = table + static_cast<int64_t>(positions[row]) * head_dim;
  rotate(q + row * q_stride, q_cols, t, head_dim);
  rotate(k + row * k_stride, k_cols, t, head_dim);
}

}  // namespace

void rope(const Tensor& q, const Tensor& k, const Tensor& positions, const Tensor& cos_sin, int head_dim,
          cudaStream_t stream) {
  if (q.rows == 0) return;
  dispatch_float(q.dtype, "rope", [&](auto t) {
    using T = decltype(t);
    rope_kernel<T><<<q.rows, 256, 0, stream>>>(q.ptr<T>(), q.stride, q.cols, k.ptr<T>(), k.stride, k.cols,
                                               positions.ptr<int32_t>(), cos_sin.ptr<float>(), head_dim);
  });
  check_launch("rope");
}

}  // namespace nodellm::kernels
