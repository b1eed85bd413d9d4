// Memory of the CPU backend: plain 64-byte aligned heap blocks, and dtype conversion on upload.
#include <cstring>

#include "backend/cpu/cpu_backend.h"
#include "backend/half.h"
#include "backend/random_fill.h"

namespace nodellm {

CpuBackend::CpuBackend(int num_threads) : pool_(num_threads) {}

std::unique_ptr<Backend> make_cpu_backend(int num_threads) {
  return std::make_unique<CpuBackend>(num_threads);
}

Tensor CpuBackend::alloc(DType dtype, int64_t rows, int64_t cols) {
  NODELLM_CHECK(rows >= 0 && cols >= 0, "alloc of a negative shape");
  size_t bytes = static_cast<size_t>(rows * cols) * dtype_size(dtype);
  // Over-allocate so the data can start on a 64-byte boundary, and keep at least one byte so
  // empty tensors still have a distinct address. Left uninitialised: the KV cache and workspaces
  // are large, and untouched pages cost nothing until a step writes them.
  auto block = std::unique_ptr<char[]>(new char[bytes + 64]);
  void* raw = block.get();
  auto aligned = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(raw) + 63) & ~uintptr_t{63});
  allocations_.emplace(aligned, std::move(block));
  return Tensor(aligned, dtype, rows, cols);
}

void CpuBackend::release(const Tensor& tensor) { allocations_.erase(tensor.data); }

void CpuBackend::upload(const Tensor& dst, const void* src, DType src_dtype) {
  const int64_t rows = dst.rows, cols = dst.cols;
  if (src_dtype == dst.dtype) {
    size_t row_bytes = static_cast<size_t>(cols) * dtype_size(dst.dtype);
    for (int64_t r = 0; r < rows; ++r) {
      std::memcpy(dst.row<char>(r), static_cast<const char*>(src) + r * row_bytes, row_bytes);
    }
    return;
  }
  NODELLM_CHECK(dst.dtype == DType::F32, "upload converts only to float32, not ",
                dtype_name(dst.dtype));
  auto halves = static_cast<const uint16_t*>(src);
  pool_.parallel_for(rows, 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* out = dst.row<float>(r);
      const uint16_t* in = halves + r * cols;
      if (src_dtype == DType::BF16) {
        for (int64_t c = 0; c < cols; ++c) out[c] = bf16_to_f32(in[c]);
      } else if (src_dtype == DType::F16) {
        for (int64_t c = 0; c < cols; ++c) out[c] = f16_to_f32(in[c]);
      } else {
        fail("cannot convert ", dtype_name(src_dtype), " to float32");
      }
    }
  });
}

void CpuBackend::download(void* dst, const Tensor& src) {
  size_t row_bytes = static_cast<size_t>(src.cols) * dtype_size(src.dtype);
  for (int64_t r = 0; r < src.rows; ++r) {
    std::memcpy(static_cast<char*>(dst) + r * row_bytes, src.row<char>(r), row_bytes);
  }
}

}  // namespace nodellm

namespace nodellm {

void CpuBackend::fill_random(const Tensor& dst, uint64_t seed, float scale, float offset) {
  NODELLM_CHECK(dst.dtype == DType::F32, "the CPU backend fills float32 tensors");
  pool_.parallel_for(dst.rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      for (int64_t c = 0; c < dst.cols; ++c)
        dst.row<float>(r)[c] = offset + scale * random_fill_value(seed, static_cast<uint64_t>(r * dst.cols + c));
  });
}

}  // namespace nodellm
