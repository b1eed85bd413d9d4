#include "backend/cuda/cuda_backend.h"

#include <algorithm>
#include <cstring>
#include <thread>
#include <vector>

#include "backend/cuda/cuda_check.h"
#include "kernels/launch.h"

namespace nodellm {

bool cuda_available(std::string* reason) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    if (reason) *reason = std::string("CUDA is not usable: ") + cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky error so later calls do not report it
    return false;
  }
  if (count == 0) {
    if (reason) *reason = "no CUDA device found";
    return false;
  }
  return true;
}

CudaBackend::CudaBackend(int device, bool batch_invariant) : device_(device), batch_invariant_(batch_invariant) {
  NODELLM_CUDA(cudaSetDevice(device_));
  NODELLM_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  gemm_ = std::make_unique<Gemm>(stream_, batch_invariant_);
  attention_scratch_.split_contexts = !batch_invariant_;
  NODELLM_CUDA(cudaHostAlloc(reinterpret_cast<void**>(&pinned_), pinned_bytes_, cudaHostAllocDefault));
  NODELLM_CUDA(cudaDeviceGetAttribute(&attention_scratch_.multiprocessors, cudaDevAttrMultiProcessorCount, device_));
  // 64K (row, head, partition) entries: enough to split a few rows' contexts many ways; with many
  // rows the kernel does not split.
  attention_scratch_.capacity = 1 << 16;
  attention_scratch_.value_capacity = attention_scratch_.capacity * 256;
  NODELLM_CUDA(cudaMalloc(&attention_scratch_.max, attention_scratch_.capacity * sizeof(float)));
  NODELLM_CUDA(cudaMalloc(&attention_scratch_.sum, attention_scratch_.capacity * sizeof(float)));
  NODELLM_CUDA(cudaMalloc(&attention_scratch_.value, attention_scratch_.value_capacity * sizeof(float)));
}

CudaBackend::~CudaBackend() {
  cudaStreamSynchronize(stream_);
  for (cudaGraphExec_t g : graphs_) cudaGraphExecDestroy(g);
  gemm_.reset();
  for (void* p : allocations_) cudaFree(p);
  cudaFree(staging_);
  cudaFreeHost(pinned_);
  for (int i = 0; i < 2; ++i) {
    if (load_chunks_[i]) cudaFreeHost(load_chunks_[i]);
    if (load_chunk_free_[i]) cudaEventDestroy(load_chunk_free_[i]);
  }
  cudaFree(penalty_counts_);
  cudaFree(sampling_work_);
  cudaFree(attention_scratch_.max);
  cudaFree(attention_scratch_.sum);
  cudaFree(attention_scratch_.value);
  cudaStreamDestroy(stream_);
}

Tensor CudaBackend::alloc(DType dtype, int64_t rows, int64_t cols) {
  NODELLM_CHECK(rows >= 0 && cols >= 0, "alloc of a negative shape");
  void* p = nullptr;
  const size_t bytes = std::max<size_t>(static_cast<size_t>(rows * cols) * dtype_size(dtype), 16);
  NODELLM_CUDA(cudaMalloc(&p, bytes));
  allocations_.insert(p);
  return Tensor(p, dtype, rows, cols);
}

void CudaBackend::release(const Tensor& t) {
  if (allocations_.erase(t.data)) NODELLM_CUDA(cudaFree(t.data));
}

void* CudaBackend::staging(size_t bytes) {
  if (bytes > staging_bytes_) {
    NODELLM_CUDA(cudaFree(staging_));
    staging_ = nullptr;
    NODELLM_CUDA(cudaMalloc(&staging_, bytes));
    staging_bytes_ = bytes;
  }
  return staging_;
}

void* CudaBackend::pinned(size_t bytes) {
  bytes = (bytes + 255) & ~size_t{255};
  if (pinned_used_ + bytes > pinned_bytes_) synchronize();  // every copy through the buffer is done
  void* p = pinned_ + pinned_used_;
  pinned_used_ += bytes;
  return p;
}

void CudaBackend::upload(const Tensor& dst, const void* src, DType src_dtype) {
  if (dst.rows == 0 || dst.cols == 0) return;
  const size_t src_row = static_cast<size_t>(dst.cols) * dtype_size(src_dtype);
  if (src_dtype == dst.dtype && src_row * dst.rows <= pinned_bytes_ / 8) {
    void* staged = pinned(src_row * dst.rows);
    std::memcpy(staged, src, src_row * dst.rows);
    NODELLM_CUDA(cudaMemcpy2DAsync(dst.data, dst.stride * dtype_size(dst.dtype), staged, src_row, src_row, dst.rows,
                                   cudaMemcpyHostToDevice, stream_));
    return;
  }
  if (src_dtype == dst.dtype && dst.stride == dst.cols) {
    copy_to_device_chunked(dst.data, src, src_row * dst.rows);
    return;
  }
  if (src_dtype == dst.dtype) {
    NODELLM_CUDA(cudaMemcpy2DAsync(dst.data, dst.stride * dtype_size(dst.dtype), src, src_row, src_row, dst.rows,
                                   cudaMemcpyHostToDevice, stream_));
    // Host memory may be pageable or mapped weights that the caller frees or unmaps next.
    NODELLM_CUDA(cudaStreamSynchronize(stream_));
    return;
  }
  void* tmp = staging(src_row * dst.rows);
  copy_to_device_chunked(tmp, src, src_row * dst.rows);
  kernels::convert(dst, tmp, src_dtype, stream_);
  NODELLM_CUDA(cudaStreamSynchronize(stream_));
}

// Weights arrive as memory-mapped (pageable) file ranges. A direct copy from pageable memory goes
// through the driver's small bounce buffers one page fault at a time; instead, host threads copy
// 64 MiB chunks into one of two pinned buffers while the GPU's copy engine drains the other, so
// reading the page cache and the PCIe transfer overlap. Returns once everything has arrived (the
// caller may unmap src).
void CudaBackend::copy_to_device_chunked(void* dst, const void* src, size_t bytes) {
  if (!load_chunks_[0]) {
    for (int i = 0; i < 2; ++i) {
      NODELLM_CUDA(cudaHostAlloc(reinterpret_cast<void**>(&load_chunks_[i]), kLoadChunk, cudaHostAllocDefault));
      NODELLM_CUDA(cudaEventCreateWithFlags(&load_chunk_free_[i], cudaEventDisableTiming));
    }
  }
  const unsigned threads = std::max(1u, std::min(8u, std::thread::hardware_concurrency() / 2));
  const char* from = static_cast<const char*>(src);
  char* to = static_cast<char*>(dst);
  for (size_t at = 0, chunk = 0; at < bytes; at += kLoadChunk, ++chunk) {
    const size_t n = std::min(kLoadChunk, bytes - at);
    const int buffer = static_cast<int>(chunk % 2);
    NODELLM_CUDA(cudaEventSynchronize(load_chunk_free_[buffer]));  // its last copy is done
    // Split the host copy over threads: one thread cannot read the page cache at PCIe speed.
    // Whole pages per thread, at least one (under `threads` bytes the rounding gave 0, and the
    // loop below never advanced: a 1x1 conversion upload hung).
    const size_t part = std::max<size_t>(4096, (n / threads + 4095) & ~size_t{4095});
    std::vector<std::thread> workers;
    for (size_t off = part; off < n; off += part)
      workers.emplace_back([&, off] { std::memcpy(load_chunks_[buffer] + off, from + at + off, std::min(part, n - off)); });
    std::memcpy(load_chunks_[buffer], from + at, std::min(part, n));
    for (std::thread& w : workers) w.join();
    NODELLM_CUDA(cudaMemcpyAsync(to + at, load_chunks_[buffer], n, cudaMemcpyHostToDevice, stream_));
    NODELLM_CUDA(cudaEventRecord(load_chunk_free_[buffer], stream_));
  }
  NODELLM_CUDA(cudaStreamSynchronize(stream_));
}

void CudaBackend::download(void* dst, const Tensor& src) {
  if (src.rows == 0 || src.cols == 0) return;
  const size_t row = static_cast<size_t>(src.cols) * dtype_size(src.dtype);
  NODELLM_CUDA(cudaMemcpy2DAsync(dst, row, src.data, src.stride * dtype_size(src.dtype), row, src.rows,
                                 cudaMemcpyDeviceToHost, stream_));
  synchronize();
}

// A copy to pageable memory would wait for the stream; this one lands in the pinned buffer and is
// moved to dst by synchronize().
void CudaBackend::download_async(void* dst, const Tensor& src) {
  if (src.rows == 0 || src.cols == 0) return;
  const size_t row = static_cast<size_t>(src.cols) * dtype_size(src.dtype), bytes = row * src.rows;
  if (bytes > pinned_bytes_ / 8) {
    download(dst, src);
    return;
  }
  void* staged = pinned(bytes);
  NODELLM_CUDA(cudaMemcpy2DAsync(staged, row, src.data, src.stride * dtype_size(src.dtype), row, src.rows,
                                 cudaMemcpyDeviceToHost, stream_));
  pending_downloads_.push_back({dst, staged, bytes});
}

void CudaBackend::synchronize() {
  NODELLM_CUDA(cudaStreamSynchronize(stream_));
  for (const PendingDownload& d : pending_downloads_) std::memcpy(d.dst, d.staged, d.bytes);
  pending_downloads_.clear();
  pinned_used_ = 0;
}

bool CudaBackend::memory_info(int64_t* free_bytes, int64_t* total_bytes) {
  size_t free = 0, total = 0;
  NODELLM_CUDA(cudaMemGetInfo(&free, &total));
  *free_bytes = static_cast<int64_t>(free);
  *total_bytes = static_cast<int64_t>(total);
  return true;
}

void CudaBackend::fill_random(const Tensor& dst, uint64_t seed, float scale, float offset) {
  kernels::fill_random(dst, seed, scale, offset, stream_);
}

void CudaBackend::begin_graph() {
  NODELLM_CUDA(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
}

int CudaBackend::end_graph() {
  cudaGraph_t graph = nullptr;
  NODELLM_CUDA(cudaStreamEndCapture(stream_, &graph));
  cudaGraphExec_t exec = nullptr;
  const cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  NODELLM_CUDA(err);
  graphs_.push_back(exec);
  return static_cast<int>(graphs_.size()) - 1;
}

void CudaBackend::replay_graph(int graph) {
  NODELLM_CHECK(graph >= 0 && graph < static_cast<int>(graphs_.size()), "unknown graph ", graph);
  NODELLM_CUDA(cudaGraphLaunch(graphs_[graph], stream_));
}

void CudaBackend::embedding(const Tensor& out, const Tensor& table, const Tensor& ids, float scale) {
  kernels::embedding(out, table, ids, scale, stream_);
}

void CudaBackend::rmsnorm(const Tensor& out, const Tensor& x, const Tensor& weight, float eps, float weight_offset) {
  kernels::rmsnorm(out, x, weight, eps, weight_offset, stream_);
}

void CudaBackend::add_rmsnorm(const Tensor& residual, const Tensor& x, const Tensor& out, const Tensor& weight,
                              float eps, float weight_offset) {
  kernels::add_rmsnorm(residual, x, out, weight, eps, weight_offset, stream_);
}

void CudaBackend::head_rmsnorm(const Tensor& x, const Tensor& weight, int head_dim, float eps, float weight_offset) {
  kernels::head_rmsnorm(x, weight, head_dim, eps, weight_offset, stream_);
}

LinearWeight CudaBackend::prepare_linear(const Tensor& weight) {
  return LinearWeight{weight, weight.rows, weight.cols};  // cuBLASLt reads nn.Linear's layout as is
}

void CudaBackend::linear(const Tensor& out, const Tensor& x, const LinearWeight& weight, const Tensor* bias) {
  if (!batch_invariant_ && kernels::gemv_applies(out, x, weight.data)) kernels::gemv(out, x, weight.data, stream_);
  else gemm_->run(out, x, weight.data);
  if (bias) kernels::add_bias(out, *bias, stream_);
}

void CudaBackend::rope(const Tensor& q, const Tensor& k, const Tensor& positions, const Tensor& cos_sin,
                       int head_dim) {
  kernels::rope(q, k, positions, cos_sin, head_dim, stream_);
}

void CudaBackend::kv_write(const Tensor& k, const Tensor& v, const Tensor& k_cache, const Tensor& v_cache,
                           const Tensor& slot_mapping) {
  kernels::kv_write(k, v, k_cache, v_cache, slot_mapping, stream_);
}

void CudaBackend::rope_kv_write(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& positions,
                                const Tensor& cos_sin, int head_dim, const Tensor& k_cache, const Tensor& v_cache,
                                const Tensor& slot_mapping) {
  kernels::rope_kv_write(q, k, v, positions, cos_sin, head_dim, k_cache, v_cache, slot_mapping, stream_);
}

void CudaBackend::linear_rope_kv_write(const Tensor& qkv, const Tensor& x, const LinearWeight& weight,
                                       const Tensor* bias, const Tensor& q, const Tensor& k, const Tensor& v,
                                       const RopeKvWrite& r) {
  // One row: the GEMV rotates and writes the cache itself (kernels/gemv_epilogues.cu), partial
  // rotary included.
  if (!batch_invariant_ && kernels::gemv_rope_kv_write_applies(qkv, x, weight.data, bias, r)) {
    kernels::gemv_rope_kv_write(qkv, x, weight.data, bias, r, stream_);
    return;
  }
  Backend::linear_rope_kv_write(qkv, x, weight, bias, q, k, v, r);
}

void CudaBackend::paged_attention(const Tensor& out, const Tensor& q, const Tensor& k_cache,
                                  const Tensor& v_cache, const AttentionBatch& batch) {
  kernels::paged_attention(out, q, k_cache, v_cache, batch, attention_scratch_, stream_);
}

void CudaBackend::silu_mul(const Tensor& out, const Tensor& gate_up) { kernels::silu_mul(out, gate_up, stream_); }

void CudaBackend::linear_silu_mul(const Tensor& act, const Tensor& x, const LinearWeight& weight, const Tensor* bias,
                                  const Tensor& gate_up) {
  if (!batch_invariant_ && kernels::gemv_silu_mul_applies(act, x, weight.data, bias)) {
    kernels::gemv_silu_mul(act, x, weight.data, bias, stream_);
    return;
  }
  Backend::linear_silu_mul(act, x, weight, bias, gate_up);
}

void CudaBackend::gelu_tanh_mul(const Tensor& out, const Tensor& gate_up) {
  kernels::gelu_tanh_mul(out, gate_up, stream_);
}

void CudaBackend::softcap(const Tensor& x, float cap) { kernels::softcap(x, cap, stream_); }

void CudaBackend::gather_rows(const Tensor& out, const Tensor& x, const Tensor& rows) {
  kernels::gather_rows(out, x, rows, stream_);
}

void CudaBackend::ensure_sampling_scratch(int64_t rows, int64_t vocab) {
  if (rows <= sampling_rows_ && vocab == sampling_vocab_) return;
  NODELLM_CUDA(cudaFree(penalty_counts_));
  NODELLM_CUDA(cudaFree(sampling_work_));
  penalty_counts_ = nullptr;
  sampling_work_ = nullptr;
  rows = std::max(rows, sampling_rows_);
  NODELLM_CUDA(cudaMalloc(&penalty_counts_, rows * vocab * sizeof(int32_t)));
  NODELLM_CUDA(cudaMemsetAsync(penalty_counts_, 0, rows * vocab * sizeof(int32_t), stream_));
  NODELLM_CUDA(cudaMalloc(&sampling_work_, rows * vocab * sizeof(float)));
  sampling_rows_ = rows;
  sampling_vocab_ = vocab;
}

void CudaBackend::sample(const Tensor& logits, const SamplingBatch& batch, const SamplerOutput& out) {
  ensure_sampling_scratch(batch.num_rows, logits.cols);
  kernels::sample(logits, batch, out, penalty_counts_, sampling_work_, stream_);
}

void CudaBackend::logprobs(const Tensor& logits, const Tensor& targets, int k, const Tensor& target_logprobs,
                           const Tensor& top_ids, const Tensor& top_logprobs) {
  kernels::logprobs(logits, targets, k, target_logprobs, top_ids, top_logprobs, stream_);
}

}  // namespace nodellm
