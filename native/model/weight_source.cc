#include "model/weight_source.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

namespace nodellm {

class MappedFile {
 public:
  explicit MappedFile(const std::string& path) : path_(path) {
    int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) fail("cannot open weights file ", path, ": ", std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      int err = errno;
      ::close(fd);
      fail("cannot stat weights file ", path, ": ", std::strerror(err));
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      data_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (data_ == MAP_FAILED) {
        int err = errno;
        ::close(fd);
        fail("cannot memory-map weights file ", path, ": ", std::strerror(err));
      }
    }
    ::close(fd);
  }
  ~MappedFile() {
    if (data_ && data_ != MAP_FAILED) ::munmap(data_, size_);
  }
  const char* data() const { return static_cast<const char*>(data_); }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  void* data_ = nullptr;
  size_t size_ = 0;
};

static std::string shape_string(const std::vector<int64_t>& shape) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << "]";
  return out.str();
}

WeightSource::WeightSource(std::vector<std::string> files, std::vector<TensorInfo> tensors)
    : files_(std::move(files)), tensors_(std::move(tensors)) {
  for (const auto& path : files_) mapped_.push_back(std::make_unique<MappedFile>(path));
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const TensorInfo& t = tensors_[i];
    if (t.file < 0 || t.file >= static_cast<int>(mapped_.size()))
      fail("tensor ", t.name, " refers to file #", t.file, " of ", mapped_.size());
    const MappedFile& file = *mapped_[t.file];
    if (t.offset < 0 || t.nbytes < 0 || static_cast<size_t>(t.offset + t.nbytes) > file.size())
      fail("tensor ", t.name, " lies outside ", file.path(), " (offset ", t.offset, ", ", t.nbytes,
           " bytes, file ", file.size(), " bytes)");
    index_[t.name] = i;
  }
}

WeightSource::WeightSource(DType dummy_dtype) : dummy_(true), dummy_dtype_(dummy_dtype) {}

WeightSource::~WeightSource() = default;

CheckpointView WeightSource::get(const std::string& name, std::vector<int64_t> expected) const {
  if (dummy_) return CheckpointView{nullptr, dummy_dtype_, expected};
  auto it = index_.find(name);
  if (it == index_.end()) fail("missing weight ", name, " in the checkpoint");
  const TensorInfo& t = tensors_[it->second];
  const std::string source = t.source.empty() || t.source == name ? "" : " (checkpoint tensor " + t.source + ")";
  if (t.shape != expected)
    fail("weight ", name, source, " has shape ", shape_string(t.shape), ", but config.json implies ",
         shape_string(expected));
  DType dtype;
  if (t.dtype == "F32") dtype = DType::F32;
  else if (t.dtype == "F16") dtype = DType::F16;
  else if (t.dtype == "BF16") dtype = DType::BF16;
  else fail("weight ", name, source, " has dtype ", t.dtype, "; nodellm supports F32, F16 and BF16");
  int64_t numel = 1;
  for (int64_t d : t.shape) numel *= d;
  if (numel * static_cast<int64_t>(dtype_size(dtype)) != t.nbytes)
    fail("weight ", name, source, " has ", t.nbytes, " bytes, expected ", numel * dtype_size(dtype));
  return CheckpointView{mapped_[t.file]->data() + t.offset, dtype, t.shape};
}

}  // namespace nodellm
