// The checkpoint's tensors, memory-mapped from safetensors files. lib/models/safetensors.ts reads
// the headers (names, dtypes, shapes, byte offsets); this maps the files and hands out views, so
// weights go from the page cache to the backend without an intermediate copy.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend/tensor.h"

namespace nodellm {

struct TensorInfo {
  std::string name;    // the name the model asks for (lib/models/architectures.ts maps it)
  std::string source;  // the checkpoint's own name, for messages, when it differs
  std::string dtype;  // safetensors dtype: F32, F16, BF16, ...
  std::vector<int64_t> shape;
  int file = 0;  // index into the file list
  int64_t offset = 0;  // absolute byte offset of the data in the file
  int64_t nbytes = 0;
};

struct CheckpointView {
  const void* data;
  DType dtype;
  std::vector<int64_t> shape;
};

class MappedFile;

class WeightSource {
 public:
  WeightSource(std::vector<std::string> files, std::vector<TensorInfo> tensors);
  // LOAD_FORMAT=dummy: every tensor exists with the expected shape and no data (the model fills it
  // with seeded random values), so a benchmark needs only config.json.
  explicit WeightSource(DType dummy_dtype);
  ~WeightSource();

  bool has(const std::string& name) const { return dummy_ || index_.count(name) > 0; }
  // The tensor's bytes in place (data is null for dummy weights); throws if it is missing, has
  // another shape, or an unsupported dtype.
  CheckpointView get(const std::string& name, std::vector<int64_t> expected_shape) const;

 private:
  std::vector<std::string> files_;
  std::vector<std::unique_ptr<MappedFile>> mapped_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> index_;
  bool dummy_ = false;
  DType dummy_dtype_ = DType::BF16;
};

}  // namespace nodellm
