// Writes each new token's K and V rows into its slot of the paged KV cache.
#include "kernels/chain.cuh"
#include "kernels/common.cuh"
#include "kernels/dispatch.cuh"
#include "kernels/launch.h"

namespace nodellm::kernels {
namespace {

template <typename T>
__global__ void kv_write_kernel(const T* k, int64_t k_stride, const T* v, int64_t v_stride, T* k_cache,
                                T* v_cache, int64_t cache_stride, const int32_t* slots, int64_t cols) {
  begin_chained_kernel();
  const int64_t row = blockIdx.x;
  const int64_t slot = slots[row];
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    k_cache[slot * cache_stride + c] = k[row * k_stride + c];
    v_cache[slot * cache_stride + c] = v[row * v_stride + c];
  }
}

}  // namespace

void kv_write(const Tensor& k, const Tensor& v, const Tensor& k_cache, const Tensor& v_cache,
              const Tensor& slot_mapping, cudaStream_t stream) {
  if (k.rows == 0) return;
  NODELLM_CHECK(k.dtype == k_cache.dtype, "kv_write: K and the cache differ in dtype");
  dispatch_float(k.dtype, "kv_write", [&](auto t) {
    using T = decltype(t);
    launch_chained("kv_write", kv_write_kernel<T>, dim3(k.rows), dim3(128), stream, k.ptr<T>(), k.stride, v.ptr<T>(),
                   v.stride, k_cache.ptr<T>(), v_cache.ptr<T>(), k_cache.stride, slot_mapping.ptr<int32_t>(), k.cols);
  });
}

}  // namespace nodellm::kernels
