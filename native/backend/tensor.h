// Tensor: a 2-D view of memory that a backend owns (host memory for the CPU backend, device
// memory for CUDA). Every activation, weight and KV cache in the model is one of these; views
// with a row stride let fused buffers (q|k|v, gate|up) be split without copies.
#pragma once
#include <cstddef>
#include <cstdint>

#include "common/check.h"

namespace nodellm {

enum class DType : uint8_t { F32, F16, BF16, I32, I64 };

inline size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::I32: return 4;
    case DType::I64: return 8;
  }
  return 0;
}

const char* dtype_name(DType dtype);

struct Tensor {
  void* data = nullptr;
  DType dtype = DType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t stride = 0;  // elements between the starts of consecutive rows (>= cols)

  Tensor() = default;
  Tensor(void* data, DType dtype, int64_t rows, int64_t cols)
      : data(data), dtype(dtype), rows(rows), cols(cols), stride(cols) {}

  int64_t numel() const { return rows * cols; }
  bool contiguous() const { return stride == cols; }
  bool empty() const { return data == nullptr || rows == 0; }

  template <typename T>
  T* ptr() const { return static_cast<T*>(data); }
  // Row r, addressed in bytes so that row<char>() works for any dtype.
  template <typename T>
  T* row(int64_t r) const {
    return reinterpret_cast<T*>(static_cast<char*>(data) +
                                r * stride * static_cast<int64_t>(dtype_size(dtype)));
  }

  // The first `count` rows: a step uses the front of workspaces sized for the largest batch.
  Tensor first_rows(int64_t count) const {
    NODELLM_CHECK(count >= 0 && count <= rows, "first_rows ", count, " of ", rows);
    Tensor t = *this;
    t.rows = count;
    return t;
  }
  Tensor col_slice(int64_t begin, int64_t count) const {
    NODELLM_CHECK(begin >= 0 && begin + count <= cols, "col_slice ", begin, "+", count, " of ", cols);
    Tensor t = *this;
    t.data = static_cast<char*>(data) + begin * static_cast<int64_t>(dtype_size(dtype));
    t.cols = count;
    return t;
  }
  Tensor row_slice(int64_t begin, int64_t count) const {
    NODELLM_CHECK(begin >= 0 && begin + count <= rows, "row_slice ", begin, "+", count, " of ", rows);
    Tensor t = *this;
    t.data = static_cast<char*>(data) + begin * stride * static_cast<int64_t>(dtype_size(dtype));
    t.rows = count;
    return t;
  }
};

}  // namespace nodellm
