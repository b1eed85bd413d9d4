// Chooses the backend for --device: cpu, cuda, or auto (CUDA when built in and usable).
#include "backend/backend.h"
#include "common/check.h"

#ifdef NODELLM_WITH_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

namespace nodellm {

std::unique_ptr<Backend> make_backend(const std::string& device, int num_threads, std::string* note,
                                      bool batch_invariant) {
  if (device == "cpu") return make_cpu_backend(num_threads);
  if (device != "cuda" && device != "auto") fail("device must be auto, cpu or cuda, got \"", device, "\"");
#ifdef NODELLM_WITH_CUDA
  std::string reason;
  if (cuda_available(&reason)) return std::make_unique<CudaBackend>(0, batch_invariant);
  if (device == "cuda") fail("device cuda was asked for, but ", reason);
  if (note) *note = reason + "; running on the CPU";
#else
  if (device == "cuda") fail("device cuda was asked for, but this build of nodellm has no CUDA backend (nvcc and cuBLAS were not found when it was built)");
  if (note) *note = "this build has no CUDA backend (nvcc and cuBLAS were not found when it was built); running on the CPU";
#endif
  return make_cpu_backend(num_threads);
}

}  // namespace nodellm
