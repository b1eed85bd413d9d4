// Host-side helpers of the kernel launchers: dispatch_float calls f with a value of the C++ type
// of a float dtype, so a launcher can instantiate a kernel template for the tensor it was given;
// aligned16 says whether a pointer allows the vectorised kernels' 16-byte accesses.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "backend/tensor.h"
#include "common/check.h"

namespace nodellm::kernels {

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

template <typename F>
void dispatch_float(DType dtype, const char* what, F&& f) {
  switch (dtype) {
    case DType::F32: f(float{}); return;
    case DType::BF16: f(__nv_bfloat16{}); return;
    case DType::F16: f(__half{}); return;
    default: fail(what, ": unsupported dtype ", dtype_name(dtype));
  }
}

}  // namespace nodellm::kernels
