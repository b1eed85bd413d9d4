// Every CUDA runtime and cuBLAS call is checked; a failure throws nodellm::Error naming the call.
#pragma once
#include <cublasLt.h>
#include <cuda_runtime.h>

#include "common/check.h"

#define NODELLM_CUDA(call)                                                              \
  do {                                                                                  \
    cudaError_t nodellm_err_ = (call);                                                  \
    if (nodellm_err_ != cudaSuccess)                                                    \
      ::nodellm::fail("CUDA call ", #call, " failed: ", cudaGetErrorString(nodellm_err_)); \
  } while (0)

#define NODELLM_CUBLAS(call)                                                             \
  do {                                                                                   \
    cublasStatus_t nodellm_status_ = (call);                                             \
    if (nodellm_status_ != CUBLAS_STATUS_SUCCESS)                                        \
      ::nodellm::fail("cuBLAS call ", #call, " failed: ", cublasLtGetStatusString(nodellm_status_)); \
  } while (0)
